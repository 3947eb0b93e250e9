"""Display decimation: the minimum and maximum of each pixel column, so a trace keeps every
spike visible with at most two vertices per column, whatever the sample rate."""

from __future__ import annotations

import numpy as np


def minmax_columns(x: np.ndarray, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """(lowest, highest) sample of each of `columns` equal slices of x (1-D, non-empty).
    With fewer samples than columns, samples repeat across neighbouring columns."""
    edges = np.linspace(0, len(x), columns + 1).astype(np.int64)
    starts = np.minimum(edges[:-1], len(x) - 1)
    return np.minimum.reduceat(x, starts), np.maximum.reduceat(x, starts)


class MinMaxDecimator:
    """Streaming `minmax_columns` for a sweeping trace: push chunks of any size, get back
    the (lowest, highest) sample of each column completed so far, shape (k, channels) each.

    Column j covers samples [floor(j spc), floor((j + 1) spc)), boundaries counted from the
    first sample, so a fractional samples-per-column never drifts and any chunking gives
    exactly the one-shot result. With fewer than one sample per column a column that owns
    no sample shows the sample its left edge falls in (samples repeat across columns, as in
    `minmax_columns`). NaN samples are ignored unless a column holds nothing else.
    """

    def __init__(self, samples_per_column: float, channels: int = 1):
        if not (np.isfinite(samples_per_column) and samples_per_column > 0):
            raise ValueError(f"samples per column must be positive, got {samples_per_column!r}")
        if channels < 1:
            raise ValueError(f"channels must be at least 1, got {channels!r}")
        self.spc = float(samples_per_column)
        self.channels = channels
        self.reset()

    def reset(self) -> None:
        self.columns = 0  # columns returned so far: the index of the next one
        self._base = 0  # stream index of self._buf[0]
        self._buf: np.ndarray | None = None  # samples from the first incomplete column on

    def push(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x)
        x = x[:, None] if x.ndim == 1 else x
        if x.shape[1] != self.channels:
            raise ValueError(f"{x.shape[1]} channels pushed into a {self.channels}-channel "
                             "decimator")
        self._buf = x.copy() if self._buf is None else np.concatenate([self._buf, x])
        starts, ends = self._complete(self._base + len(self._buf))
        if len(starts) == 0:
            empty = np.zeros((0, self.channels), self._buf.dtype)
            return empty, empty.copy()
        part = self._buf[:ends[-1] - self._base]
        idx = starts - self._base
        lo, hi = np.fmin.reduceat(part, idx, axis=0), np.fmax.reduceat(part, idx, axis=0)
        self.columns += len(starts)
        nxt = int(self._edge(self.columns))
        self._buf = self._buf[nxt - self._base:].copy()
        self._base = nxt
        return lo, hi

    def _edge(self, j: np.ndarray | int) -> np.ndarray:
        """First sample of column j; the 1e-6 lets an exact boundary (j spc an integer in
        decimal) survive the rounding of spc to binary."""
        return np.floor(np.asarray(j) * self.spc + 1e-6).astype(np.int64)

    def _complete(self, available: int) -> tuple[np.ndarray, np.ndarray]:
        """Start and end sample of each column that `available` samples complete."""
        most = int((available - self._base) / self.spc) + 2
        j = np.arange(self.columns, self.columns + most + 1)
        starts = self._edge(j)
        ends = np.maximum(self._edge(j + 1), starts + 1)
        done = ends <= available
        return starts[done], ends[done]
