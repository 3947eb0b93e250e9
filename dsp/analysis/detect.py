"""Finding potentials in filtered needle EMG, causally, chunk by chunk.

A detection branch (the signal band-passed to 100 Hz-1.5 kHz, where a potential's main
phases are and most amplifier noise and slow waves are not) is compared with a robust
noise floor; a candidate is the largest absolute value within 1 ms that rises above the
threshold and is not dwarfed by a bigger peak within 3 ms (the other phases of the same
potential). The noise floor ignores potentials: it is measured on the positive half of
the signal only (end-plate noise is negative-going) in 5 ms windows, and the floor is a
low percentile of the last 30 s of windows (potentials come and go, the amplifier's noise
stays), corrected by what that percentile reads on Gaussian noise through the same filter.
A third branch, band-passed lower (100-700 Hz), brings positive candidates that the
detection band misses: sharp waves, whose energy lies lower than spikes'.
"""

from __future__ import annotations

import bisect
from collections import deque

import numpy as np
from scipy.ndimage import maximum_filter1d
from scipy.signal import butter, sosfilt

from dsp.blocks import Blocks
from dsp.sos import Sos

# For white noise, 100 Hz-1.5 kHz gives a distant unit's potential 1.3-1.4 times, a sharp
# wave's and a 3 ms fibrillation's 1.2-1.3 times, a 1.5 ms fibrillation's 1.05-1.1 times the
# signal to noise of 100 Hz-2.5 kHz; and at 10 kHz white noise of a given RMS is twice as
# dense per hertz as at 20 kHz, so a wider band would leave distant units at the threshold.
DETECT_BAND_HZ = (100.0, 1500.0)
# A sharp wave's energy lies lower than a spike's: for white noise 100-700 Hz gives it 1.3
# times the signal to noise of the detection band (1 ms fibrillations 0.6 times). Positive
# peaks there are candidates too, but only sharp waves are taken from them: the end
# plate's summed miniature potentials and units' slow phases are strong there as well.
SHARP_WAVE_BAND_HZ = (100.0, 700.0)
SHAPE_LOWPASS_HZ = 2500.0  # phases, widths and turns are read here
# A broad potential (a distant unit's, a fibrillation read through 10 uV of noise) keeps
# its peak below 1 kHz, where white noise is 0.63 times what it is below 2.5 kHz: a
# candidate that does not stand out of the shape branch may stand out here.
SLOW_LOWPASS_HZ = 1000.0
THRESHOLD = 5.0  # times the detection branch's noise RMS
REFRACTORY_S = 0.001
DOMINANCE_S = 0.003
DOMINANCE = 1.6  # a peak this many times larger nearby makes a candidate one of its phases
# The floor is judged in short windows: in a dense field (a grade 4 denervation, several
# units firing) hardly a 50 ms stretch is free of potentials, but many 5 ms ones are, so
# 5 ms windows read the floor near the amplifier's noise where longer ones read it well
# above, and potentials 5 times the noise would go unfound.
WINDOW_S = 0.005
FLOOR_S = 30.0  # quiet moments between dense activity define the floor
FLOOR_PERCENTILE = 2
FLOOR_EVERY_S = 0.25  # recompute the floor every 250 ms: it follows 30 s of windows
HINT_MARGIN = 1.25  # the floor's percentile seldom rises more than this in 250 ms
# Windows of generated noise to learn what the floor reads on noise alone, and at most
# this many samples (long windows need fewer: their reads scatter less).
CALIBRATION_WINDOWS, CALIBRATION_SAMPLES = 10000, 2_000_000


