"""Per-muscle charts over time, drawn with Kivy's canvas (no plotting library), as strips
on a shared time axis (visits placed by date): one strip per product with its doses as
bars on its own scale (two products never share one), RMS (uV) and end-plate noise (/s) at
injection as lines (a ring where tonic activity was found), Modified Ashworth on its six
grades (ring at the visit, square at follow-up, each labelled "1+" as written), pain 0-10
(ring before, dot after, square at follow-up). Each strip's label, unit and top number sit
on its left; the strips themselves come from app.workflow.history.chart_strips."""

from __future__ import annotations

from kivy.core.text import Label as CoreLabel
from kivy.graphics import Color, Ellipse, Line, Rectangle
from kivy.metrics import dp
from kivy.properties import ListProperty, NumericProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.widget import Widget

BARS = [(0.3, 0.75, 0.55, 1), (0.75, 0.55, 0.95, 1), (0.95, 0.8, 0.35, 1)]
LINES = {"RMS": (0.55, 0.75, 1, 1), "End-plate noise": (1, 0.72, 0.35, 1),
         "Ashworth": (0.8, 0.85, 0.5, 1)}
PAIN = (1, 0.5, 0.5, 1)
GRID = (0.2, 0.24, 0.3, 1)
STRIP_DP = 58


def strip_colour(strip: dict):
    """A product keeps its colour on every chart (by its name); lines by their measure."""
    if strip["kind"] == "bars":
        return BARS[sum(map(ord, strip["label"])) % len(BARS)]
    return LINES.get(strip["label"], PAIN)


class MuscleChart(Widget):
    strips = ListProperty([])  # app.workflow.history.chart_strips(...)
    xs = ListProperty([])  # each visit's place on the time axis, 0..1

    def __init__(self, **kw):
        super().__init__(**kw)
        self.bind(pos=self.redraw, size=self.redraw, strips=self.redraw, xs=self.redraw)

    def redraw(self, *_):
        self.canvas.clear()
        with self.canvas:
            Color(0.1, 0.12, 0.15, 1)
            Rectangle(pos=self.pos, size=self.size)
        if not self.strips or not self.xs or self.width < 40:
            return
        band = self.height / len(self.strips)
        pad = dp(18)
        xs = [self.x + pad + x * (self.width - 2 * pad) for x in self.xs]
        with self.canvas:
            for k, strip in enumerate(self.strips):
                floor = self.top - (k + 1) * band + dp(4)
                scale = (band - dp(10)) / strip["top"]
                Color(*GRID)
                Line(points=[self.x, floor, self.right, floor])
                if strip["kind"] == "grade":  # a faint line per grade
                    for tick in range(1, strip["top"] + 1):
                        Line(points=[self.x, floor + tick * scale, self.right,
                                     floor + tick * scale], dash_length=2, dash_offset=6)
                if strip["kind"] == "pain":  # ticks at 5 and 10
                    for tick in (5, 10):
                        Line(points=[self.x, floor + tick * scale, self.right,
                                     floor + tick * scale], dash_length=4, dash_offset=4)
                Color(*strip_colour(strip))
                if strip["kind"] == "bars":
                    w = dp(14)
                    for x, v in zip(xs, strip["values"], strict=True):
                        if v:
                            Rectangle(pos=(x - w / 2, floor), size=(w, v * scale))
                elif strip["kind"] == "grade":
                    self._grades(strip, xs, floor, scale)
                elif strip["kind"] == "line":
                    pts = [(x, floor + v * scale) for x, v in zip(xs, strip["values"],
                                                                   strict=True)
                           if v is not None]
                    if len(pts) > 1:
                        Line(points=[c for xy in pts for c in xy], width=1.5)
                    for cx, cy in pts:
                        Ellipse(pos=(cx - 4, cy - 4), size=(8, 8))
                    for x, ring in zip(xs, strip.get("rings") or [], strict=False):
                        if ring:
                            Line(circle=(x, floor + dp(6), dp(6)), width=1.5)
                else:
                    for x, (before, after, follow) in zip(xs, strip["values"], strict=True):
                        if before is not None:
                            Line(circle=(x - dp(8), floor + before * scale, dp(5)), width=1.3)
                        if after is not None:
                            Ellipse(pos=(x - dp(5), floor + after * scale - dp(5)),
                                    size=(dp(10), dp(10)))
                        if follow is not None:
                            Rectangle(pos=(x + dp(4), floor + follow * scale - dp(4)),
                                      size=(dp(8), dp(8)))


    def _grades(self, strip: dict, xs: list[float], floor: float, scale: float) -> None:
        """Modified Ashworth: a grade's place on the six-grade scale, ring at the visit,
        square at follow-up, each labelled with its grade as written ("1+")."""
        grades = strip["grades"]
        for x, (visit, follow) in zip(xs, strip["values"], strict=True):
            for grade, dx, ring in ((visit, -dp(8), True), (follow, dp(8), False)):
                if grade not in grades:  # not recorded, or a number from before grades
                    continue
                y = floor + grades.index(grade) * scale
                if ring:
                    Line(circle=(x + dx, y, dp(5)), width=1.3)
                else:
                    Rectangle(pos=(x + dx - dp(4), y - dp(4)), size=(dp(8), dp(8)))
                label = CoreLabel(text=grade, font_size=dp(11))
                label.refresh()
                Rectangle(texture=label.texture, size=label.texture.size,
                          pos=(x + dx - label.texture.width / 2, y + dp(6)))


class ChartCard(BoxLayout):
    """A muscle's title, its strips each with its axis on the left, and the visits' dates
    (four-digit years) placed under the time axis (layout in history.kv)."""

    title = StringProperty("")
    note = StringProperty("")  # where the EMG was not the patient's, calibrated
    change = StringProperty("")  # since the visit before (app.workflow.history.change_line)
    strips = ListProperty([])
    strips_height = NumericProperty(0)
    xs = ListProperty([])
    dates = ListProperty([])

    def on_kv_post(self, _base):
        self.on_strips()

    def on_strips(self, *_):
        from kivy.factory import Factory

        if "axes" not in self.ids:  # given to __init__ before the kv rule
            return
        self.strips_height = dp(STRIP_DP) * len(self.strips)
        axes = self.ids.axes
        axes.clear_widgets()
        for strip in self.strips:
            colour = strip_colour(strip)
            axes.add_widget(Factory.ChartAxis(
                text=f"{strip['label']}\n0-{strip['top']:g} {strip['unit']}"
                if strip["kind"] not in ("pain", "grade")
                else f"{strip['label']}\n{strip['unit']}", color=colour))
        box = self.ids.dates
        box.clear_widgets()
        for x, d in zip(self.xs, self.dates, strict=True):
            # kept inside the card at the ends of the time axis
            place = {"x": 0} if x < 0.08 else {"right": 1} if x > 0.92 else {"center_x": x}
            box.add_widget(Factory.ChartDate(text=d, pos_hint={**place, "y": 0}))
