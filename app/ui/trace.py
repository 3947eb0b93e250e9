"""The live EMG trace: Meshes updated in place from the streaming min/max decimation, on a
grid of 10 x 8 divisions with a calibration bar, negative up by default (EMG convention).

Display modes (`mode`):

- "sweep": free-running sweep, written left to right and wrapping, with a small erase gap
  ahead of the write point, as on EMG machines (not a scrolling strip chart);
- "cascade": consecutive sweeps stacked as `cascade_rows` rows, the newest (still being
  written) at the bottom; when it is full every row moves up one and the oldest leaves;
- "triggered": a sweep starts `delay_ms` before each crossing of `trigger_uv` on channel 0
  (rising for a positive threshold, falling for a negative one), hold-off of one sweep;
  the last `superimpose` sweeps are drawn over each other, older ones dimmer. The
  threshold is a dashed line: drag it up or down with one finger.

Units: vertices and `uv_per_div` are always microvolts. An uncalibrated amplifier is shown
in its own counts (`unit` "counts", `uv_per_unit` its guessed microvolts per count): the
calibration bar, the threshold, the cursors and the sensitivity ladder then read in counts,
as the true microvolts are unknown. `source_label` ("SIMULATED - not a patient", "REPLAY:
file") is drawn on every view, frozen too; an amplifier has none. Gaps in the stream
(`mark_gap`: samples the device lost, a pulled cable) are drawn where they fell, with how
long they were: the ring itself joins the samples either side.

`frozen` stops the trace: the picture holds. Dragging one finger sideways then scrolls back
through the ring (`back_s`, up to its 60 s) in a review strip (oldest left, newest right);
taps place cursor 1 and cursor 2 (a third starts again), each snapped to the trace's
low or high in the tapped column; `cursor_text` gives the difference; a double tap clears.
Two fingers pinch: mostly vertical -> sensitivity, mostly horizontal -> sweep speed
(fingers apart = zoom in). One finger does nothing else while the trace runs, so a hand
resting on the screen changes nothing.

Software GL (Mesa llvmpipe) spends far more CPU rasterising the trace than update() spends
preparing it (docs/ui-trace.md): `max_fps` caps how often the trace changes, and so how
often Kivy redraws it, when the sound needs the CPU more.

Thread model: `update(ring, fs)` runs on the main thread (the screen's Clock event), takes
only the samples written since the last call (from `ring.written`, never from the clock's
period), decimates only them and assigns preallocated numpy vertex arrays to the Meshes.
Vertices hold microvolts; a Scale instruction per row maps them to pixels, so a change of
sensitivity or polarity re-draws without recomputing a vertex. The geometry without Kivy
is in app/ui/sweep.py.
"""

from __future__ import annotations

import time

import numpy as np
from kivy.core.text import Label as CoreLabel
from kivy.graphics import (
    Color,
    InstructionGroup,
    Line,
    Mesh,
    PopMatrix,
    PushMatrix,
    Rectangle,
    Scale,
    Translate,
)
from kivy.graphics.scissor_instructions import ScissorPop, ScissorPush
from kivy.metrics import Metrics, dp, sp
from kivy.properties import (
    BooleanProperty,
    NumericProperty,
    OptionProperty,
    StringProperty,
)
from kivy.uix.widget import Widget

from app.ui.sweep import (
    COUNT_SENSITIVITIES,
    H_DIVS,
    SENSITIVITIES,
    SWEEPS,
    V_DIVS,
    ColumnStore,
    Cursor,
    LineIndices,
    Pacer,
    Pinch,
    TriggerSweeps,
    cascade_gaps,
    cascade_rows,
    clamp_back,
    column_x,
    cursor_text,
    gap_columns,
    pull,
    review_columns,
    snap,
    step_value,
    sweep_gaps,
    sweep_runs,
    window_gaps,
)

__all__ = ["Trace", "SENSITIVITIES", "SWEEPS", "H_DIVS", "V_DIVS"]

BACKGROUND = (0.05, 0.06, 0.08, 1)
GREEN = (0.47, 0.9, 0.55, 1)
GRID = (0.15, 0.19, 0.24, 1)
ZERO = (0.26, 0.33, 0.4, 1)
CAL = (0.85, 0.88, 0.9, 1)
LINE_DOUBLE_FROM = 1.5  # pixels per dp from which the trace is drawn two pixels wide
AMBER = (1.0, 0.75, 0.3, 1)
RED = (1.0, 0.42, 0.38, 1)
CURSOR = (1.0, 0.9, 0.35, 1)
INFO = (0.62, 0.7, 0.76, 1)
SOURCE = (1.0, 0.55, 0.95, 1)  # a simulator's or a replay's label: unlike any signal colour
GAPS_KEPT = 64


def _texture(text: str, size: float, color, bold: bool = False):
    lab = CoreLabel(text=text, font_size=size, color=color, bold=bold)
    lab.refresh()
    return lab.texture


class _Both:
    """Two instructions set as one: a trace mesh's and its twin's, drawn one pixel up and
    right (GL draws line meshes one pixel wide). What is set on it goes to both; a
    Translate's x and y reach the twin shifted by `offset`. (The same instruction added
    twice to a canvas stops the canvas drawing: measured, the screen went blank.)"""

    def __init__(self, first, second, offset=(0.0, 0.0)):
        object.__setattr__(self, "_pair", (first, second))
        object.__setattr__(self, "_offset", {"x": offset[0], "y": offset[1]})

    def __getattr__(self, name):
        return getattr(self._pair[0], name)

    def __setattr__(self, name, value) -> None:
        first, second = self._pair
        setattr(first, name, value)
        setattr(second, name, value + self._offset.get(name, 0.0))