class NoiseFloor:
    """Amplifier and needle noise RMS, robust to potentials: a low percentile of the noise
    read in each 5 ms window over the last 30 s, recomputed every 250 ms of the stream.
    What was in force at a sample (`at`, `over`) depends only on the windows before it,
    never on how the stream was chunked. `shaped_by`: the filter (second-order sections)
    that shaped the signal from white noise, so the percentile's bias on pure noise is
    undone exactly for this rate and band."""

    KEEP_S = 2.0  # the analyser looks at most 1 s back

    def __init__(self, fs: float, min_rms: float = 0.0, shaped_by: np.ndarray | None = None,
                 window_s: float = WINDOW_S, percentile: float = FLOOR_PERCENTILE):
        self.window = max(int(window_s * fs), 32)  # a read needs samples
        self.percentile = percentile
        self.blocks = Blocks(self.window)
        self.min_rms = min_rms  # the ADC's own quantisation noise: the floor is never lower
        self.calibration = _Calibration.of(self.window, shaped_by, percentile)
        self.history = np.zeros(max(int(FLOOR_S * fs) // self.window, 1))
        self.count = 0  # windows read
        self.every = max(int(FLOOR_EVERY_S * fs) // self.window, 1)
        ready_after = max(int(0.1 * fs) // self.window, 2)  # 100 ms
        # the count of windows read after which the floor is next recomputed
        self._next_step = (ready_after if ready_after <= self.every
                           else -(-ready_after // self.every) * self.every)
        self.keep = int(self.KEEP_S * fs)
        # (first sample, floor): each floor holds from its first sample to the next one's
        self.starts: list[int] = []
        self.levels: list[float] = []
        self._low = np.inf  # the last percentile read, to find the next one fast

    def push(self, x: np.ndarray) -> None:
        data = self.blocks.push(x)
        if data.size:
            self.take(positive_half_rms(data.reshape(-1, self.window)))

    def take(self, reads: np.ndarray) -> None:
        """The reads of the windows `push` completed (see `push_together`)."""
        # Reads are stored in runs between the floor's steps (a 1 s chunk brings 200
        # reads and 4 steps, a live 5 ms chunk one read and seldom a step).
        done = self.count
        while self._next_step <= done + reads.size:
            c = self._next_step
            self._store(reads[self.count - done: c - done])
            self._step()
            # Every window until the first 250 ms are in, then every 250 ms.
            self._next_step = c + 1 if c < self.every else (c // self.every + 1) * self.every
        self._store(reads[self.count - done:])

    def _store(self, reads: np.ndarray) -> None:
        """Into the ring of the last 30 s of reads (a run between steps is shorter)."""
        n = self.history.size
        at = self.count % n
        head = min(reads.size, n - at)
        self.history[at: at + head] = reads[:head]
        self.history[: reads.size - head] = reads[head:]
        self.count += reads.size

    def _step(self) -> None:
        n = min(self.count, self.history.size)
        low = low_percentile(self.history[:n], self.percentile, self._low)
        self._low = low
        level = low / self.calibration.bias(n)
        self.starts.append(self.count * self.window)
        self.levels.append(max(level, self.min_rms))
        # Forget floors that ended more than KEEP_S ago.
        old = bisect.bisect_right(self.starts, self.starts[-1] - self.keep) - 1
        if old > 0:
            del self.starts[:old], self.levels[:old]

    @property
    def ready(self) -> bool:
        return bool(self.levels)

    @property
    def rms(self) -> float:
        """The latest floor (NaN before the first 100 ms)."""
        return self.levels[-1] if self.levels else float("nan")

    def at(self, index: int) -> float:
        """The floor in force at stream sample `index` (NaN before the first one)."""
        i = bisect.bisect_right(self.starts, index) - 1
        return self.levels[i] if i >= 0 else float("nan")

    def over(self, start: int, stop: int) -> np.ndarray | float:
        """The floor in force at each sample from `start` to `stop` (NaN before the first);
        one number when a single floor holds throughout, as it mostly does."""
        if bisect.bisect_right(self.starts, start) == bisect.bisect_right(self.starts, stop - 1):
            return self.at(start)
        levels = np.r_[np.nan, self.levels]
        return levels[np.searchsorted(self.starts, np.arange(start, stop), "right")]


def push_together(floors: tuple[NoiseFloor, ...], branches: tuple[np.ndarray, ...]) -> None:
    """Push each branch of one stream to its floor, all windows read in one partial sort:
    floors of one stream with the same window complete their windows together, and a live
    chunk brings one window each, where the sort's own overhead is most of its cost."""
    done = [f.blocks.push(b) for f, b in zip(floors, branches, strict=True)]
    if not done[0].size:
        return
    window = floors[0].window
    reads = positive_half_rms(np.concatenate(done).reshape(-1, window))
    for f, r in zip(floors, reads.reshape(len(floors), -1), strict=True):
        f.take(r)


def low_percentile(reads: np.ndarray, percentile: float, hint: float = np.inf) -> float:
    """The `percentile` of `reads` (the k-th smallest, no interpolation). `hint`: about
    what it was last time; the reads up to a little above it hold it, when enough of them
    do, and partitioning those few costs a fraction of partitioning all 6000."""
    k = int(percentile / 100 * (reads.size - 1))
    few = reads[reads <= HINT_MARGIN * hint]
    if few.size > k:
        reads = few  # the k-th smallest of all is the k-th smallest of these
    return float(np.partition(reads, k)[k])


class _Calibration:
    """What the floor reads, as a share of the true RMS, on Gaussian noise passed through
    `shaped_by`: the percentile of many short reads sits well below their mean (0.59 for
    5 ms of the detection band at 20 kHz), and that of a few reads (the first second of a
    stream) lower still. The same noise every time, so the same figures."""

    _made: dict[tuple[int, bytes, float], _Calibration] = {}

    def __init__(self, window: int, shaped_by: np.ndarray | None, percentile: float):
        self.percentile = percentile
        rng = np.random.default_rng(20261124)
        n = min(CALIBRATION_WINDOWS, CALIBRATION_SAMPLES // window)
        noise = rng.standard_normal((n + 50) * window)
        if shaped_by is not None:
            noise = sosfilt(shaped_by, noise)
        noise = noise[50 * window:]  # the filter's start-up transient
        self.reads = positive_half_rms(noise.reshape(-1, window)) / float(noise.std())
        self._bias: dict[int, float] = {}

    @classmethod
    def of(cls, window: int, shaped_by: np.ndarray | None, percentile: float) -> _Calibration:
        key = (window, b"" if shaped_by is None else np.asarray(shaped_by).tobytes(),
               percentile)
        if key not in cls._made:
            cls._made[key] = cls(window, shaped_by, percentile)
        return cls._made[key]

    def bias(self, n: int) -> float:
        """The floor's mean reading over `n` reads of unit noise."""
        n = min(n, self.reads.size)
        if n not in self._bias:
            groups = self.reads[: self.reads.size // n * n].reshape(-1, n)
            self._bias[n] = float(np.mean([low_percentile(g, self.percentile) for g in groups]))
        return self._bias[n]


def _branch(fs: float, btype: str, edges_hz: tuple[float, ...],
            step_rms: float) -> tuple[Sos, NoiseFloor]:
    """A second-order Butterworth branch (edges capped at 0.45 fs) and its noise floor, whose
    least value is the share of the ADC's quantisation noise (`step_rms`) in its band."""
    nyq = fs / 2
    edges = [min(f, 0.45 * fs) / nyq for f in edges_hz]
    sos = butter(2, edges if len(edges) > 1 else edges[0], btype=btype, output="sos")
    width = edges[1] - edges[0] if len(edges) > 1 else edges[0]
    return Sos(sos), NoiseFloor(fs, step_rms * np.sqrt(width), sos)


def quantisation_rms(step_uv: float | None) -> float:
    """RMS of the rounding noise of an ADC with this step (uniform over one step). A coarse
    converter (a 10-bit board: about 10 uV per count) leaves most samples of quiet signal
    on one value, where the quantile-based floor below would read almost no noise."""
    return float(step_uv) / np.sqrt(12.0) if step_uv else 0.0


def positive_half_rms(x: np.ndarray) -> np.ndarray:
    """Noise RMS of each row from the upper half of its distribution only (for Gaussian
    noise the median deviation above the median is 0.674 RMS), so negative-going end-plate
    noise and sparse potentials do not inflate it. That median deviation is the distance
    from the 50th to the 75th percentile: one partial sort."""
    n = x.shape[-1]
    if n < 4:
        return np.zeros(x.shape[:-1])
    k50, k75 = (n - 1) // 2, (3 * (n - 1)) // 4
    part = np.partition(x, (k50, k75), axis=-1)
    return (part[..., k75] - part[..., k50]) / 0.6745


class Detector:
    """Streams a filtered signal; yields candidate peak indices (absolute sample indices)
    once `lookahead` samples after them have arrived."""

    def __init__(self, fs: float, lookahead_s: float, step_uv: float | None = None):
        self.fs = fs
        # Quantisation noise is white: each branch's floor keeps the share of it in its band.
        q = quantisation_rms(step_uv)
        self.band, self.floor = _branch(fs, "bandpass", DETECT_BAND_HZ, q)
        # The shape branch keeps slow phases (no extra high-pass): phases are read there.
        self.shape, self.shape_floor = _branch(fs, "lowpass", (SHAPE_LOWPASS_HZ,), q)
        self.sharp_wave, self.sharp_wave_floor = _branch(fs, "bandpass", SHARP_WAVE_BAND_HZ, q)
        self.slow, self.slow_floor = _branch(fs, "lowpass", (SLOW_LOWPASS_HZ,), q)
        self.refractory = max(int(REFRACTORY_S * fs), 1)
        self.dominance = max(int(DOMINANCE_S * fs), 1)
        self.lookahead = int(lookahead_s * fs)
        # absolute indices from which candidates are still to be found, in each branch
        self.scanned = self.sharp_wave_scanned = 0
        # Sharp-wave candidates not yet final, and the detection branch's that may lie near
        self._waiting: list[int] = []
        self._found: deque[int] = deque()

    def smooth(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        """(detection branch, shape branch, sharp-wave branch, slow branch) for a chunk of
        the filtered signal."""
        branches = (self.band.process(x), self.shape.process(x), self.sharp_wave.process(x),
                    self.slow.process(x))
        push_together((self.floor, self.shape_floor, self.sharp_wave_floor, self.slow_floor),
                      branches)
        return branches

    def candidates(self, d: np.ndarray, d0: int) -> np.ndarray:
        """Candidates in the smoothed buffer `d` (whose first sample is absolute index d0)
        that are now final: those with enough signal after them to be judged, and above
        `THRESHOLD` times the floor in force where they are."""
        idx, self.scanned = self._peaks(d, d0, self.floor, self.scanned, positive=False)
        return idx

    def sharp_wave_candidates(self, w: np.ndarray, d0: int, found: np.ndarray) -> np.ndarray:
        """Positive candidates in the sharp-wave branch `w` (same indexing as
        `candidates`, called after it with what it `found`) that lie more than DOMINANCE_S
        from every candidate of the detection branch (those are the same potentials, or
        phases of them)."""
        new, self.sharp_wave_scanned = self._peaks(w, d0, self.sharp_wave_floor,
                                                   self.sharp_wave_scanned, positive=True)
        # Chunks end anywhere: one waits until the detection branch has been scanned
        # DOMINANCE_S past it, and is judged against what was found on either side. A few
        # at a time: plain Python.
        near = self._found
        near.extend(found.tolist())
        ready = []
        if new.size or self._waiting:
            waiting = [c for c in self._waiting + new.tolist()
                       if all(abs(c - f) > self.dominance for f in near)]
            final = self.scanned - self.dominance
            ready = [c for c in waiting if c < final]
            self._waiting = [c for c in waiting if c >= final]
        while near and near[0] < self.scanned - 2 * self.dominance:
            near.popleft()
        return np.array(ready, np.int64)

    def _wide(self, local: np.ndarray, lo: int, hi: int) -> np.ndarray:
        """The largest value within DOMINANCE_S of each index from lo to hi, from `local`
        (the largest within REFRACTORY_S): the widest of a few windows side by side, which
        costs a few element-wise maxima instead of a second sliding filter."""
        r, d = self.refractory, self.dominance
        centres = [*range(r - d, d - r, 2 * r + 1), d - r]
        wide = local[lo + centres[0]: hi + centres[0]]
        for c in centres[1:]:
            wide = np.maximum(wide, local[lo + c: hi + c])
        return wide

    def _peaks(self, d: np.ndarray, d0: int, floor: NoiseFloor, scanned: int,
               positive: bool) -> tuple[np.ndarray, int]:
        """The largest value within REFRACTORY_S that rises above THRESHOLD times `floor`
        and is not dwarfed within DOMINANCE_S, in the new stretch of branch `d` from
        `scanned` (only its positive values when `positive`); and where the next scan
        starts."""
        end = d0 + d.size
        stop = end - max(self.lookahead, self.dominance)
        start = max(scanned, d0 + self.dominance)
        if stop <= start:
            return np.zeros(0, np.int64), scanned
        # Only the new stretch, with the margin the widest window needs on either side.
        base = start - d0 - self.dominance
        a = np.abs(d[base: stop - d0 + self.dominance])
        lo, hi = self.dominance, self.dominance + (stop - start)
        seg = np.maximum(d[base + lo: base + hi], 0.0) if positive else a[lo:hi]
        above = seg > THRESHOLD * floor.over(start, stop)
        if not above.any():
            return np.zeros(0, np.int64), stop  # most live chunks: the filters below cost more
        local = maximum_filter1d(a, 2 * self.refractory + 1)
        keep = above & (seg == local[lo:hi]) & (seg * DOMINANCE >= self._wide(local, lo, hi))
        idx = np.flatnonzero(keep) + lo + base
        # Plateaus (clipping) give runs of equal maxima: keep the first of each run.
        if idx.size > 1:
            idx = idx[np.r_[True, np.diff(idx) > self.refractory]]
        return idx + d0, stop
