"""A streaming resampler whose ratio may change between chunks: the audio path turns the
amplifier's rate into the sound card's and, by nudging the ratio, absorbs the drift between
their two clocks.

It is a polyphase interpolator. The prototype is a Kaiser-windowed sinc whose cut-off sits
at the lower of the two Nyquist frequencies, with its transition band above 0.92 of it: the
passband is flat (well under 0.1 dB) to 0.9 x Nyquist, and what lies beyond Nyquist (the
images an upsampler makes, or what a downsampler would fold back) is cut by 40-60 dB.

The prototype is then made minimum-phase: same magnitude, but causal, so an output needs
no input sample after its own position. A linear-phase kernel of 32 taps would hold every
output back until 16 later samples arrived (0.8 ms at 20 kHz, 1.6 ms at 10 kHz), and the
last 16 samples of each chunk until the next chunk: the largest part of the audio delay.
The minimum-phase kernel delays by its group delay only, about 2 input samples in the EMG
band (more near the cut-off); its ringing comes after a spike, not before it, which the ear
does not mind. A table holds the kernel at `PHASES` + 1 fractional offsets; an output
between two table rows is the linear blend of both, so the phase error is second order.

Positions are kept in fixed point (1/2**32 of an input sample) so that, at a fixed ratio,
resampling in chunks of any size gives the same samples, bit for bit, as in one go.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import signal

PHASES = 128  # table rows per input sample; blended linearly between rows
FRAC_BITS = 32
ONE = 1 << FRAC_BITS
TAPS_UP = 32  # kernel length in input samples when upsampling
PASS_EDGE = 0.92  # the transition band starts here, as a fraction of the lower Nyquist
STOP_EDGE = 1.08  # and ends here
KAISER_BETA = 5.65  # about 60 dB of stopband attenuation in the prototype


class Resampler:
    """`process(x)` takes input samples (1-D) and returns every output sample they complete.

    `scale` > 1 makes more output per input (the consumer is draining faster than nominal)."""

    def __init__(self, fs_in: float, fs_out: float, *, taps: int | None = None):
        if not (fs_in > 0 and fs_out > 0 and np.isfinite(fs_in) and np.isfinite(fs_out)):
            raise ValueError(f"sample rates must be positive and finite (got {fs_in}, {fs_out})")
        self.fs_in, self.fs_out = float(fs_in), float(fs_out)
        # The kernel's cut-off in units of the input's Nyquist: downsampling moves it down,
        # and the kernel must then span proportionally more input samples.
        self.cutoff = min(1.0, self.fs_out / self.fs_in)
        if taps is None:
            taps = int(np.ceil(TAPS_UP / self.cutoff / 2)) * 2
        self.taps = taps
        self.table, self.group_delay = kernel_table(self.cutoff, taps, PHASES)
        self.nominal_step = self.fs_in / self.fs_out  # input samples per output sample
        self.reset()

    def reset(self) -> None:
        """Forget the past: the next input starts from silence (after a gap in the stream)."""
        self._hist = np.zeros(self.taps, np.float64)
        # Position of the next output in the history buffer, fixed point: the first output
        # falls on the first input sample.
        self._pos = self.taps * ONE
        self.consumed = 0  # input samples ever taken (for mapping outputs to inputs)

    @property
    def delay_in(self) -> float:
        """Input samples an output lags its position: the kernel's low-frequency group
        delay."""
        return self.group_delay

    def process(self, x: np.ndarray, scale: float = 1.0) -> np.ndarray:
        out, _ = self.process_with_positions(x, scale)
        return out

    def process_with_positions(self, x: np.ndarray, scale: float = 1.0
                               ) -> tuple[np.ndarray, np.ndarray]:
        """(output samples, the input index each was interpolated at, counting from the first
        input sample ever given). The positions let callers map a sound back to the sample
        that made it, to measure delays and place clicks: an output's position is where
        it is interpolated less the kernel's group delay, so what it sounds like."""
        x = np.asarray(x, np.float64).ravel()
        step = int(round(self.nominal_step / scale * ONE))
        buf = np.concatenate((self._hist, x))
        # An output at position p needs buf[floor(p) - taps + 1 .. floor(p)].
        limit = len(buf) * ONE  # positions strictly below this are complete
        n = max(0, -(-(limit - self._pos) // step))
        pos = self._pos + step * np.arange(n, dtype=np.int64)
        whole = pos >> FRAC_BITS
        frac = (pos & (ONE - 1)).astype(np.float64) / ONE
        out = self._interpolate(buf, whole, frac)
        start = len(self._hist)  # buf index of x[0]
        positions = (self.consumed - start) + whole + frac - self.group_delay
        # Keep what the next outputs may still need, re-basing positions onto it.
        next_pos = self._pos + step * n
        keep_from = min((next_pos >> FRAC_BITS) - self.taps + 1, len(buf) - self.taps)
        self._hist = buf[keep_from:]
        self._pos = next_pos - keep_from * ONE
        self.consumed += len(x)
        return out, positions

    def _interpolate(self, buf: np.ndarray, whole: np.ndarray, frac: np.ndarray) -> np.ndarray:
        if whole.size == 0:
            return np.zeros(0, np.float64)
        idx = whole[:, None] - np.arange(self.taps)
        window = buf[idx]
        row = frac * PHASES
        lo = np.minimum(row.astype(np.int64), PHASES - 1)
        blend = (row - lo)[:, None]
        coef = self.table[lo] * (1.0 - blend) + self.table[lo + 1] * blend
        return (window * coef).sum(axis=1)


@functools.lru_cache(maxsize=8)
def kernel_table(cutoff: float, taps: int, phases: int) -> tuple[np.ndarray, float]:
    """(rows: the kernel for fractional offsets 0, 1/phases, ... 1, where column k weighs the
    input sample k before the output's whole part; the group delay in input samples at
    low frequencies). Each row sums to 1, so a constant passes unchanged."""
    n = taps * phases
    # Linear-phase prototype at `phases` x the input rate; cut-off mid-transition, as a
    # fraction of the input's Nyquist.
    fc = cutoff * (PASS_EDGE + STOP_EDGE) / 2
    t = (np.arange(n) - (n - 1) / 2) / phases
    proto = fc * np.sinc(fc * t) * np.kaiser(n, KAISER_BETA)
    h = signal.minimum_phase(proto, method="homomorphic", half=False)
    h = np.concatenate((h, [0.0]))  # the row for offset 1 reaches one step further
    rows = h[np.arange(phases + 1)[:, None] + phases * np.arange(taps)[None, :]]
    rows = rows / rows.sum(axis=1, keepdims=True)
    w, resp = signal.freqz(h[:-1], worN=[0.01 * np.pi / phases, 0.02 * np.pi / phases])
    delay = -np.diff(np.unwrap(np.angle(resp)))[0] / np.diff(w)[0] / phases
    return rows, float(delay)