class _Layer:
    """Meshes sharing a purpose (one per band, or per row or sweep and band), each with its
    own Translate (pixels) and Scale (pixels per microvolt) and Color. GL draws a line
    mesh one pixel wide whatever is asked; `line_px` 2 draws each mesh again one pixel up
    and right (the same instructions, so nothing more to update), a trace as wide at 1.65
    pixels per dp as one pixel is at 1."""

    def __init__(self, line_px: int = 1):
        self.line_px = line_px
        self.meshes: list[Mesh] = []
        self.verts: list[np.ndarray] = []
        self.colors: list[Color] = []
        self.moves: list[Translate] = []
        self.scales: list[Scale] = []
        self.alpha: list[float] = []
        self.band: list[int] = []

    def add(self, canvas, width: int, x0: float, y: float, band: int, color, alpha=1.0):
        v = np.zeros((2 * width, 4), np.float32)
        v[:, 0] = column_x(width)
        canvas.add(PushMatrix())
        t = Translate(x0, y)
        s = Scale(1, 1, 1)
        c = Color(*color[:3], alpha)
        m = Mesh(mode="lines", vertices=v.ravel(), indices=np.zeros(0, np.uint16))
        for i in (t, s, c, m):
            canvas.add(i)
        canvas.add(PopMatrix())
        if self.line_px > 1:
            t2, s2 = Translate(x0 + 1, y + 1), Scale(1, 1, 1)
            c2 = Color(*color[:3], alpha)
            m2 = Mesh(mode="lines", vertices=v.ravel(), indices=np.zeros(0, np.uint16))
            canvas.add(PushMatrix())
            for i in (t2, s2, c2, m2):
                canvas.add(i)
            canvas.add(PopMatrix())
            t, s, c, m = (_Both(t, t2, (1.0, 1.0)), _Both(s, s2), _Both(c, c2),
                          _Both(m, m2))
        self.meshes.append(m)
        self.verts.append(v)
        self.colors.append(c)
        self.moves.append(t)
        self.scales.append(s)
        self.alpha.append(alpha)
        self.band.append(band)
        return len(self.meshes) - 1

    def show(self, on: bool) -> None:
        for c, a in zip(self.colors, self.alpha, strict=True):
            c.a = a if on else 0.0


