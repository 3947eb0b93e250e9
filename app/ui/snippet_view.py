"""A stored snippet drawn: min/max per pixel column (dsp.decimate) into one Mesh, the
injection moment marked, and a cursor that sweeps while it plays."""

from __future__ import annotations

import numpy as np
from kivy.graphics import Color, Line, Mesh, Rectangle
from kivy.properties import NumericProperty, ObjectProperty, StringProperty
from kivy.uix.widget import Widget

from dsp.decimate import minmax_columns


class SnippetView(Widget):
    samples_uv = ObjectProperty(None, allownone=True)  # 1-D float uV
    injection_index = NumericProperty(0)
    cursor = NumericProperty(-1.0)  # 0..1 while playing, -1 hidden
    scale_text = StringProperty("")

    def __init__(self, **kw):
        super().__init__(**kw)
        self.bind(pos=self.redraw, size=self.redraw, samples_uv=self.redraw,
                  cursor=self.redraw)

    def redraw(self, *_):
        # canvas.before: a child (the history's "EMG on the clinic server") draws over it
        self.canvas.before.clear()
        with self.canvas.before:
            Color(0.1, 0.12, 0.15, 1)
            Rectangle(pos=self.pos, size=self.size)
        x = self.samples_uv
        cols = max(int(self.width), 2)
        if x is None or len(x) < 2 or self.height < 4:
            return
        lo, hi = minmax_columns(np.asarray(x, np.float32), cols)
        peak = float(max(np.max(np.abs(lo)), np.max(np.abs(hi)), 1e-6))
        half = self.height / 2 * 0.9
        mid = self.center_y
        xs = self.x + np.arange(cols, dtype=np.float32)
        # Negative up, as on EMG machines (and the live trace).
        v = np.empty((cols * 2, 4), np.float32)
        v[0::2, 0] = xs
        v[1::2, 0] = xs
        v[0::2, 1] = mid - lo / peak * half
        v[1::2, 1] = mid - hi / peak * half
        v[:, 2:] = 0
        n = cols * 2
        self.scale_text = f"{peak:.0f} uV peak"
        with self.canvas.before:
            Color(0.55, 0.9, 0.75, 1)
            Mesh(vertices=v.ravel(), indices=list(range(n)), mode="line_strip")
            at = self.x + self.injection_index / len(x) * self.width
            Color(1, 0.72, 0.35, 1)
            Line(points=[at, self.y, at, self.top], width=1.5)
            if self.cursor >= 0:
                cx = self.x + self.cursor * self.width
                Color(1, 1, 1, 0.9)
                Line(points=[cx, self.y, cx, self.top], width=1.2)
