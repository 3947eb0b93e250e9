"""Per-muscle charts over time, drawn with Kivy's canvas (no plotting library): units given
(bars, per product), the EMG activity at injection (RMS and end-plate noise lines, tonic
activity as a filled dot) and the pain scores (before, after, follow-up)."""

from __future__ import annotations

from kivy.graphics import Color, Ellipse, Line, Rectangle
from kivy.properties import ListProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.widget import Widget

UNITS = (0.3, 0.75, 0.55, 1)
RMS = (0.55, 0.75, 1, 1)
EPN = (1, 0.72, 0.35, 1)
PAIN = (1, 0.5, 0.5, 1)
GRID = (0.2, 0.24, 0.3, 1)


class MuscleChart(Widget):
    points = ListProperty([])  # app.workflow.history.muscle_series(...)[key]["points"]

    def __init__(self, **kw):
        super().__init__(**kw)
        self.bind(pos=self.redraw, size=self.redraw, points=self.redraw)

    def redraw(self, *_):
        self.canvas.clear()
        pts = self.points
        with self.canvas:
            Color(0.1, 0.12, 0.15, 1)
            Rectangle(pos=self.pos, size=self.size)
        if not pts or self.width < 20:
            return
        n = len(pts)
        band = self.height / 3
        step = self.width / n
        umax = max((p["units"] or 0) for p in pts) or 1.0
        rmax = max((p["rms_uv"] or 0) for p in pts) or 1.0
        emax = max((p["epn_per_s"] or 0) for p in pts) or 1.0
        with self.canvas:
            Color(*GRID)
            for k in (1, 2):
                Line(points=[self.x, self.y + k * band, self.right, self.y + k * band])
            top = self.y + 2 * band  # units band, top third
            Color(*UNITS)
            for i, p in enumerate(pts):
                h = (p["units"] or 0) / umax * band * 0.85
                Rectangle(pos=(self.x + i * step + step * 0.2, top), size=(step * 0.6, h))
            mid = self.y + band  # EMG band, middle third
            for key, mx, colour in (("rms_uv", rmax, RMS), ("epn_per_s", emax, EPN)):
                line = [(self.x + (i + 0.5) * step, mid + (p[key] or 0) / mx * band * 0.85)
                        for i, p in enumerate(pts) if p[key] is not None]
                Color(*colour)
                if len(line) > 1:
                    Line(points=[c for xy in line for c in xy], width=1.5)
                for cx, cy in line:
                    Ellipse(pos=(cx - 4, cy - 4), size=(8, 8))
            for i, p in enumerate(pts):  # tonic activity: a ring on the EMG band's floor
                if p["tonic"]:
                    Color(*RMS)
                    Line(circle=(self.x + (i + 0.5) * step, mid + 8, 6), width=1.5)
            Color(*PAIN)  # pain band, bottom third: before (hollow), after and follow-up
            for i, p in enumerate(pts):
                cx = self.x + (i + 0.5) * step
                for key, dx in (("pain_before", -10), ("pain_after", 0), ("pain_followup", 10)):
                    if p[key] is None:
                        continue
                    cy = self.y + p[key] / 10 * band * 0.85 + 4
                    if key == "pain_before":
                        Line(circle=(cx + dx, cy, 5), width=1.3)
                    else:
                        Ellipse(pos=(cx + dx - 5, cy - 5), size=(10, 10))


class ChartCard(BoxLayout):
    """A muscle's title, its chart and, under each column, its date and units (layout in
    history.kv)."""

    title = StringProperty("")
    points = ListProperty([])

    def on_kv_post(self, _base):
        self.on_points()

    def on_points(self, *_):
        from kivy.factory import Factory

        if "dates" not in self.ids:  # points given to __init__ come before the kv rule
            return
        box = self.ids.dates
        box.clear_widgets()
        for p in self.points:
            unit = "U" if p.get("product") else ""
            box.add_widget(Factory.ChartDate(text=f"{p['date'][2:]}\n{p['units']:g} {unit}"))
