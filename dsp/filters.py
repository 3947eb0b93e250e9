"""Streaming filters for needle EMG: high-pass, low-pass, an optional mains hum canceller and
the chain the reader thread runs on every chunk.

Every filter carries its state across chunks, so filtering a signal in chunks of any size
(including empty chunks and single frames) gives the same numbers, bit for bit, as
filtering it in one go. `process(x)` takes microvolts of shape (n,) or (n, channels) and
returns the same shape: float32 in gives float32 out (the reader's chunks), anything else
gives float64; the arithmetic is float64 inside. The channel count is fixed by the first
non-empty chunk until `reset()`.

Bad data never raises: a non-finite sample is replaced by the last finite sample of its
channel (0 before any), a sample beyond +/-1 kV is clipped there, and both are counted in
`bad_samples`. Holding rather than zeroing keeps a DC offset from turning a dropout into a
step.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from dsp.sos import Sos

LIMIT_UV = 1e9  # 1 kV: far beyond any amplifier, small enough that no filter state overflows
MID_BAND_HZ = 1000.0  # where delay_s reports the group delay


class StreamFilter:
    """Shape, dtype and bad-sample handling shared by all filters; subclasses implement
    `_start(channels)`, `_run(x)` on float64 (n, channels) and `_clear()`."""

    def __init__(self, fs: float):
        self.fs = check_rate(fs)
        self.channels: int | None = None
        self.bad_samples = 0
        self._last: np.ndarray | None = None

    def process(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        out_dtype = np.float32 if x.dtype == np.float32 else np.float64
        x2 = self._as_2d(x)
        if len(x2) == 0:
            return np.zeros(x.shape, out_dtype)
        y = self._run(self._clean(x2))
        return y.reshape(x.shape).astype(out_dtype, copy=False)

    def reset(self) -> None:
        """Forget the signal: the next chunk starts a new stream (any channel count)."""
        self.channels = None
        self._last = None
        self.bad_samples = 0
        self._clear()

    @property
    def delay_s(self) -> float:
        return 0.0

    def _as_2d(self, x: np.ndarray) -> np.ndarray:
        if x.ndim not in (1, 2):
            raise ValueError(f"expected samples of shape (n,) or (n, channels), got {x.shape}")
        x2 = x[:, None] if x.ndim == 1 else x
        if len(x2) and self.channels is None:
            self.channels = x2.shape[1]
            self._last = np.zeros(self.channels)
            self._start(self.channels)
        if len(x2) and x2.shape[1] != self.channels:
            raise ValueError(f"{x2.shape[1]} channels in a stream of {self.channels}; reset() "
                             "before changing the channel count")
        return x2

    def _clean(self, x: np.ndarray) -> np.ndarray:
        """float64 copy with non-finite samples held at the last finite value, clipped."""
        x = np.array(x, dtype=np.float64)
        bad = ~np.isfinite(x)
        if bad.any():
            rows = np.where(bad, -1, np.arange(len(x))[:, None])
            np.maximum.accumulate(rows, axis=0, out=rows)
            held = x[np.maximum(rows, 0), np.arange(x.shape[1])]
            x = np.where(rows >= 0, held, self._last)
        over = np.abs(x) > LIMIT_UV
        # A sample held in place of a bad one is not counted again if it is over the limit.
        self.bad_samples += int(bad.sum() + (over & ~bad).sum())
        np.clip(x, -LIMIT_UV, LIMIT_UV, out=x)
        self._last = x[-1].copy()
        return x

    def _start(self, channels: int) -> None:
        pass

    def _run(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _clear(self) -> None:
        pass


def check_rate(fs: float) -> float:
    if not (np.isfinite(fs) and fs > 0):
        raise ValueError(f"sample rate must be positive, got {fs!r}")
    return float(fs)


class SosFilter(StreamFilter):
    """An IIR filter in second-order sections whose state is primed with the first sample as
    if it had always been there, so a DC offset does not start with a full-size step."""

    def __init__(self, fs: float, sos: np.ndarray):
        super().__init__(fs)
        self.sos = sos
        self._state: Sos | None = None

    def _run(self, x: np.ndarray) -> np.ndarray:
        if self._state is None:
            self._state = Sos(self.sos, x.shape[1])
            self._state.prime(x[0])
        return self._state.process(x)

    def _clear(self) -> None:
        self._state = None

    @property
    def delay_s(self) -> float:
        return sos_group_delay(self.sos, min(MID_BAND_HZ, 0.25 * self.fs), self.fs)


def sos_group_delay(sos: np.ndarray, hz: float, fs: float) -> float:
    """Group delay in seconds of a cascade of sections at one frequency."""
    samples = sum(signal.group_delay((s[:3], s[3:]), w=[hz], fs=fs)[1][0] for s in sos)
    return float(samples / fs)


class HighPass(SosFilter):
    """Butterworth high-pass (the EMG "low-frequency filter"), 2 to 20 Hz. Removes DC offset
    and movement wander; above 20 Hz it would start to distort MUAPs."""

    def __init__(self, fs: float, hz: float = 10.0, order: int = 2):
        check_rate(fs)
        if not 2.0 <= hz <= 20.0:
            raise ValueError(f"high-pass corner must be 2 to 20 Hz, got {hz!r}")
        super().__init__(fs, signal.butter(order, hz, "highpass", fs=fs, output="sos"))
        self.hz = float(hz)
        self.order = order


class LowPass(SosFilter):
    """Butterworth low-pass (the "high-frequency filter"). By default 10 kHz or 0.45 fs,
    whichever is lower. A corner above 0.49 fs is refused rather than silently moved, so a
    recording header never states a filter that was not applied."""

    def __init__(self, fs: float, hz: float | None = None, order: int = 4):
        check_rate(fs)
        hz = default_lowpass(fs) if hz is None else hz
        if not 0 < hz <= 0.49 * fs:
            raise ValueError(f"low-pass corner must be above 0 and at most 0.49 x fs "
                             f"({0.49 * fs:g} Hz at {fs:g} Hz), got {hz!r}")
        super().__init__(fs, signal.butter(order, hz, "lowpass", fs=fs, output="sos"))
        self.hz = float(hz)
        self.order = order


def default_lowpass(fs: float) -> float:
    return min(10000.0, 0.45 * fs)


class MainsCanceller(StreamFilter):
    """Adaptive mains hum canceller: subtracts a prediction of the hum (the mains fundamental
    and harmonics 2..`harmonics`) instead of notching those frequencies out of the EMG.

    The stream is cut into fixed blocks of about one mains cycle counted from its first
    sample, so chunking cannot move them. At the end of each block the amplitude and phase of
    every harmonic (and the drift of the fundamental's) are fitted by least squares to the
    last `window_s` of signal, on a box-car decimated copy that the fit models exactly; the
    fitted sinusoids, carried on at the tracked mains frequency, are subtracted from the next
    block. Only past samples are used: no delay. Samples more than `REJECT` robust SDs away
    from a first fit, and `GUARD_S` either side of them, are left out of the final fit, so
    that potentials barely leak into the hum estimate. The mains frequency (within 1 % of
    nominal) is tracked from the fitted drift of the fundamental's phase.
    """

    REJECT = 2.0  # leaves out the EMG bursts, keeps about half of plain noise
    GUARD_S = 0.004  # the rest of a potential around its large samples
    TREND = 1  # harmonics (from the fundamental, at least 1) whose phasor may drift linearly
    MIN_BLOCKS = 2  # blocks of signal before the first prediction
    FREQ_GAIN = 0.15  # share of a clean frequency reading taken per block
    FREQ_SNR = 60.0  # fundamental / its standard error at which a reading counts half
    FREQ_RANGE = 0.01

    def __init__(self, fs: float, mains_hz: float = 50, harmonics: int = 5,
                 window_s: float = 0.5):
        super().__init__(fs)
        if mains_hz not in (50, 60):
            raise ValueError(f"mains frequency must be 50 or 60 Hz, got {mains_hz!r}")
        ok = isinstance(harmonics, int) and harmonics >= 1
        top = (harmonics if ok else 1) * mains_hz * (1 + self.FREQ_RANGE)
        if not ok or top >= 0.45 * fs:
            raise ValueError(f"harmonics must be a count from 1 with the top one below "
                             f"0.45 x fs ({0.45 * fs:g} Hz), got {harmonics!r}")
        self.mains_hz = float(mains_hz)
        self.harmonics = np.arange(1, harmonics + 1)
        # 2 kHz is plenty for hum (and at least 4 samples per cycle of the top harmonic)
        self.decim = max(1, int(fs // max(2000.0, 4 * top)))
        self.block = self.decim * max(1, round(fs / mains_hz / self.decim))
        self.window_blocks = max(self.MIN_BLOCKS, round(window_s * fs / self.block))
        self._clear()

    def _clear(self) -> None:
        self.freq_hz = self.mains_hz  # tracked mains frequency
        self._blocks = 0  # blocks completed since the start
        self._filled = 0  # samples of the current block seen
        self._raw = self._pred = self._hist = None  # current block, its prediction, window
        self._model: tuple | None = None  # (centre, half width, phasors, drifts) of the fit

    def _start(self, channels: int) -> None:
        self._raw = np.zeros((self.block, channels))
        self._pred = np.zeros((self.block, channels))
        self._hist = np.zeros((0, channels))

    def _run(self, x: np.ndarray) -> np.ndarray:
        y = np.empty_like(x)
        i = 0
        while i < len(x):
            a = self._filled
            b = min(self.block, a + len(x) - i)
            self._raw[a:b] = x[i:i + b - a]
            y[i:i + b - a] = x[i:i + b - a] - self._pred[a:b]
            self._filled, i = b, i + b - a
            if b == self.block:
                self._end_block()
        return y

    def _end_block(self) -> None:
        d = self._raw.reshape(-1, self.decim, self._raw.shape[1]).mean(axis=1)
        self._hist = np.concatenate([self._hist, d])[-self.window_blocks * len(d):]
        self._blocks += 1
        self._filled = 0
        if len(self._hist) < self.MIN_BLOCKS * len(d):
            return
        n = len(self._hist)
        half = n * self.decim / 2
        centre = self._blocks * self.block - half
        basis = self._basis(n, centre, half)
        fits = [self._fit(basis, self._hist[:, ch]) for ch in range(self._hist.shape[1])]
        phasors, drifts, snr = (np.array(v) for v in zip(*fits, strict=True))
        self._track(phasors[:, 0], drifts[:, 0], half, float(snr.min()))
        self._model = (centre, half, phasors, drifts)
        self._pred = self._predict()

    def _omega(self) -> np.ndarray:
        """Angular frequency of each harmonic, radians per sample."""
        return 2 * np.pi * self.freq_hz / self.fs * self.harmonics

    def _basis(self, n: int, centre: float, half: float) -> np.ndarray:
        """Real and imaginary parts of each harmonic (time 0 at `centre`) as the box-car
        decimation sees them, the same times t / half for the drifting ones, then a constant
        and a ramp so that baseline wander is not taken for hum."""
        w = self._omega()
        t = self._blocks * self.block - (n - np.arange(n)) * self.decim - centre
        boxcar = np.exp(1j * np.outer(np.arange(self.decim), w)).mean(axis=0)
        z = np.exp(1j * np.outer(t, w)) * boxcar
        zt = z[:, :self.TREND] * (t / half)[:, None]
        return np.column_stack([z.real, -z.imag, zt.real, -zt.imag, np.ones(n),
                                np.linspace(-1, 1, n)])

    def _fit(self, basis: np.ndarray, x: np.ndarray):
        """(phasors, drifts, SNR of the fundamental) fitted without the outliers of a first
        least-squares fit."""
        r = x - basis @ _solve(basis, x)[:, 0]
        out = np.abs(r) > self.REJECT * 1.4826 * np.median(np.abs(r))
        g = max(1, round(self.GUARD_S * self.fs / self.decim))
        keep = np.convolve(out, np.ones(2 * g + 1), "same") == 0
        if keep.sum() < 4 * basis.shape[1]:  # hardly anything is quiet: use it all
            keep[:] = True
        k, m = len(self.harmonics), self.TREND
        sol = _solve(basis[keep], x[keep], extra=(0, k))
        fit = sol[:, 0]
        var = np.mean((x[keep] - basis[keep] @ fit) ** 2)
        se = np.sqrt(var * (sol[0, 1] + sol[k, 2])) + 1e-12
        phasors = fit[:k] + 1j * fit[k:2 * k]
        drifts = fit[2 * k:2 * k + m] + 1j * fit[2 * k + m:2 * k + 2 * m]
        return phasors, drifts, abs(phasors[0]) / se

    def _track(self, phasor: np.ndarray, drift: np.ndarray, half: float, snr: float) -> None:
        """Read the mains frequency error off the fitted drift of the fundamental's phase
        (radians per half window) and correct part of it, less when the fit was noisy."""
        turn = np.sum(drift * np.conj(phasor)) / (np.sum(np.abs(phasor) ** 2) + 1e-30)
        error_hz = turn.imag * self.fs / (2 * np.pi * half)
        gain = self.FREQ_GAIN * snr ** 2 / (snr ** 2 + self.FREQ_SNR ** 2)
        span = self.mains_hz * self.FREQ_RANGE
        f = np.clip(self.freq_hz + gain * error_hz, self.mains_hz - span, self.mains_hz + span)
        self.freq_hz = float(f)

    def _predict(self) -> np.ndarray:
        """The fitted hum over the next block, carried on at the tracked frequency."""
        centre, half, phasors, drifts = self._model
        t = self._blocks * self.block + np.arange(self.block) - centre
        z = np.exp(1j * np.outer(t, self._omega()))
        zt = z[:, :self.TREND] * (t / half)[:, None]
        return (np.einsum("nh,ch->nc", z, phasors) + np.einsum("nh,ch->nc", zt, drifts)).real


def _solve(a: np.ndarray, y: np.ndarray, extra: tuple[int, ...] = ()) -> np.ndarray:
    """Least squares by the normal equations (a few hundred rows, a dozen columns: cheaper
    than an SVD), with the columns of the inverse for `extra` indices appended, for standard
    errors. A whisker of ridge keeps a degenerate window (all samples left out but a few)
    solvable."""
    ata = a.T @ a
    ata[np.diag_indices_from(ata)] += 1e-9 * np.trace(ata) / len(ata) + 1e-30
    rhs = np.column_stack([y @ a] + [np.eye(len(ata))[e] for e in extra])
    return np.linalg.solve(ata, rhs)


class FilterChain(StreamFilter):
    """What the reader runs on every chunk: high-pass, then the mains canceller if asked
    (it sees no DC offset there), then low-pass."""

    def __init__(self, fs: float, highpass_hz: float = 10.0, lowpass_hz: float | None = None,
                 mains_hz: float | None = None):
        super().__init__(fs)
        self.highpass = HighPass(fs, highpass_hz)
        self.mains = MainsCanceller(fs, mains_hz) if mains_hz else None
        self.lowpass = LowPass(fs, lowpass_hz)
        self.stages = [s for s in (self.highpass, self.mains, self.lowpass) if s is not None]

    def _start(self, channels: int) -> None:
        for stage in self.stages:
            stage.channels = channels
            stage._last = np.zeros(channels)
            stage._start(channels)

    def _run(self, x: np.ndarray) -> np.ndarray:
        # The chain's input is cleaned once (bad samples held and counted); the stages'
        # outputs are finite and in range, so each stage runs without cleaning again.
        for stage in self.stages:
            x = stage._run(x)
        return x

    def _clear(self) -> None:
        for stage in self.stages:
            stage.reset()

    @property
    def delay_s(self) -> float:
        return sum(stage.delay_s for stage in self.stages)

    def describe(self) -> str:
        """The filters in a recording header's words, e.g. "HP 10 Hz, LP 9000 Hz"."""
        text = f"HP {self.highpass.hz:g} Hz, LP {self.lowpass.hz:g} Hz"
        if self.mains is not None:
            text += f", mains {self.mains.mains_hz:g} Hz canceller"
        return text