class Trace(Widget):
    uv_per_div = NumericProperty(50.0)
    ms_per_div = NumericProperty(10.0)
    negative_up = BooleanProperty(True)
    mode = OptionProperty("sweep", options=["sweep", "cascade", "triggered"])
    trigger_uv = NumericProperty(100.0)
    delay_ms = NumericProperty(2.0)
    superimpose = NumericProperty(5)
    cascade_rows = NumericProperty(6)
    frozen = BooleanProperty(False)
    back_s = NumericProperty(0.0)
    cursor_text = StringProperty("")
    banner = StringProperty("")
    channels = NumericProperty(1)
    max_fps = NumericProperty(0)  # 0: draw at every update(); else at most this often
    source_label = StringProperty("")  # what the signal is when not a patient's
    scale_text = StringProperty("")  # the calibration bar's height, in the trace's unit
    mode_text = StringProperty("")  # the mode line, top left
    notice = StringProperty("")  # a passing note, top centre (the screen clears it)
    unit = StringProperty("uV")  # or "counts": an uncalibrated amplifier's own
    uv_per_unit = NumericProperty(1.0)

    @property
    def line_px(self) -> int:
        """The trace's width in pixels: 2 from 1.5 pixels per dp, where 1 would be thin."""
        return 2 if Metrics.density >= LINE_DOUBLE_FROM else 1

    def __init__(self, **kw):
        self._built_key = None
        self._ring = None
        self._fs: float | None = None
        self._ring_channels = 1
        self._next: int | None = None  # absolute index of the next sample to pull
        self._engine = None
        self._touches: dict = {}
        self._pinch = Pinch()
        self._cursors: list[Cursor] = []
        self._snapshot: tuple[np.ndarray, int] | None = None
        self._review: tuple[np.ndarray, np.ndarray, int] | None = None
        self._last_sweep = None
        self._sweeps_seen = 0
        self._idx_buf = np.zeros(0, np.uint16)
        self.drawn_to = 0  # absolute index one past the newest sample now in a vertex
        self.drew = 0  # samples that reached vertices in the last update
        self._pacer = Pacer()
        self._gaps: list[tuple[int, float]] = []  # (ring index, seconds lost)
        self._gaps_drawn = False
        self._gap_textures: dict[str, object] = {}
        super().__init__(**kw)
        self.bind(pos=self._relayout, size=self._relayout, channels=self._relayout,
                  mode=self._relayout, cascade_rows=self._relayout,
                  superimpose=self._relayout)
        self.bind(uv_per_div=self._rescale, negative_up=self._rescale)
        self.bind(ms_per_div=self._restart, delay_ms=self._restart,
                  trigger_uv=self._trigger_moved)
        self.bind(frozen=self._on_frozen, back_s=self._on_back, banner=self._draw_overlay,
                  source_label=self._draw_overlay, notice=self._draw_overlay)
        self.bind(unit=self._unit_changed, uv_per_unit=self._unit_changed)

    # public ---------------------------------------------------------------------------------
    @property
    def window_s(self) -> float:
        return self.ms_per_div * H_DIVS / 1000.0

    @property
    def sensitivities(self) -> list:
        """The sensitivity ladder in the trace's unit."""
        return COUNT_SENSITIVITIES if self.unit == "counts" else SENSITIVITIES

    @property
    def per_div(self) -> float:
        """The sensitivity in the trace's unit (uV or counts per division)."""
        return self.uv_per_div / self.uv_per_unit

    def step_sensitivity(self, step: int) -> None:
        """+1: less sensitive (more uV, or counts, per division)."""
        self.uv_per_div = step_value(self.sensitivities, self.per_div, step) * self.uv_per_unit

    def set_sensitivity_uv(self, uv_per_div: float) -> None:
        """The ladder's step nearest `uv_per_div` (a preset's), in the trace's unit."""
        self.uv_per_div = (step_value(self.sensitivities, uv_per_div / self.uv_per_unit, 0)
                           * self.uv_per_unit)

    def set_unit(self, unit: str, uv_per_unit: float) -> None:
        """Microvolts ("uV", 1), or an uncalibrated amplifier's counts ("counts", its
        guessed microvolts per count); the sensitivity and threshold move to the new
        unit's nearest round values."""
        self.unit, self.uv_per_unit = unit, float(uv_per_unit)
        self.set_sensitivity_uv(self.uv_per_div)
        self.trigger_uv = float(max(round(self.trigger_uv / self.uv_per_unit), 1)
                                * self.uv_per_unit)

    def mark_gap(self, index: int, seconds: float) -> None:
        """Samples were lost before ring index `index` (`seconds` of them): drawn there."""
        self._gaps = (self._gaps + [(int(index), float(seconds))])[-GAPS_KEPT:]
        self._draw_gaps()

    def _unit_changed(self, *_):
        self.cursor_text = cursor_text(self._cursors, self.unit, self.uv_per_unit)
        self._draw_overlay()

    def step_sweep(self, step: int) -> None:
        """+1: slower sweep (more ms per division)."""
        self.ms_per_div = step_value(SWEEPS, self.ms_per_div, step)

    def vertex_counts(self) -> list[int]:
        """Vertices of every Mesh drawn now (each at most 2 x the width in columns)."""
        out = []
        for layer in self._layers():
            for m, v in zip(layer.meshes, layer.verts, strict=True):
                if len(m.indices):
                    out.append(len(v))
        return out

    def clear_cursors(self) -> None:
        self._cursors = []
        self.cursor_text = ""
        self._draw_cursors()

    def update(self, ring, fs: float) -> None:
        """Pull what the ring got since the last call and draw it (main thread only)."""
        self.drew = 0
        if ring is not self._ring or (self._next is not None and ring.written < self._next):
            self._next = None  # another ring (a new session): start afresh from it
            self._snapshot = None
            self._gaps = []
        elif self._gaps and self._gaps[0][0] < ring.written - ring.capacity:
            self._gaps = [g for g in self._gaps if g[0] >= ring.written - ring.capacity]
        self._ring = ring
        channels = ring.buf.shape[1]
        if fs != self._fs or channels != self._ring_channels:
            self._fs, self._ring_channels = float(fs), channels
            self._relayout()
        self._build()
        if self.frozen:
            if self._snapshot is None:
                self._take_snapshot()
            return
        if not self._pacer.due(time.perf_counter(), self.max_fps) and self._next is not None:
            return  # the samples wait in the ring for the frame that draws them
        if self._next is None:
            self._next = max(ring.written - self._backfill(), ring.written - ring.capacity, 0)
            self._engine = None
        data, first = pull(ring, self._next)
        if self._engine is not None and first != self._next:  # fell behind the ring
            self._engine = None
        if self._engine is None:
            self._start_engine(first)
        self._next = first + len(data)
        if len(data):
            self._feed(data, first)

    def show(self, samples: np.ndarray) -> None:
        """Old interface: draw 1-D microvolt samples across the width as a strip."""
        self._build()
        samples = np.asarray(samples, np.float32).reshape(-1, 1)
        if len(samples) == 0:
            self._strip(None)
            return
        from dsp.decimate import MinMaxDecimator

        lo, hi = MinMaxDecimator(len(samples) / self._width, 1).push(samples)
        self._strip((lo, hi))

    # layout ---------------------------------------------------------------------------------
    @property
    def _width(self) -> int:
        return max(int(self.width), 2)

    def _bands(self) -> int:
        return max(1, min(int(self.channels), self._ring_channels))

    def _band_mid(self, b: int) -> float:
        """Widget-local y of band b's zero line (band 0 at the top)."""
        n = self._bands()
        return self.height * (1 - (b + 0.5) / n)

    def _px_per_uv(self) -> float:
        return (self.height / V_DIVS) / self.uv_per_div * (-1.0 if self.negative_up else 1.0)

    def _rows(self) -> int:
        return max(1, int(self.cascade_rows)) if self.mode == "cascade" else 1

    def _row_mid(self, b: int, k: int) -> float:
        """Widget-local y of row k's zero line in band b (rows only in cascade)."""
        n, r = self._bands(), self._rows()
        band_h = self.height / n
        return self.height - b * band_h - band_h * (k + 0.5) / r

    def _relayout(self, *_):
        self._built_key = None
        self._next = None  # a new layout starts afresh from the recent past
        self._engine = None
        self._cursors = []
        self.cursor_text = ""

    def _layers(self):
        return [x for x in (getattr(self, "_live", None), getattr(self, "_strip_layer", None))
                if x is not None]

    def _build(self):
        key = (self._width, int(self.height), self.x, self.y, self._bands(), self.mode,
               self._rows(), int(self.superimpose))
        if key == self._built_key:
            return
        self._built_key = key
        w, n = self._width, self._bands()
        self._index = LineIndices(w)
        self._idx_buf = np.zeros(4 * w, np.uint16)
        self._full = self._index.runs([(0, w)])
        self._draw_grid()
        self.canvas.clear()
        with self.canvas:
            ScissorPush(x=int(self.x), y=int(self.y), width=int(w), height=int(self.height))
        live = _Layer(self.line_px)
        if self.mode == "sweep":
            for b in range(n):
                live.add(self.canvas, w, self.x, self.y + self._band_mid(b), b, GREEN)
        elif self.mode == "cascade":
            for b in range(n):
                for _ in range(self._rows()):
                    live.add(self.canvas, w, self.x, self.y, b, GREEN)
        else:
            k = max(1, int(self.superimpose))
            for _ in range(k):
                for b in range(n):
                    live.add(self.canvas, w, self.x, self.y + self._band_mid(b), b, GREEN)
        self._live = live
        strip = _Layer(self.line_px)
        for b in range(n):
            strip.add(self.canvas, w, self.x, self.y + self._band_mid(b), b, GREEN)
        strip.show(False)
        self._strip_layer = strip
        self._thr_group = InstructionGroup()
        self.canvas.add(self._thr_group)
        self._gap_group = InstructionGroup()
        self.canvas.add(self._gap_group)
        self._cursor_group = InstructionGroup()
        self.canvas.add(self._cursor_group)
        self.canvas.add(ScissorPop())
        self._rescale()
        self._draw_overlay()

    def _draw_grid(self):
        x0, y0, w, h = self.x, self.y, self._width, self.height
        self.canvas.before.clear()
        with self.canvas.before:
            Color(*BACKGROUND)
            Rectangle(pos=self.pos, size=self.size)
            Color(*GRID)
            for i in range(H_DIVS + 1):
                x = x0 + min(w * i / H_DIVS, w - 0.5)
                Line(points=[x, y0, x, y0 + h])
            for j in range(V_DIVS + 1):
                y = y0 + min(h * j / V_DIVS, h - 0.5)
                Line(points=[x0, y, x0 + w, y])
            Color(*ZERO)
            for b in range(self._bands()):
                for k in range(self._rows()):
                    y = y0 + self._row_mid(b, k)
                    Line(points=[x0, y, x0 + w, y], width=1.1 if self._rows() == 1 else 1.0)

    def _rescale(self, *_):
        s = self._px_per_uv()
        for layer in self._layers():
            for sc in layer.scales:
                sc.y = s
        self._draw_threshold()
        self._draw_cursors()
        self._draw_overlay()

    # the live engines ---------------------------------------------------------------------
    def _spc(self) -> float:
        return self._fs * self.window_s / self._width

    def _backfill(self) -> int:
        sweep = int(self._fs * self.window_s)
        if self.mode == "cascade":
            return (self._rows() - 1) * sweep + sweep // 2
        if self.mode == "triggered":
            return 2 * sweep
        return sweep - int(gap_columns(self._width) * self._spc())

    def _restart(self, *_):
        self._next = None
        self._engine = None
        self._cursors = []
        self.cursor_text = ""
        if self.frozen and self._review is not None:
            self._draw_review()
        self._draw_threshold()
        self._draw_overlay()

    def _trigger_moved(self, *_):
        if self.mode == "triggered":
            self._restart()

    def _start_engine(self, first: int) -> None:
        w, ch = self._width, self._ring_channels
        for layer in self._layers():
            for m in layer.meshes:
                m.indices = np.zeros(0, np.uint16)
        self._live.show(True)
        self._strip_layer.show(False)
        self._last_sweep = None
        self._sweeps_seen = 0
        if self.mode == "sweep":
            self._engine = ColumnStore(self._spc(), ch, w, first)
        elif self.mode == "cascade":
            self._engine = ColumnStore(self._spc(), ch, w * self._rows(), first)
            self._cascade_top = None
        else:
            self._engine = TriggerSweeps(self._fs, w, self.window_s, self.delay_ms / 1000,
                                         self.trigger_uv, ch)
            self._engine.push(np.zeros((0, ch), np.float32), first)
        self.drawn_to = first
        self._draw_threshold()
        self._draw_gaps()

    def _feed(self, data: np.ndarray, first: int) -> None:
        if self.mode == "triggered":
            self._feed_triggered(data, first)
            return
        store: ColumnStore = self._engine
        g0, n = store.push(data)
        end = store.columns
        w = self._width
        live = self._live
        if n:
            g0 = max(g0, end - store.capacity)
            lo, hi = store.get(g0, end)
            if self.mode == "sweep":
                self._write_columns(live, list(range(len(live.meshes))), g0, end, lo, hi)
            else:
                self._write_cascade(g0, end, lo, hi)
        self.drew = store.end - self.drawn_to
        self.drawn_to = store.end
        if not n:
            return  # no column completed: nothing to redraw
        if self.mode == "sweep":
            idx = self._index.runs(sweep_runs(end, w, gap_columns(w)), self._idx_buf)
            for m, v in zip(live.meshes, live.verts, strict=True):
                m.vertices = v.reshape(-1)
                m.indices = idx
        else:
            self._place_rows(end)
        if self._gaps or self._gaps_drawn:
            self._draw_gaps()

    def _write_columns(self, layer: _Layer, meshes, g0: int, g1: int, lo, hi,
                       capacity: int | None = None) -> None:
        """Columns g0..g1 of the stream into the vertex arrays of `meshes` (one per band),
        column g at x = g % width, in at most two slices (the wrap)."""
        w = self._width
        g = g0
        while g < g1:
            a = g % w
            k = min(w - a, g1 - g)
            i = g - g0
            for mi in meshes:
                v, b = layer.verts[mi], layer.band[mi]
                v[2 * a:2 * (a + k):2, 1] = lo[i:i + k, b]
                v[2 * a + 1:2 * (a + k):2, 1] = hi[i:i + k, b]
            g += k

    def _write_cascade(self, g0: int, g1: int, lo, hi) -> None:
        w, r = self._width, self._rows()
        live = self._live
        g = g0
        while g < g1:
            s = g // w
            e = min((s + 1) * w, g1)
            slot = s % r
            meshes = [b * r + slot for b in range(self._bands())]
            self._write_columns(live, meshes, g, e, lo[g - g0:e - g0], hi[g - g0:e - g0])
            for mi in meshes:
                live.meshes[mi].vertices = live.verts[mi].reshape(-1)
            g = e

    def _place_rows(self, columns: int) -> None:
        """Each sweep's mesh at its row; only the bottom row's drawn length changes
        between sweeps."""
        w, r = self._width, self._rows()
        live = self._live
        rows = cascade_rows(columns, w, r)
        top = rows[0][0]
        moved = top != self._cascade_top
        self._cascade_top = top
        for k, (s, ncols) in enumerate(rows):
            if s < 0 or (not moved and k != r - 1):
                continue
            slot = s % r
            for b in range(self._bands()):
                mi = b * r + slot
                if moved:
                    live.moves[mi].y = self.y + self._row_mid(b, k)
                live.meshes[mi].indices = (self._full if ncols == w
                                           else self._index.runs([(0, ncols)]))

    def _feed_triggered(self, data, first) -> None:
        eng: TriggerSweeps = self._engine
        sweeps = eng.push(data, first)
        self.drawn_to = first + len(data)
        if not sweeps:
            return
        live, n = self._live, self._bands()
        k = max(1, int(self.superimpose))
        for sw in sweeps[-k:]:
            slot = self._sweeps_seen % k
            self._sweeps_seen += 1
            for b in range(n):
                mi = slot * n + b
                v = live.verts[mi]
                v[0::2, 1] = sw.lo[:, b]
                v[1::2, 1] = sw.hi[:, b]
                live.meshes[mi].vertices = v.reshape(-1)
                live.meshes[mi].indices = self._full
            self._last_sweep = sw
        if self._gaps or self._gaps_drawn:
            self._draw_gaps()
        self.drew = len(sweeps) * eng.length
        newest = (self._sweeps_seen - 1) % k
        for slot in range(k):
            age = (newest - slot) % k
            a = 1.0 if age == 0 else max(0.2, 0.75 * (1 - age / k))
            for b in range(n):
                live.alpha[slot * n + b] = a
                live.colors[slot * n + b].a = a

    # frozen -------------------------------------------------------------------------------
    def _on_frozen(self, *_):
        self.clear_cursors()
        if self.frozen:
            self._snapshot = None
            if self._ring is not None:
                self._take_snapshot()
        else:
            self._snapshot = None
            self._review = None
            self.back_s = 0.0
            self._restart()
        self._draw_overlay()

    def _take_snapshot(self) -> None:
        ring = self._ring
        data, first = ring.last(min(ring.written, ring.capacity))
        self._snapshot = (data, first)

    def _on_back(self, *_):
        if not self.frozen:
            if self.back_s:
                self.back_s = 0.0
            return
        snap_s = len(self._snapshot[0]) / self._fs if self._snapshot and self._fs else 0.0
        b = clamp_back(self.back_s, snap_s, self.window_s)
        if b != self.back_s:
            self.back_s = b  # (comes back here once, clamped)
            return
        self.clear_cursors()
        self._draw_review()
        self._draw_overlay()

    def _draw_review(self) -> None:
        if self.back_s <= 0 or self._snapshot is None:
            self._review = None
            self._live.show(True)
            self._strip_layer.show(False)
            self._draw_gaps()
            return
        data, first = self._snapshot
        end = first + len(data) - int(round(self.back_s * self._fs))
        lo, hi, s = review_columns(data, first, end, self._fs * self.window_s, self._width)
        self._review = (lo, hi, s)
        self._strip((lo, hi))
        self._draw_gaps()

    def _strip(self, cols) -> None:
        layer = self._strip_layer
        self._live.show(cols is None)
        layer.show(cols is not None)
        if cols is None:
            return
        lo, hi = cols
        m = min(len(lo), self._width)
        idx = self._index.runs([(0, m)])
        for mi, (mesh, v) in enumerate(zip(layer.meshes, layer.verts, strict=True)):
            b = layer.band[mi]
            if b >= lo.shape[1]:
                mesh.indices = np.zeros(0, np.uint16)
                continue
            v[0:2 * m:2, 1] = lo[:m, b]
            v[1:2 * m:2, 1] = hi[:m, b]
            mesh.vertices = v.reshape(-1)
            mesh.indices = idx

    # gaps ---------------------------------------------------------------------------------
    @property
    def gaps(self) -> list[tuple[int, float]]:
        """(ring index, seconds lost) of the gaps marked and still in the ring."""
        return list(self._gaps)

    def gap_places(self) -> list[tuple[int, float, float, float]]:
        """(x, bottom, top, seconds lost) of each gap in view: the column it fell in, over
        the band or cascade row it is drawn in."""
        w, n, h = self._width, self._bands(), self.height
        if self._fs is None or not self._gaps:
            return []
        eng = self._engine
        if self._review is not None:
            _, _, start = self._review
            return [(x, 0.0, h, sec) for x, sec in
                    window_gaps(self._gaps, start, self._spc(), w)]
        if self.mode == "triggered":
            sw = self._last_sweep
            if sw is None or not isinstance(eng, TriggerSweeps):
                return []
            return [(x, 0.0, h, sec) for x, sec in
                    window_gaps(self._gaps, sw.start, eng.spc, w)]
        if not isinstance(eng, ColumnStore):
            return []
        if self.mode == "sweep":
            return [(x, 0.0, h, sec) for x, sec in
                    sweep_gaps(self._gaps, eng.start, eng.spc, eng.columns, w, gap_columns(w))]
        out = []
        r = self._rows()
        row_h = h / n / r
        for x, k, sec in cascade_gaps(self._gaps, eng.start, eng.spc, eng.columns, w, r):
            for b in range(n):
                mid = self._row_mid(b, k)
                out.append((x, mid - row_h / 2, mid + row_h / 2, sec))
        return out

    def _draw_gaps(self, *_):
        group = getattr(self, "_gap_group", None)
        if group is None:
            return
        group.clear()
        places = self.gap_places()
        self._gaps_drawn = bool(places)
        for x, bottom, top, seconds in places:
            gx = self.x + x + 0.5
            group.add(Color(*AMBER[:3], 0.9))
            group.add(Line(points=[gx, self.y + bottom, gx, self.y + top], width=dp(1.5)))
            text = f"gap {seconds:.1f} s" if seconds > 0 else "gap"
            tex = self._gap_textures.get(text)
            if tex is None:
                tex = self._gap_textures[text] = _texture(text, sp(16), AMBER, bold=True)
            ty = self.y + top - tex.height - dp(4)
            group.add(Color(*BACKGROUND[:3], 0.8))
            group.add(Rectangle(pos=(gx + dp(3), ty - dp(2)),
                                size=(tex.width + dp(8), tex.height + dp(4))))
            group.add(Color(1, 1, 1, 1))
            group.add(Rectangle(texture=tex, size=tex.size, pos=(gx + dp(7), ty)))

    # cursors ------------------------------------------------------------------------------
    def place_cursor(self, x: float, y: float) -> Cursor:
        """A cursor at widget-local (x, y), snapped to the trace's low or high in that column;
        the third starts a new pair."""
        w = self._width
        col = int(min(max(x, 0), w - 1))
        n = self._bands()
        b = int(min(max((self.height - y) / (self.height / n), 0), n - 1))
        k = 0
        if self.mode == "cascade" and self._review is None:
            band_h = self.height / n
            k = int(min(max((self.height - b * band_h - y) / (band_h / self._rows()), 0),
                        self._rows() - 1))
        mid = self._row_mid(b, k)
        ms_col = self.window_s * 1000 / w
        tap_uv = (y - mid) / self._px_per_uv()
        lohi, t_ms = self._column_at(col, b, k)
        t_ms = col * ms_col if t_ms is None else t_ms
        uv = snap(*lohi, tap_uv) if lohi is not None else tap_uv
        c = Cursor(col + 0.5, mid, t_ms, float(uv), b)
        if len(self._cursors) >= 2:
            self._cursors = []
        self._cursors.append(c)
        self.cursor_text = cursor_text(self._cursors, self.unit, self.uv_per_unit)
        self._draw_cursors()
        return c

    def _column_at(self, col: int, b: int, k: int):
        """((low, high) of what is drawn at column col in band b, row k; its time in ms)."""
        ms_col = self.window_s * 1000 / self._width
        if self._review is not None:
            lo, hi, _ = self._review
            if col < len(lo):
                return (float(lo[col, b]), float(hi[col, b])), col * ms_col
            return None, None
        eng = self._engine
        w = self._width
        if self.mode == "triggered":
            sw = self._last_sweep
            if sw is None:
                return None, None
            return ((float(sw.lo[col, b]), float(sw.hi[col, b])),
                    (col - eng.trigger_column) * ms_col)
        if not isinstance(eng, ColumnStore):
            return None, None
        end = eng.columns
        if self.mode == "sweep":
            g = end - 1 - ((end - 1 - col) % w)
            shown = any(a <= col < e for a, e in sweep_runs(end, w, gap_columns(w)))
        else:
            s, ncols = cascade_rows(end, w, self._rows())[k]
            g = s * w + col
            shown = s >= 0 and col < ncols
        if g < 0:
            return None, None
        if not shown:  # (the erase gap: no signal, but its time on the same axis)
            return None, g * ms_col
        lo, hi = eng.get(g, g + 1)
        return (float(lo[0, b]), float(hi[0, b])), g * ms_col

    def _draw_cursors(self, *_):
        group = getattr(self, "_cursor_group", None)
        if group is None:
            return
        group.clear()
        s = self._px_per_uv()
        for i, c in enumerate(self._cursors):
            x = self.x + c.x
            y = self.y + min(max(c.mid + c.uv * s, 0), self.height)
            group.add(Color(*CURSOR[:3], 0.55))
            group.add(Line(points=[x, self.y, x, self.y + self.height], width=1))
            group.add(Color(*CURSOR))
            r = dp(7)
            group.add(Line(circle=(x, y, r), width=1.6))
            group.add(Line(points=[x - 2 * r, y, x + 2 * r, y], width=1.2))
            tex = _texture(str(i + 1), sp(20), CURSOR, bold=True)
            group.add(Rectangle(texture=tex, size=tex.size, pos=(x + r, y + r)))
        self._draw_overlay()

    # touches ------------------------------------------------------------------------------
    def on_touch_down(self, touch):
        if not self.collide_point(*touch.pos):
            return super().on_touch_down(touch)
        if getattr(touch, "is_mouse_scrolling", False):
            up = touch.button == "scrollup"
            self.step_sensitivity(-1 if up else +1)
            return True
        touch.grab(self)
        info = {"touch": touch, "start": touch.pos, "moved": False, "role": None,
                "back0": self.back_s}
        self._touches[touch.uid] = info
        pinching = [t for t in self._touches.values() if t["role"] in (None, "pinch")]
        if len(self._touches) == 2 and len(pinching) == 2:
            for t in self._touches.values():
                t["role"] = "pinch"
            a, b = (t["touch"].pos for t in self._touches.values())
            self._pinch.start(a, b)
        elif len(self._touches) > 2:
            info["role"] = "spent"
        elif (self.mode == "triggered" and not self.frozen
              and abs(touch.y - self._threshold_y()) < dp(28)):
            info["role"] = "threshold"
        return True

    def on_touch_move(self, touch):
        if touch.grab_current is not self:
            return super().on_touch_move(touch)
        info = self._touches.get(touch.uid)
        if info is None:
            return True
        sx, sy = info["start"]
        if abs(touch.x - sx) > dp(10) or abs(touch.y - sy) > dp(10):
            info["moved"] = True
        role = info["role"]
        if role == "pinch":
            pts = [t["touch"].pos for t in self._touches.values() if t["role"] == "pinch"]
            if len(pts) == 2:
                for axis, step in self._pinch.move(*pts):
                    (self.step_sensitivity if axis == "sensitivity" else self.step_sweep)(step)
        elif role == "threshold":
            mid = self.y + self._band_mid(0)
            v = (touch.y - mid) / self._px_per_uv() / self.uv_per_unit  # in the trace's unit
            least = 1.0 if self.unit == "counts" else 5.0
            step = least if abs(v) < 20 * least else 10.0 ** np.floor(np.log10(abs(v))) / 2
            v = float(np.round(v / step) * step) or float(np.copysign(least, v))
            self.trigger_uv = v * self.uv_per_unit
        elif self.frozen and role in (None, "scroll") and (
                role == "scroll" or abs(touch.x - sx) > dp(12)):
            info["role"] = "scroll"
            dx = touch.x - sx  # content follows the finger: drag right to go back
            self.back_s = info["back0"] + dx / self._width * self.window_s
        return True

    def on_touch_up(self, touch):
        if touch.grab_current is not self:
            return super().on_touch_up(touch)
        touch.ungrab(self)
        info = self._touches.pop(touch.uid, None)
        if info is None:
            return True
        if info["role"] == "pinch":
            self._pinch.end()
            for t in self._touches.values():
                t["role"] = "spent"  # the finger left behind does not become a drag
        elif info["role"] is None and not info["moved"] and self.frozen:
            if getattr(touch, "is_double_tap", False):
                self.clear_cursors()
            else:
                self.place_cursor(touch.x - self.x, touch.y - self.y)
        return True

    # threshold, overlay -------------------------------------------------------------------
    def _threshold_y(self) -> float:
        return self.y + self._band_mid(0) + self.trigger_uv * self._px_per_uv()

    def _draw_threshold(self, *_):
        group = getattr(self, "_thr_group", None)
        if group is None:
            return
        group.clear()
        if self.mode != "triggered" or self._fs is None:
            return
        w = self._width
        y = min(max(self._threshold_y(), self.y), self.y + self.height)
        group.add(Color(*AMBER[:3], 0.8))
        group.add(Line(points=[self.x, y, self.x + w, y], dash_length=8, dash_offset=6))
        eng = self._engine
        col = (eng.trigger_column if isinstance(eng, TriggerSweeps)
               else int(self.delay_ms / (self.window_s * 1000) * w))
        x = self.x + col + 0.5
        group.add(Color(*AMBER[:3], 0.45))
        group.add(Line(points=[x, self.y, x, self.y + self.height], dash_length=6,
                       dash_offset=6))
        group.add(Color(*AMBER))
        tri = dp(9)
        group.add(Line(points=[self.x + w - 2 * tri, y, self.x + w, y + tri, self.x + w,
                               y - tri], close=True, width=1.5))

    def _draw_overlay(self, *_):
        """Calibration bar, the mode line, the cursor readout and the banner."""
        if self._built_key is None:
            return
        self.canvas.after.clear()
        w, h = self._width, self.height
        div_w, div_h = w / H_DIVS, h / V_DIVS
        with self.canvas.after:
            # calibration bar: one division each way, bottom right
            px = self.x + w - div_w * 1.35
            py = self.y + div_h * 0.45
            Color(*CAL)
            Line(points=[px, py + div_h, px, py, px + div_w, py], width=dp(1.5))
            self.scale_text = f"{self.per_div:.4g} {self.unit}"
            t1 = _texture(self.scale_text, sp(20), CAL, bold=True)
            t2 = _texture(f"{self.ms_per_div:g} ms", sp(20), CAL, bold=True)
            Rectangle(texture=t1, size=t1.size,
                      pos=(px - t1.width - dp(8), py + div_h / 2 - t1.height / 2))
            Rectangle(texture=t2, size=t2.size,
                      pos=(px + div_w / 2 - t2.width / 2, py - t2.height - dp(2)))
            # mode line, top left
            words = self.mode_text = self._mode_words()
            if words:
                t3 = _texture(words, sp(18), AMBER if self.frozen else INFO, bold=self.frozen)
                Rectangle(texture=t3, size=t3.size,
                          pos=(self.x + dp(10), self.y + h - t3.height - dp(8)))
            if self.cursor_text:
                t4 = _texture(self.cursor_text, sp(26), CURSOR, bold=True)
                Color(*BACKGROUND[:3], 0.75)
                Rectangle(pos=(self.x + w - t4.width - dp(22), self.y + h - t4.height - dp(18)),
                          size=(t4.width + dp(14), t4.height + dp(10)))
                Color(1, 1, 1, 1)
                Rectangle(texture=t4, size=t4.size,
                          pos=(self.x + w - t4.width - dp(15), self.y + h - t4.height - dp(13)))
            if self.source_label:
                self._draw_source()
            if self.notice:
                t7 = _texture(self.notice, sp(20), AMBER, bold=True)
                nx = self.x + (w - t7.width) / 2
                ny = self.y + h - t7.height - dp(44)
                Color(*BACKGROUND[:3], 0.8)
                Rectangle(pos=(nx - dp(8), ny - dp(4)), size=(t7.width + dp(16),
                                                            t7.height + dp(8)))
                Color(1, 1, 1, 1)
                Rectangle(texture=t7, size=t7.size, pos=(nx, ny))
            if self.banner:
                colour = AMBER if self.banner.upper().startswith("NO SIGNAL") else RED
                t5 = _texture(self.banner, sp(56), colour, bold=True)
                bw, bh = min(t5.width + dp(60), w), t5.height + dp(30)
                Color(*BACKGROUND[:3], 0.85)
                Rectangle(pos=(self.x + (w - bw) / 2, self.y + (h - bh) / 2), size=(bw, bh))
                Color(*colour)
                Line(rectangle=(self.x + (w - bw) / 2, self.y + (h - bh) / 2, bw, bh),
                     width=dp(2))
                Color(1, 1, 1, 1)
                Rectangle(texture=t5, size=t5.size,
                          pos=(self.x + (w - t5.width) / 2, self.y + (h - t5.height) / 2))

    def _draw_source(self) -> None:
        """The source's label, bottom left, large enough to read at arm's length: the
        corner a sweep's signal (around the zero line) leaves free, away from the
        calibration bar."""
        tex = _texture(self.source_label, sp(30), SOURCE, bold=True)
        pad = dp(10)
        bw, bh = tex.width + 2 * pad, tex.height + pad
        bx, by = self.x + dp(12), self.y + dp(12)
        Color(*BACKGROUND[:3], 0.75)
        Rectangle(pos=(bx, by), size=(bw, bh))
        Color(*SOURCE)
        Line(rectangle=(bx, by, bw, bh), width=dp(1.5))
        Color(1, 1, 1, 1)
        Rectangle(texture=tex, size=tex.size, pos=(bx + pad, by + pad / 2))

    def _mode_words(self) -> str:
        if self.frozen:
            back = f"  -{self.back_s:.1f} s" if self.back_s > 0 else ""
            return f"FROZEN{back}  (drag to scroll, tap for cursors)"
        if self.mode == "triggered":
            edge = "rising" if self.trigger_uv >= 0 else "falling"
            level = f"{self.trigger_uv / self.uv_per_unit:+.4g} {self.unit}"
            return (f"TRIGGERED  {level} {edge}  delay {self.delay_ms:g} ms"
                    f"  x{int(self.superimpose)}")
        if self.mode == "cascade":
            return f"CASCADE  {int(self.cascade_rows)} rows"
        return ""
