"""Waveforms of needle EMG potentials as sums of smooth lobes in continuous time.

Shapes are built from the figures in shared/reference/needle-emg.md (phases, polarity,
duration) and then *measured* on a fine grid: the ground truth reports what the template
really is (peak-to-peak amplitude, duration, rise time, time of the largest peak), never the
nominal numbers it was built from. Times are in seconds, amplitudes in microvolts; positive
means the active electrode went positive.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_FINE_FS = 400_000.0  # measuring grid: 2.5 us, finer than any rise time we report
DURATION_THRESHOLD = 0.05  # a phase counts from where |v| first exceeds 5 % of peak-to-peak
_SQRT_2PI = float(np.sqrt(2 * np.pi))


@dataclass(frozen=True)
class Lobe:
    """One smooth phase. `decay` > 0 makes it rise like a Gaussian and fall exponentially
    (a sharp positive wave's or a miniature end-plate potential's shape)."""

    amp: float
    center: float
    width: float
    decay: float = 0.0

    def __call__(self, t: np.ndarray) -> np.ndarray:
        x = t - self.center
        if self.decay <= 0:
            return self.amp * np.exp(-0.5 * (x / self.width) ** 2)
        rise = np.exp(-0.5 * (np.minimum(x, 0.0) / self.width) ** 2)
        fall = np.exp(-np.maximum(x, 0.0) / self.decay)
        return self.amp * rise * fall

    @property
    def area(self) -> float:
        if self.decay <= 0:
            return self.amp * self.width * _SQRT_2PI
        return self.amp * (self.width * _SQRT_2PI / 2 + self.decay)

    @property
    def support(self) -> tuple[float, float]:
        tail = 7 * self.decay if self.decay > 0 else 4.5 * self.width
        return self.center - 4.5 * self.width, self.center + tail


class Shape:
    """A potential template: lobes scaled to a peak-to-peak amplitude, with its measures."""

    def __init__(self, lobes: list[Lobe], pp_uv: float):
        raw = _Sum(lobes)
        t = raw.grid()
        v = raw(t)
        scale = pp_uv / (v.max() - v.min())
        self.lobes = [Lobe(lb.amp * scale, lb.center, lb.width, lb.decay) for lb in lobes]
        self.start, self.end = raw.support
        m = measure(t, v * scale)
        self.pp_uv = m["pp_uv"]
        self.peak_offset = m["peak_offset"]
        self.duration_ms = m["duration_ms"]
        self.rise_us = m["rise_us"]
        self.initial = m["initial"]

    def __call__(self, t: np.ndarray) -> np.ndarray:
        out = np.zeros_like(t)
        for lobe in self.lobes:
            out += lobe(t)
        return out


class _Sum:
    def __init__(self, lobes: list[Lobe]):
        self.lobes = lobes
        starts, ends = zip(*(lb.support for lb in lobes), strict=True)
        self.support = (min(starts), max(ends))

    def grid(self) -> np.ndarray:
        a, b = self.support
        return np.arange(a, b, 1.0 / _FINE_FS)

    def __call__(self, t: np.ndarray) -> np.ndarray:
        return sum(lb(t) for lb in self.lobes)


def measure(t: np.ndarray, v: np.ndarray) -> dict:
    """Clinical measures of one noiseless potential sampled at times t."""
    pp = float(v.max() - v.min())
    ipeak = int(np.argmax(np.abs(v)))
    above = np.flatnonzero(np.abs(v) > DURATION_THRESHOLD * pp)
    first, last = above[0], above[-1]
    # Rise time as EMG machines measure it: from the positive peak that precedes the main
    # negative peak to that negative peak (or from the onset when nothing precedes it).
    ineg = int(np.argmin(v))
    ipos = int(np.argmax(v[: ineg + 1])) if ineg > first else first
    if v[ipos] <= v[first]:
        ipos = first
    return {
        "pp_uv": pp,
        "peak_offset": float(t[ipeak]),
        "duration_ms": float(t[last] - t[first]) * 1e3,
        "rise_us": float(t[ineg] - t[ipos]) * 1e6,
        "initial": "positive" if v[first] > 0 else "negative",
    }


def _fit_duration(build, duration_s: float) -> list[Lobe]:
    """Lobes from `build(d)` whose measured duration is `duration_s` within 0.5 %. Most
    widths scale with d, so a few proportional corrections converge."""
    d = duration_s
    for _ in range(5):
        got = Shape(build(d), 1.0).duration_ms / 1e3
        if abs(got - duration_s) <= 0.005 * duration_s:
            break
        # Bounded, so a shape whose duration does not follow d cannot run away.
        d = min(max(d * duration_s / got, 0.25 * duration_s), 4.0 * duration_s)
    return build(d)


# The potentials ------------------------------------------------------------------------


def fibrillation(rng: np.random.Generator, pp_uv: float, duration_ms: float) -> Shape:
    """Bi- or triphasic spike of a single denervated fibre: small initial positive phase,
    main negative spike, optional terminal positive phase."""
    a1 = rng.uniform(0.25, 0.5)
    a3 = rng.uniform(0.0, 0.4)

    def build(d: float) -> list[Lobe]:
        return [Lobe(a1, -0.2 * d, 0.07 * d), Lobe(-1.0, 0.0, 0.055 * d),
                Lobe(a3, 0.2 * d, 0.09 * d)]

    return Shape(_fit_duration(build, duration_ms / 1e3), pp_uv)


def positive_sharp_wave(rng: np.random.Generator, pp_uv: float, duration_ms: float) -> Shape:
    """Sharp positive deflection, then a long shallow negative phase with no negative spike.
    The negative phase is sized so the potential's area is close to zero, as a volume-
    conducted potential's is."""
    rise = rng.uniform(0.25e-3, 0.5e-3)
    decay = rng.uniform(1.0e-3, 2.0e-3)
    balance = rng.uniform(0.8, 1.1)  # 1.0: the negative phase cancels the positive area

    def build(d: float) -> list[Lobe]:
        width = 0.17 * d
        depth = (rise * 1.25 + decay) / (width * 2.5) * balance
        return [Lobe(1.0, 0.0, rise, decay), Lobe(-depth, 0.12 * d + 2 * width, width)]

    return Shape(_fit_duration(build, duration_ms / 1e3), pp_uv)


