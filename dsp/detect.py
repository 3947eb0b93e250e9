"""Finding potentials in filtered needle EMG, causally, chunk by chunk.

A detection branch (the signal band-passed to 100 Hz-2.5 kHz, where a potential's sharp
phases are and most amplifier noise and slow waves are not) is compared with a robust
noise floor; a candidate is the largest absolute value within 1 ms that rises above the
threshold and is not dwarfed by a bigger peak within 3 ms (the other phases of the same
potential). The noise floor ignores potentials: it is measured on the positive half of
the signal only (end-plate noise is negative-going) in 50 ms blocks, and the floor is a
low percentile of the last 30 s of blocks (potentials come and go, the amplifier's noise
stays).
"""

from __future__ import annotations

from collections import deque

import numpy as np
from scipy.ndimage import maximum_filter1d
from scipy.signal import butter

from dsp.blocks import Blocks
from dsp.sos import Sos

DETECT_BAND_HZ = (100.0, 2500.0)
THRESHOLD = 5.0  # times the detection branch's noise RMS
REFRACTORY_S = 0.001
DOMINANCE_S = 0.003
DOMINANCE = 1.6  # a peak this many times larger nearby makes a candidate one of its phases
BLOCK_S = 0.05
FLOOR_BLOCKS = 600  # 30 s: quiet moments between dense activity define the floor
FLOOR_PERCENTILE = 10
FLOOR_EVERY_BLOCKS = 5  # recompute the floor every 250 ms: it follows 30 s of blocks
# On pure Gaussian noise the 10th percentile of 50 ms block estimates (1000 samples at
# 20 kHz) reads 0.929 of the true RMS: undo that bias.
FLOOR_BIAS = 0.929


class NoiseFloor:
    """Amplifier and needle noise RMS, robust to potentials, updated every 50 ms."""

    def __init__(self, fs: float, min_rms: float = 0.0):
        self.blocks = Blocks(max(int(BLOCK_S * fs), 8))
        self.min_rms = min_rms  # the ADC's own quantisation noise: the floor is never lower
        self.history: deque[float] = deque(maxlen=FLOOR_BLOCKS)
        self._rms: float | None = None
        self._since = 0  # blocks since the floor was last recomputed

    def push(self, x: np.ndarray) -> None:
        data = self.blocks.push(x)
        for block in data.reshape(-1, self.blocks.size):
            self.history.append(positive_half_rms(block))
        self._since += data.size // self.blocks.size
        if self._since >= FLOOR_EVERY_BLOCKS or len(self.history) < FLOOR_EVERY_BLOCKS:
            self._rms, self._since = None, 0  # recomputed on the next read

    @property
    def ready(self) -> bool:
        return len(self.history) >= 2

    @property
    def rms(self) -> float:
        if not self.history:
            return float("nan")
        if self._rms is None:
            level = np.percentile(np.fromiter(self.history, float), FLOOR_PERCENTILE)
            self._rms = max(float(level) / FLOOR_BIAS, self.min_rms)
        return self._rms


def quantisation_rms(step_uv: float | None) -> float:
    """RMS of the rounding noise of an ADC with this step (uniform over one step). A coarse
    converter (a 10-bit board: about 10 uV per count) leaves most samples of quiet signal
    on one value, where the quantile-based floor below would read almost no noise."""
    return float(step_uv) / np.sqrt(12.0) if step_uv else 0.0


def positive_half_rms(x: np.ndarray) -> float:
    """Noise RMS from the upper half of the distribution only (for Gaussian noise the
    median deviation above the median is 0.674 RMS), so negative-going end-plate noise
    and sparse potentials do not inflate it. That median deviation is the distance from
    the 50th to the 75th percentile: one partial sort."""
    n = x.size
    if n < 4:
        return 0.0
    k50, k75 = (n - 1) // 2, (3 * (n - 1)) // 4
    part = np.partition(x, (k50, k75))
    return float((part[k75] - part[k50]) / 0.6745)


class Detector:
    """Streams a filtered signal; yields candidate peak indices (absolute sample indices)
    once `lookahead` samples after them have arrived."""

    def __init__(self, fs: float, lookahead_s: float, step_uv: float | None = None):
        self.fs = fs
        nyq = fs / 2
        band = (DETECT_BAND_HZ[0] / nyq, min(DETECT_BAND_HZ[1], 0.45 * fs) / nyq)
        self.band = Sos(butter(2, band, btype="bandpass", output="sos"))
        # The shape branch keeps slow phases (no extra high-pass): phases are read there.
        self.shape = Sos(butter(2, band[1], output="sos"))
        # Quantisation noise is white: each branch keeps the share of it in its band.
        q = quantisation_rms(step_uv)
        self.floor = NoiseFloor(fs, q * np.sqrt(band[1] - band[0]))
        self.shape_floor = NoiseFloor(fs, q * np.sqrt(band[1]))
        self.refractory = max(int(REFRACTORY_S * fs), 1)
        self.dominance = max(int(DOMINANCE_S * fs), 1)
        self.lookahead = int(lookahead_s * fs)
        self.scanned = 0  # absolute index from which candidates are still to be found

    def smooth(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(detection branch, shape branch) for a chunk of the filtered signal."""
        d = self.band.process(x)
        s = self.shape.process(x)
        self.floor.push(d)
        self.shape_floor.push(s)
        return d, s

    def candidates(self, d: np.ndarray, d0: int, threshold_uv: float) -> np.ndarray:
        """Candidates in the smoothed buffer `d` (whose first sample is absolute index d0)
        that are now final: those with enough signal after them to be judged."""
        end = d0 + d.size
        stop = end - max(self.lookahead, self.dominance)
        start = max(self.scanned, d0 + self.dominance)
        if stop <= start:
            return np.zeros(0, np.int64)
        # Only the new stretch, with the margin the widest window needs on either side.
        base = start - d0 - self.dominance
        a = np.abs(d[base: stop - d0 + self.dominance])
        lo, hi = self.dominance, self.dominance + (stop - start)
        seg = a[lo:hi]
        above = seg > threshold_uv
        self.scanned = stop
        if not above.any():
            return np.zeros(0, np.int64)  # most live chunks: the filters below cost more
        local = maximum_filter1d(a, 2 * self.refractory + 1)
        wide = maximum_filter1d(a, 2 * self.dominance + 1)
        keep = above & (seg == local[lo:hi]) & (seg * DOMINANCE >= wide[lo:hi])
        idx = np.flatnonzero(keep) + lo + base
        # Plateaus (clipping) give runs of equal maxima: keep the first of each run.
        if idx.size > 1:
            idx = idx[np.r_[True, np.diff(idx) > self.refractory]]
        return idx + d0
