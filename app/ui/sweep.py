"""The trace's geometry and state without Kivy: column buffers for the free-running sweep,
the cascade and triggered sweeps, trigger detection with a delay line, reading new samples
from the ring, the review window of a frozen trace, cursor arithmetic and the pinch gesture.

Everything here is numpy on plain arrays, so it is tested fast and exactly; app/ui/trace.py
only copies these columns into Mesh vertices. A "column" is one pixel column of the trace:
the lowest and highest sample of its slice of the stream (dsp.decimate.MinMaxDecimator),
so a trace never has more than two vertices per column. Columns are numbered from the
first sample the trace started from, so the same samples give the same columns however the
ring reads happen to be chunked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dsp.decimate import MinMaxDecimator

H_DIVS, V_DIVS = 10, 8
SENSITIVITIES = [10, 20, 50, 100, 200, 500, 1000, 2000, 5000]  # uV per division
# An uncalibrated amplifier is shown in its own counts: one count of a hobby board's 10-bit
# ADC is about 10 uV, so its ladder starts lower.
COUNT_SENSITIVITIES = [1, 2, 5, 10, 20, 50, 100, 200, 500]  # counts per division
SWEEPS = [1, 2, 5, 10, 20, 50, 100]  # ms per division
GAP_FRACTION = 1 / 64  # the erase gap ahead of the write point, as a share of the width
MAX_VERTICES = 65535  # what one Kivy Mesh holds


def step_value(values: list, current: float, step: int) -> float:
    """The value `step` places along `values` from the one nearest `current`, clamped."""
    i = int(np.argmin([abs(math.log(v / current)) if current > 0 else abs(v - current)
                       for v in values]))
    return values[min(max(i + step, 0), len(values) - 1)]


def gap_columns(width: int) -> int:
    return max(4, round(width * GAP_FRACTION))


# Index buffers ------------------------------------------------------------------------------
class LineIndices:
    """Index buffers for a Mesh in "lines" mode over 2 vertices per column (low, high): each
    column draws its vertical low-high segment and the segment joining its high to the next
    column's low. Runs of consecutive columns are drawn; nothing joins one run to the next,
    which is how the erase gap and the wrap of a sweep stay blank."""

    def __init__(self, width: int):
        if not 1 <= width <= MAX_VERTICES // 2:
            raise ValueError(f"a trace {width} columns wide does not fit one Mesh")
        c = np.arange(width, dtype=np.int64)
        t = np.stack([2 * c, 2 * c + 1, 2 * c + 1, 2 * c + 2], axis=1)
        t[-1, 3] = 2 * width - 1  # (never drawn: the last column joins nothing)
        self.template = t.astype(np.uint16)
        self.width = width

    def runs(self, runs, out: np.ndarray | None = None) -> np.ndarray:
        """Indices drawing each (first, end) run of columns, end exclusive."""
        n = sum(4 * (b - a) - 2 for a, b in runs if b > a)
        out = np.empty(max(n, 0), np.uint16) if out is None or len(out) < n else out
        i = 0
        for a, b in runs:
            if b <= a:
                continue
            k = 4 * (b - a - 1)
            out[i:i + k] = self.template[a:b - 1].ravel()
            out[i + k:i + k + 2] = self.template[b - 1, :2]
            i += k + 2
        return out[:i]


def column_x(width: int) -> np.ndarray:
    """x of the 2 vertices of every column (its centre), local to the trace."""
    return np.repeat(np.arange(width, dtype=np.float32) + 0.5, 2)


# Pacing -------------------------------------------------------------------------------------
class Pacer:
    """At most `max_fps` draws a second (0: every frame), on the app's frames (whose
    interval the GL sets: about 30 ms on software GL). A draw is due at the frame nearest
    to one period after the last, not the first frame past it: with 30 ms frames and a
    33 ms period the first rule would draw every other frame, 60 ms apart, and the picture
    would lag the sound by that."""

    def __init__(self):
        self.last_draw: float | None = None
        self.last_call: float | None = None

    def due(self, now: float, max_fps: float) -> bool:
        frame = now - self.last_call if self.last_call is not None else 0.0
        self.last_call = now
        if max_fps <= 0 or self.last_draw is None:
            self.last_draw = now
            return True
        if now - self.last_draw < 1.0 / max_fps - frame / 2:
            return False
        self.last_draw = now
        return True


# Reading the ring ---------------------------------------------------------------------------
def pull(ring, next_index: int) -> tuple[np.ndarray, int]:
    """The frames of `ring` (app.session.live.Ring) from absolute index `next_index` on, and
    the index of the first frame returned: `next_index`, or later when the ring no longer
    holds it (a reader that fell more than the ring's length behind). The writer may add
    frames between reading `written` and copying: then ask again for the few more."""
    want = ring.written - next_index
    for _ in range(4):
        if want <= 0:
            return np.zeros((0, ring.buf.shape[1]), np.float32), next_index
        data, first = ring.last(want)
        if first <= next_index or len(data) >= ring.capacity:
            skip = max(next_index - first, 0)
            return data[skip:], first + skip
        want += first - next_index
    return data, first


# Columns of a stream ------------------------------------------------------------------------
class ColumnStore:
    """The newest `capacity` columns of a stream that started at absolute sample `start`,
    by global column number g (0 = the first `samples_per_column` samples from start)."""

    def __init__(self, samples_per_column: float, channels: int, capacity: int, start: int):
        self.dec = MinMaxDecimator(samples_per_column, channels)
        self.spc = samples_per_column
        self.capacity = capacity
        self.start = start
        self.lo = np.zeros((capacity, channels), np.float32)
        self.hi = np.zeros((capacity, channels), np.float32)

    @property
    def columns(self) -> int:
        """Columns completed: the global number of the next one."""
        return self.dec.columns

    @property
    def end(self) -> int:
        """Absolute index one past the last sample inside a completed column."""
        return self.start + int(self.dec._edge(self.dec.columns))

    def push(self, x: np.ndarray) -> tuple[int, int]:
        """Decimate new samples; (first global column completed, how many)."""
        lo, hi = self.dec.push(x)
        n = len(lo)
        g0 = self.dec.columns - n
        if n > self.capacity:  # only the newest `capacity` columns are kept
            lo, hi = lo[-self.capacity:], hi[-self.capacity:]
        k = len(lo)
        slots = np.arange(self.dec.columns - k, self.dec.columns) % self.capacity
        self.lo[slots], self.hi[slots] = lo, hi
        return g0, n

    def get(self, g0: int, g1: int) -> tuple[np.ndarray, np.ndarray]:
        slots = np.arange(g0, g1) % self.capacity
        return self.lo[slots], self.hi[slots]


def sweep_runs(columns: int, width: int, gap: int) -> list[tuple[int, int]]:
    """The runs of x drawn by a free-running sweep after `columns` columns: the newest
    width - gap columns, column g at x = g % width; blank ahead of the write point."""
    first = max(0, columns - (width - gap))
    if columns <= first:
        return []
    a, b = first % width, columns % width or width
    if columns - first <= width - a:  # no wrap inside
        return [(a, a + columns - first)]
    return [(a, width), (0, b)]


def cascade_rows(columns: int, width: int, rows: int) -> list[tuple[int, int]]:
    """(sweep number, columns drawn) of each row, top to bottom: the newest sweep, still
    being written, at the bottom; older rows scroll up and off the top."""
    current = columns // width
    out = []
    for k in range(rows - 1, -1, -1):
        s = current - k
        if s < 0:
            out.append((s, 0))
        elif s < current:
            out.append((s, width))
        else:
            out.append((s, columns - current * width))
    return out


# Triggered sweeps ---------------------------------------------------------------------------
@dataclass
class Sweep:
    trigger: int  # absolute index of the sample that crossed the threshold
    start: int  # absolute index of the sweep's first sample (trigger - delay)
    lo: np.ndarray  # (width, channels)
    hi: np.ndarray


class TriggerSweeps:
    """Threshold trigger with a delay line and a hold-off of one sweep.

    Channel `channel` crosses `threshold_uv` rising when the threshold is positive or zero,
    falling when it is negative. Each accepted crossing at sample t gives a sweep of
    `sweep_samples` samples from t - delay, decimated into `width` columns exactly as the
    free-running sweep decimates (MinMaxDecimator), so the trigger sample always lands in
    `trigger_column`. A sweep is given out once all its samples have arrived; the next
    crossing counts only from t + sweep_samples on."""

    def __init__(self, fs: float, width: int, sweep_s: float, delay_s: float,
                 threshold_uv: float, channels: int = 1, channel: int = 0):
        self.fs, self.width, self.channels, self.channel = fs, width, channels, channel
        self.threshold = float(threshold_uv)
        self.sweep_f = sweep_s * fs  # samples per sweep (may be fractional)
        self.spc = self.sweep_f / width
        self.length = int(np.floor(width * self.spc + 1e-6))  # samples one sweep covers
        self.delay = int(min(max(round(delay_s * fs), 0), self.length - 1))
        self._buf = np.zeros((0, channels), np.float32)
        self._buf_start = 0
        self._pending: list[int] = []
        self._allowed = -(1 << 62)  # the first trigger allowed from this index on
        self.triggers = 0

    @property
    def trigger_column(self) -> int:
        """The first column that shows the trigger sample (with fewer samples than columns,
        a sample fills several)."""
        edges = np.floor(np.arange(self.width + 1) * self.spc + 1e-6)
        last = int(np.searchsorted(edges, self.delay, side="right") - 1)
        return int(np.searchsorted(edges, edges[last], side="left"))

    def _crossings(self, prev: float | None, x: np.ndarray) -> np.ndarray:
        """Offsets in x of the samples that cross the threshold."""
        if prev is None:
            a, b = x[:-1], x[1:]
            off = 1
        else:
            a, b = np.concatenate(([prev], x[:-1])), x
            off = 0
        thr = self.threshold
        hit = (a < thr) & (b >= thr) if thr >= 0 else (a > thr) & (b <= thr)
        return np.flatnonzero(hit) + off

    def push(self, x: np.ndarray, first: int) -> list[Sweep]:
        """New samples (frames, channels) starting at absolute index `first`; the sweeps
        completed by them, oldest first. A gap in the indices starts afresh."""
        x = np.asarray(x, np.float32)
        x = x[:, None] if x.ndim == 1 else x
        if len(self._buf) and first != self._buf_start + len(self._buf):
            self._buf = np.zeros((0, self.channels), np.float32)
            self._pending.clear()
        if len(self._buf) == 0:
            self._buf_start = first
        prev = float(self._buf[-1, self.channel]) if len(self._buf) else None
        hits = (self._crossings(prev, x[:, self.channel]) + first if len(x)
                else np.zeros(0, np.int64))
        self._buf = np.concatenate([self._buf, x]) if len(self._buf) else x.copy()
        i = int(np.searchsorted(hits, self._allowed, side="left"))
        while i < len(hits):
            t = int(hits[i])
            self._allowed = t + self.length
            if t - self.delay >= self._buf_start:  # its pre-trigger samples are here
                self._pending.append(t)
                self.triggers += 1
            i = int(np.searchsorted(hits, self._allowed, side="left"))
        end = self._buf_start + len(self._buf)
        out = []
        while self._pending and self._pending[0] - self.delay + self.length <= end:
            t = self._pending.pop(0)
            s = t - self.delay
            seg = self._buf[s - self._buf_start:s - self._buf_start + self.length]
            lo, hi = MinMaxDecimator(self.spc, self.channels).push(seg)
            out.append(Sweep(t, s, lo[:self.width], hi[:self.width]))
        keep = self.delay + self.length + 1
        if self._pending:
            keep = max(keep, end - (self._pending[0] - self.delay))
        if len(self._buf) > keep:
            self._buf = self._buf[-keep:].copy()
            self._buf_start = end - keep
        return out


# The frozen trace: review of the recent past --------------------------------------------------
def review_columns(snapshot: np.ndarray, snapshot_first: int, end: int, samples: float,
                   width: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(lo, hi, first absolute index) of the window of `samples` samples ending at absolute
    index `end`, out of a snapshot of the ring (frames, channels) that starts at absolute
    `snapshot_first`, decimated into `width` columns with the sweep's own column edges."""
    n = int(np.floor(width * (samples / width) + 1e-6))
    s = max(end - n, snapshot_first)
    e = min(s + n, snapshot_first + len(snapshot))
    seg = snapshot[s - snapshot_first:e - snapshot_first]
    lo, hi = MinMaxDecimator(samples / width, snapshot.shape[1]).push(seg)
    return lo, hi, s


def clamp_back(back_s: float, snapshot_s: float, window_s: float) -> float:
    return float(min(max(back_s, 0.0), max(snapshot_s - window_s, 0.0)))


# Cursors ------------------------------------------------------------------------------------
@dataclass
class Cursor:
    x: float  # widget-local pixel (column centre)
    mid: float  # widget-local y of the zero line of the row the cursor is on
    t_ms: float  # time on the trace's own axis
    uv: float  # the signal there (snapped to the column's low or high)
    band: int


def snap(lo: float, hi: float, tap_uv: float) -> float:
    """The column's extreme nearest the tap (a finger is not a stylus)."""
    return lo if abs(lo - tap_uv) <= abs(hi - tap_uv) else hi


def cursor_text(cursors: list[Cursor], unit: str = "uV", uv_per_unit: float = 1.0) -> str:
    """The cursors' readout in the trace's unit (microvolts, or an uncalibrated amplifier's
    counts: `uv_per_unit` microvolts each)."""
    if not cursors:
        return ""
    if len(cursors) == 1:
        c = cursors[0]
        return f"C1 {c.t_ms:.1f} ms  {c.uv / uv_per_unit:.0f} {unit}"
    a, b = cursors[0], cursors[1]
    return (f"\u0394 {b.t_ms - a.t_ms:.2f} ms  \u0394 {(b.uv - a.uv) / uv_per_unit:.0f} "
            f"{unit}")


# Gaps: where samples were lost --------------------------------------------------------------
def gap_column(index: int, start: int, spc: float) -> int:
    """The global column (counted from sample `start`) that sample `index` falls in."""
    return int(np.floor((index - start) / spc + 1e-6))


def sweep_gaps(gaps, start: int, spc: float, columns: int, width: int,
               gap: int) -> list[tuple[int, float]]:
    """(x, seconds lost) of each gap (ring index, seconds) that a free-running sweep shows
    now: those among its newest width - gap columns."""
    first = max(0, columns - (width - gap))
    out = []
    for index, seconds in gaps:
        g = gap_column(index, start, spc)
        if first <= g < columns:
            out.append((g % width, seconds))
    return out


def cascade_gaps(gaps, start: int, spc: float, columns: int, width: int,
                 rows: int) -> list[tuple[int, int, float]]:
    """(x, row from the top, seconds lost) of each gap the cascade shows now."""
    out = []
    for k, (s, ncols) in enumerate(cascade_rows(columns, width, rows)):
        if s < 0:
            continue
        for index, seconds in gaps:
            g = gap_column(index, start, spc) - s * width
            if 0 <= g < ncols:
                out.append((g, k, seconds))
    return out


def window_gaps(gaps, start: int, spc: float, width: int) -> list[tuple[int, float]]:
    """(x, seconds lost) of each gap inside one window of `width` columns from sample
    `start` (a triggered sweep, the review strip of a frozen trace)."""
    out = []
    for index, seconds in gaps:
        g = gap_column(index, start, spc)
        if 0 <= g < width:
            out.append((g, seconds))
    return out


# Gestures -----------------------------------------------------------------------------------
class Pinch:
    """Two fingers: spreading them apart vertically makes the trace more sensitive (a
    smaller uV/div, as if zooming in), horizontally a faster sweep (fewer ms/div); pinching
    them together does the opposite. The axis is chosen by the first clear movement and
    kept until the fingers lift; each `ratio` change of the span is one step."""

    def __init__(self, ratio: float = 1.35, lock_px: float = 24.0, min_span: float = 40.0):
        self.ratio, self.lock_px, self.min_span = ratio, lock_px, min_span
        self.axis: str | None = None
        self._ref: tuple[float, float] | None = None
        self._start: tuple[float, float] | None = None

    def _spans(self, p1, p2) -> tuple[float, float]:
        return (max(abs(p1[0] - p2[0]), self.min_span), max(abs(p1[1] - p2[1]), self.min_span))

    def start(self, p1, p2) -> None:
        self._ref = self._start = self._spans(p1, p2)
        self.axis = None

    def move(self, p1, p2) -> list[tuple[str, int]]:
        """Steps to take: ("sensitivity" | "sweep", +1 less / -1 more zoomed)."""
        if self._ref is None:
            return []
        sx, sy = self._spans(p1, p2)
        if self.axis is None:
            dx, dy = abs(sx - self._start[0]), abs(sy - self._start[1])
            if max(dx, dy) < self.lock_px:
                return []
            self.axis = "sensitivity" if dy > dx else "sweep"
        i = 1 if self.axis == "sensitivity" else 0
        now, ref = (sx, sy)[i], self._ref[i]
        steps = []
        while now >= ref * self.ratio:
            steps.append((self.axis, -1))
            ref *= self.ratio
        while now <= ref / self.ratio:
            steps.append((self.axis, +1))
            ref /= self.ratio
        self._ref = (ref, self._ref[1]) if i == 0 else (self._ref[0], ref)
        return steps

    def end(self) -> None:
        self._ref = self._start = None
        self.axis = None