def end_plate_spike(rng: np.random.Generator, pp_uv: float, duration_ms: float) -> Shape:
    """Biphasic spike with an initial negative phase (a fibre discharged at its end plate,
    so the potential starts under the needle)."""
    a2 = rng.uniform(0.45, 0.8)

    def build(d: float) -> list[Lobe]:
        return [Lobe(-1.0, 0.0, 0.075 * d), Lobe(a2, 0.22 * d, 0.12 * d)]

    return Shape(_fit_duration(build, duration_ms / 1e3), pp_uv)


def miniature_end_plate(rng: np.random.Generator, pp_uv: float) -> Shape:
    """Monophasic negative potential of end-plate noise: fast rise, short decay."""
    return Shape([Lobe(-1.0, 0.0, rng.uniform(0.08e-3, 0.16e-3),
                       rng.uniform(0.2e-3, 0.45e-3))], pp_uv)


def motor_unit(rng: np.random.Generator, pp_close_uv: float, duration_ms: float,
               distance_mm: float, polyphasic: bool = False) -> Shape:
    """A motor unit potential seen from `distance_mm` outside the unit's territory.

    Close (0 mm) the main spike rises in about 250 us; at 0.3 mm about 500 us (the edge of
    "crisp"); beyond 1 mm it is a blunt potential of tens of microvolts. The slow initial and
    terminal phases, which set the duration, fade less with distance than the spike, so far
    units look broad and low.
    """
    d = max(distance_mm, 0.0)
    r = (250 + 900 * d) * 1e-6  # nominal rise time of the main spike
    amp = pp_close_uv / (1 + (d / 0.3) ** 2)
    slow = 0.12 * (1 + 1.5 * d)
    seed = rng.uniform(0.8, 1.2, size=3)
    satellites = []
    if polyphasic:
        for _ in range(rng.integers(1, 4)):
            offset = rng.uniform(1.5, 3.5) * r + rng.uniform(0.3e-3, 1.5e-3)
            satellites.append(Lobe(rng.choice([-1, 1]) * rng.uniform(0.2, 0.35), offset,
                                   0.35 * r))

    def build(dur: float) -> list[Lobe]:
        lobes = [
            Lobe(slow * seed[0], -r - 0.16 * dur, 0.09 * dur),  # initial positive phase
            Lobe(0.35 * seed[1], -r, 0.38 * r),  # positive peak before the spike
            Lobe(-1.0, 0.0, 0.45 * r),  # main negative spike
            Lobe(0.45 * seed[2], 1.3 * r, 0.8 * r),  # positive after-phase
            *satellites,
        ]
        # A volume-conducted potential has about zero net area: the slow terminal phase
        # takes whatever area balances the rest, so the baseline does not sag.
        width = 0.1 * dur
        return [*lobes, Lobe(-sum(lb.area for lb in lobes) / (width * _SQRT_2PI),
                             1.3 * r + 0.14 * dur, width)]

    return Shape(_fit_duration(build, duration_ms / 1e3), amp)


def injury_spike(rng: np.random.Generator, pp_uv: float) -> Shape:
    """One of the varied spikes of insertional activity: either polarity, 1-6 ms."""
    dur = rng.uniform(1.0, 6.0)
    maker = [fibrillation, end_plate_spike][int(rng.integers(0, 2))]
    return maker(rng, pp_uv, dur)
