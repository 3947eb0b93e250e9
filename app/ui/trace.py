"""The EMG trace: a Mesh updated in place from min/max decimation, negative up by default,
with a grid of divisions as on every EMG machine."""

from __future__ import annotations

import numpy as np
from kivy.graphics import Color, Line, Mesh
from kivy.properties import BooleanProperty, NumericProperty
from kivy.uix.widget import Widget

from dsp.decimate import minmax_columns

H_DIVS, V_DIVS = 10, 8


class Trace(Widget):
    uv_per_div = NumericProperty(50.0)
    ms_per_div = NumericProperty(10.0)
    negative_up = BooleanProperty(True)

    def __init__(self, **kw):
        super().__init__(**kw)
        with self.canvas:
            Color(0.47, 0.9, 0.55)
            self._mesh = Mesh(mode="line_strip", vertices=[], indices=[])
        self.bind(pos=self._draw_grid, size=self._draw_grid)

    @property
    def window_s(self) -> float:
        return self.ms_per_div * H_DIVS / 1000.0

    def _draw_grid(self, *_):
        x0, y0, w, h = *self.pos, *self.size
        self.canvas.before.clear()
        with self.canvas.before:
            Color(0.16, 0.2, 0.25)
            for i in range(H_DIVS + 1):
                x = x0 + w * i / H_DIVS
                Line(points=[x, y0, x, y0 + h])
            for j in range(V_DIVS + 1):
                y = y0 + h * j / V_DIVS
                Line(points=[x0, y, x0 + w, y])
            Color(0.28, 0.35, 0.42)
            Line(points=[x0, y0 + h / 2, x0 + w, y0 + h / 2], width=1.2)

    def show(self, samples: np.ndarray) -> None:
        """Draw 1-D microvolt samples across the full width (two vertices per column)."""
        columns = max(int(self.width), 2)
        if samples.size == 0:
            self._mesh.vertices, self._mesh.indices = [], []
            return
        lo, hi = minmax_columns(samples, columns)
        sign = -1.0 if self.negative_up else 1.0
        scale = sign * self.height / (V_DIVS * self.uv_per_div)
        mid = self.y + self.height / 2
        ys = np.empty(2 * columns, np.float32)
        ys[0::2] = mid + np.clip(lo * scale, -self.height / 2, self.height / 2)
        ys[1::2] = mid + np.clip(hi * scale, -self.height / 2, self.height / 2)
        xs = np.repeat(self.x + np.arange(columns, dtype=np.float32), 2)
        verts = np.zeros((2 * columns, 4), np.float32)
        verts[:, 0], verts[:, 1] = xs, ys
        if len(self._mesh.indices) != 2 * columns:
            self._mesh.indices = list(range(2 * columns))
        self._mesh.vertices = verts.ravel()
