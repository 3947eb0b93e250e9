"""The physiological generator's sources and renderer: fibres and motor units from
devices/physio/fibre.py, firing as docs/physio-generator.md says, summed with amplifier
noise and hum into samples, with the ground truth of every potential.

Independent of devices/simulator (its own waveforms, firing, noise and renderer). Every
number below is in the parameter table of docs/physio-generator.md (with its source or
marked a modelling choice); the table was fixed before the analyser was run on this
generator. Determinism: each source draws from its own stream keyed by (seed, source),
and the renderer works in fixed blocks, so the samples do not depend on how they are read.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
from scipy import signal

from devices.physio.fibre import Fibre, mepp, sfap

FINE_HZ = 200_000.0  # templates are made on a grid at least this fine, then sampled
BLOCK_S = 0.1  # the renderer's fixed block
LOOKAHEAD_S = 0.2  # events are pulled this far past the block (longer than any template)
AMP_LOWPASS_HZ = 10_000.0  # the amplifier's low-pass (below 0.4 fs at low rates)
NEAR_MM = 0.5  # a unit's fibres nearer than this are jittered one by one
UNIT_REACH_MM = 2.5  # a unit's fibres further than this are left out


def log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def truncated_normal(rng: np.random.Generator, mean: float, sd: float, lo: float,
                     hi: float) -> float:
    while True:
        x = rng.normal(mean, sd)
        if lo <= x <= hi:
            return float(x)


# templates ---------------------------------------------------------------------------------

class Grid:
    """The output rate and the fine grid templates are made on (an integer multiple)."""

    def __init__(self, fs: float):
        self.fs = float(fs)
        self.os = max(1, int(math.ceil(FINE_HZ / fs)))
        self.fine_hz = self.fs * self.os
        self.dt_ms = 1e3 / self.fine_hz
        cutoff = min(AMP_LOWPASS_HZ, 0.4 * fs)
        self._sos = signal.butter(2, cutoff, fs=self.fine_hz, output="sos")

    def amplifier(self, wave: np.ndarray) -> np.ndarray:
        """The amplifier's anti-aliasing low-pass (causal), on the fine grid."""
        padded = np.concatenate([wave, np.zeros(int(0.002 * self.fine_hz))])
        return signal.sosfilt(self._sos, padded)

    def fibre(self, f: Fibre) -> np.ndarray:
        return sfap(f, self.dt_ms)


@dataclass
class Fire:
    """One potential to render: fine-grid waveform starting at t (s); kind None for parts of a
    segment (end-plate noise, insertional activity) that are not scored one by one."""

    t: float
    wave: np.ndarray
    kind: str | None = None
    train: int | None = None


# firing patterns ---------------------------------------------------------------------------

def regular_times(rng: np.random.Generator, rate_hz: float, cv: float, start: float,
                  drift: float) -> Iterator[float]:
    """A pacemaker: intervals of 1/rate with Gaussian scatter cv, the rate drifting slowly
    (a random walk of `drift` per second, relative)."""
    t = start
    rate = rate_hz
    while True:
        isi = 1.0 / rate
        t += max(isi * (1 + cv * rng.normal()), 0.2 * isi)
        rate = float(np.clip(rate * (1 + drift * math.sqrt(isi) * rng.normal()),
                             0.5 * rate_hz, 1.5 * rate_hz))
        yield t


def gamma_times(rng: np.random.Generator, rate_hz: float, cv: float, start: float
                ) -> Iterator[float]:
    """Irregular firing: gamma-distributed intervals with mean 1/rate and the given CV."""
    k = 1.0 / cv ** 2
    t = start
    while True:
        t += rng.gamma(k, 1.0 / (k * rate_hz))
        yield t


# sources -----------------------------------------------------------------------------------

class Source:
    """Yields Fires in time order."""

    def fires(self) -> Iterator[Fire]:
        raise NotImplementedError


class Trains:
    """Train ids and segments of truth, shared by a recording's sources."""

    def __init__(self):
        self.kinds: list[str] = []
        self.segments: list[dict] = []

    def new(self, kind: str) -> int:
        self.kinds.append(kind)
        return len(self.kinds)


class FibreTrain(Source):
    """A single fibre firing on its own: fibrillation (regular), positive sharp wave
    (blocked at the needle, regular), end-plate spike (at the end plate, irregular)."""

    def __init__(self, grid: Grid, trains: Trains, rng: np.random.Generator, kind: str):
        self.rng = rng
        self.kind = kind
        self.train = trains.new(kind)
        d = truncated_normal(rng, 55, 9, 25, 90)
        if kind == "fibrillation":
            fibre = Fibre(d, log_uniform(rng, 0.3, 1.2), _off_end_plate(rng),
                          *_half_lengths(rng), theta=_theta(rng))
            self.times = regular_times(rng, log_uniform(rng, 0.5, 15), rng.uniform(0.005, 0.03),
                                       rng.uniform(0, 1.0), rng.uniform(0.0, 0.05))
        elif kind == "positive_sharp_wave":
            z_ep = _off_end_plate(rng)
            block = math.copysign(rng.uniform(0.0, 0.2), -z_ep)  # just short of the tip
            fibre = Fibre(d, log_uniform(rng, 0.3, 1.2), z_ep, *_half_lengths(rng),
                          block_mm=block, tau_block_ms=rng.uniform(4, 10),
                          block_hold=rng.uniform(0.2, 0.4), theta=_theta(rng))
            self.times = regular_times(rng, log_uniform(rng, 0.5, 15), rng.uniform(0.005, 0.03),
                                       rng.uniform(0, 1.0), rng.uniform(0.0, 0.05))
        else:  # end_plate_spike
            fibre = Fibre(d, log_uniform(rng, 0.25, 0.6), rng.uniform(-0.3, 0.3),
                          *_half_lengths(rng), theta=_theta(rng))
            self.times = gamma_times(rng, log_uniform(rng, 5, 50), rng.uniform(0.5, 1.0),
                                     rng.uniform(0, 0.2))
        self.wave = grid.amplifier(grid.fibre(fibre))

    def fires(self) -> Iterator[Fire]:
        for t in self.times:
            yield Fire(t, self.wave, self.kind, self.train)


def _off_end_plate(rng: np.random.Generator) -> float:
    """The end plate's axial position relative to the tip, off the end-plate zone."""
    return float(rng.choice((-1, 1)) * rng.uniform(3.0, 25.0))


def _theta(rng: np.random.Generator) -> float:
    """The fibre's direction from the core, against the shaft (not behind the tip)."""
    return float(rng.uniform(0.5, 2 * math.pi - 0.5))


def _half_lengths(rng: np.random.Generator) -> tuple[float, float]:
    return float(rng.uniform(30, 60)), float(rng.uniform(30, 60))


class MotorUnit:
    """A unit's fibres around the tip: a territory (circle) holding its fibres at random,
    each with its own diameter, end plate, half-lengths and fixed branch delay; the far
    fibres summed once, the near ones kept apart for their jitter."""

    def __init__(self, grid: Grid, rng: np.random.Generator, centre_mm: tuple[float, float],
                 territory_mm: float, n_fibres: int, jitter_us: float):
        self.grid = grid
        self.rng = rng
        self.jitter_s = jitter_us * 1e-6
        radius = territory_mm / 2
        ep_centre = rng.uniform(-3, 3)  # the unit's end-plate band against the tip
        far = None
        self.near: list[tuple[float, np.ndarray]] = []
        for _ in range(n_fibres):
            rr = radius * math.sqrt(rng.random())
            th = rng.uniform(0, 2 * math.pi)
            x = centre_mm[0] + rr * math.cos(th)
            y = centre_mm[1] + rr * math.sin(th)
            dist = max(math.hypot(x, y), 0.05)  # the needle's own surface
            z_ep = ep_centre + rng.normal(0, 1.5)
            d = truncated_normal(rng, 55, 9, 25, 90)
            delay = rng.uniform(0, 0.6e-3)  # terminal branch and end-plate delays
            halves = _half_lengths(rng)
            if dist > UNIT_REACH_MM:
                continue
            theta = math.atan2(y, x)  # the shaft runs along +x from the core
            wave = _delayed(grid.fibre(Fibre(d, dist, z_ep, *halves, theta=theta)), delay, grid)
            if dist < NEAR_MM:
                self.near.append((delay, wave))
            else:
                far = wave if far is None else _add(far, wave)
        self.far = far if far is not None else np.zeros(1)
        self.n_in_reach = len(self.near) + (0 if far is None else 1)

    def firing(self) -> np.ndarray:
        """One discharge's waveform (fine grid, amplifier applied), with fresh jitter."""
        out = self.far
        for _, wave in self.near:
            shift = int(round(self.rng.normal(0, self.jitter_s) * self.grid.fine_hz))
            out = _add(out, np.roll(np.pad(wave, (abs(shift), abs(shift))), shift))
        return self.grid.amplifier(out)


def _delayed(wave: np.ndarray, delay_s: float, grid: Grid) -> np.ndarray:
    return np.concatenate([np.zeros(int(round(delay_s * grid.fine_hz))), wave])


def _add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    n = max(a.size, b.size)
    out = np.zeros(n)
    out[:a.size] += a
    out[:b.size] += b
    return out


@dataclass
class Pool:
    """Motor units with exponentially spaced recruitment thresholds (Fuglevand et al. 1993)
    and their rate coding with effort."""

    units: list[MotorUnit]
    thresholds: list[float]
    trains: list[int]
    rate_cv: float = 0.15
    peak_hz: list[float] = field(default_factory=list)


def make_pool(grid: Grid, trains: Trains, rng: np.random.Generator, n_units: int,
              kind: str = "muap", spread_mm: float = 6.0) -> Pool:
    units, thresholds, ids, peaks = [], [], [], []
    for i in range(n_units):
        share = i / max(n_units - 1, 1)
        thr = 0.01 * (60.0 ** share)  # 1 % to 60 % of maximum effort, exponentially
        n_fibres = int(round(200 * (4.0 ** share)))  # larger units recruited later
        r = spread_mm * math.sqrt(rng.random())
        th = rng.uniform(0, 2 * math.pi)
        units.append(MotorUnit(grid, rng, (r * math.cos(th), r * math.sin(th)),
                               rng.uniform(5, 10), n_fibres, rng.uniform(10, 25)))
        thresholds.append(thr)
        ids.append(trains.new(kind))
        peaks.append(35.0 - 10.0 * share)  # earlier units reach higher rates
    return Pool(units, thresholds, ids, peak_hz=peaks)


class VoluntaryUnits(Source):
    """Recruitment and rate coding: a unit fires once effort passes its threshold, at 8 Hz
    rising by 40 Hz per unit of effort above it, up to its peak rate; intervals scattered
    with CV 0.1-0.2."""

    def __init__(self, pool: Pool, rng: np.random.Generator, effort: Callable[[float], float]):
        self.pool = pool
        self.rng = rng
        self.effort = effort
        self.cv = rng.uniform(0.1, 0.2)

    def _rate(self, i: int, t: float) -> float:
        above = self.effort(t) - self.pool.thresholds[i]
        if above < 0:
            return 0.0
        return min(8.0 + 40.0 * above, self.pool.peak_hz[i])

    def fires(self) -> Iterator[Fire]:
        nxt = [self.rng.uniform(0, 0.15) for _ in self.pool.units]
        while True:
            i = int(np.argmin(nxt))
            t = nxt[i]
            rate = self._rate(i, t)
            if rate <= 0:
                nxt[i] = t + 0.05  # look again later
                continue
            yield Fire(t, self.pool.units[i].firing(), "muap", self.pool.trains[i])
            isi = 1.0 / rate
            nxt[i] = t + max(isi * (1 + self.cv * self.rng.normal()), 0.3 * isi)


class Fasciculating(Source):
    """A whole unit discharging on its own, irregularly and slowly (Poisson)."""

    def __init__(self, grid: Grid, trains: Trains, rng: np.random.Generator, rate_hz: float):
        self.rng = rng
        self.unit = MotorUnit(grid, rng, _near_centre(rng), rng.uniform(5, 10),
                              int(round(log_uniform(rng, 200, 800))), rng.uniform(10, 25))
        self.train = trains.new("fasciculation")
        self.times = gamma_times(rng, rate_hz, 1.0, rng.uniform(0.5, 3.0))

    def fires(self) -> Iterator[Fire]:
        for t in self.times:
            yield Fire(t, self.unit.firing(), "fasciculation", self.train)


def _near_centre(rng: np.random.Generator) -> tuple[float, float]:
    r = 3.0 * math.sqrt(rng.random())
    th = rng.uniform(0, 2 * math.pi)
    return r * math.cos(th), r * math.sin(th)


class EndPlateNoise(Source):
    """Miniature end-plate potentials: monophasic negative, 10-50 uV, at a Poisson rate;
    declares the end_plate_noise segment over the whole recording."""

    def __init__(self, grid: Grid, trains: Trains, rng: np.random.Generator, rate_hz: float):
        self.rng = rng
        self.rate = rate_hz
        self.shapes = [grid.amplifier(mepp(grid.dt_ms, rng.uniform(0.05, 0.2),
                                           rng.uniform(0.1, 0.3), rng.uniform(0.4, 1.0)))
                       for _ in range(16)]
        trains.segments.append({"start": 0.0, "end": math.inf, "kind": "end_plate_noise"})

    def fires(self) -> Iterator[Fire]:
        t = 0.0
        while True:
            t += self.rng.exponential(1.0 / self.rate)
            shape = self.shapes[int(self.rng.integers(len(self.shapes)))]
            yield Fire(t, shape * log_uniform(self.rng, 10, 50), None)


class Myotonic(Source):
    """Myotonic discharges: one fibre (fibrillation- or sharp-wave-shaped) firing at 20-150
    Hz, its rate and amplitude waxing and waning over 0.5-3 s; discharges recur."""

    def __init__(self, grid: Grid, trains: Trains, rng: np.random.Generator):
        self.grid = grid
        self.trains = trains
        self.rng = rng

    def fires(self) -> Iterator[Fire]:
        rng = self.rng
        t = rng.uniform(0.3, 2.0)
        while True:
            kind = "positive_sharp_wave" if rng.random() < 0.5 else "fibrillation"
            wave = FibreTrain(self.grid, Trains(), rng, kind).wave
            train = self.trains.new("myotonic_discharge")
            length = rng.uniform(0.5, 3.0)
            f_hi, f_lo = rng.uniform(60, 150), rng.uniform(20, 50)
            waning = rng.random() < 0.7
            start = t
            while t < start + length:
                x = (t - start) / length
                shape = (1 - x) if waning else math.sin(math.pi * x)  # wane, or wax then wane
                rate = f_lo + (f_hi - f_lo) * shape
                gain = 0.5 + 0.5 * shape
                yield Fire(t, wave * gain, "myotonic_discharge", train)
                t += 1.0 / rate
            t += rng.uniform(2.0, 8.0)


class Insertion(Source):
    """Needle movement: a baseline shift and a burst of injured fibres' discharges for
    50-300 ms after each move (the first at 0 s), declared insertional_activity."""

    def __init__(self, grid: Grid, trains: Trains, rng: np.random.Generator,
                 moves: Iterable[float]):
        self.grid = grid
        self.trains = trains
        self.rng = rng
        self.moves = moves

    def fires(self) -> Iterator[Fire]:
        rng, g = self.rng, self.grid
        for m in self.moves:
            length = rng.uniform(0.05, 0.3)
            tau = rng.uniform(0.03, 0.1)
            n = int(tau * 6 * g.fine_hz)
            shift = rng.uniform(50, 500) * rng.choice((-1, 1)) * np.exp(
                -np.arange(n) / (tau * g.fine_hz))
            burst = []
            for _ in range(int(rng.integers(5, 40))):
                f = Fibre(truncated_normal(rng, 55, 9, 25, 90), log_uniform(rng, 0.05, 0.5),
                          _off_end_plate(rng), *_half_lengths(rng), theta=_theta(rng))
                burst.append((m + rng.uniform(0, length), g.amplifier(g.fibre(f))))
            # The segment lasts while what the move set off lasts: the discharges fired
            # within `length` peak later (their end plates lie 3-25 mm away) and the shift
            # decays over a few tau.
            end = max([m + length, m + 3 * tau] + [t + w.size / g.fine_hz for t, w in burst])
            self.trains.segments.append({"start": m, "end": end, "kind": "insertional_activity"})
            yield Fire(m, g.amplifier(shift), None)
            for t, w in sorted(burst, key=lambda b: b[0]):
                yield Fire(t, w, None)


# the renderer ------------------------------------------------------------------------------

@dataclass
class Truth:
    """What was rendered: potentials (t of the largest absolute peak, kind, peak-to-peak
    amplitude, duration, first phase, train), segments, clipped stretches (none here)."""

    fs: float
    events: list[dict] = field(default_factory=list)
    segments: list[dict] = field(default_factory=list)
    clipped: list[dict] = field(default_factory=list)
    trains: list[dict] = field(default_factory=list)


class Renderer:
    def __init__(self, grid: Grid, sources: list[Source], trains: Trains, seed: int,
                 noise_uv: float, mains_hz: float, hum_uv: float):
        self.grid = grid
        self.trains = trains
        self.seed = seed
        self.noise_uv = noise_uv
        self.mains_hz = mains_hz
        self.hum_uv = hum_uv
        self.block = int(round(BLOCK_S * grid.fs))
        self.k = 0
        self._iters = [s.fires() for s in sources]
        self._next: list[Fire | None] = [next(it, None) for it in self._iters]
        self._active: list[tuple[int, np.ndarray]] = []
        self.events: list[dict] = []
        self._hum_phase = np.random.default_rng([seed, 2]).uniform(0, 2 * math.pi, 3)

    def _place(self, fire: Fire) -> None:
        g = self.grid
        t_fine = int(round(fire.t * g.fine_hz))
        n0 = -(-t_fine // g.os)
        samples = fire.wave[n0 * g.os - t_fine::g.os]
        if samples.size == 0:
            return
        self._active.append((n0, samples))
        if fire.kind is not None:
            i = int(np.argmax(np.abs(samples)))
            big = np.flatnonzero(np.abs(samples) >= 0.1 * abs(samples[i]))
            on = np.flatnonzero(np.abs(samples) >= 0.05 * abs(samples[i]))
            self.events.append({
                "t": round((n0 + i) / g.fs, 6), "index": n0 + i, "kind": fire.kind,
                "amplitude_uv": round(float(samples.max() - samples.min()), 2),
                "duration_ms": round(float((on[-1] - on[0]) / g.fs * 1e3), 3),
                "initial": "positive" if samples[big[0]] > 0 else "negative",
                "train": fire.train})

    def render_block(self) -> np.ndarray:
        start = self.k * self.block
        end = start + self.block
        until = end / self.grid.fs + LOOKAHEAD_S
        for s, fire in enumerate(self._next):
            while fire is not None and fire.t < until:
                self._place(fire)
                fire = next(self._iters[s], None)
            self._next[s] = fire
        out = self._noise() + self._hum(start, end)
        keep = []
        for n0, x in self._active:
            lo, hi = max(n0, start), min(n0 + x.size, end)
            if lo < hi:
                out[lo - start:hi - start] += x[lo - n0:hi - n0]
            if n0 + x.size > end:
                keep.append((n0, x))
        self._active = keep
        self.k += 1
        return out

    def _noise(self) -> np.ndarray:
        if self.noise_uv <= 0:
            return np.zeros(self.block)
        return np.random.default_rng([self.seed, 1, self.k]).normal(0, self.noise_uv,
                                                                     self.block)

    def _hum(self, start: int, end: int):
        if self.mains_hz <= 0 or self.hum_uv <= 0:
            return 0.0
        w = 2 * math.pi * self.mains_hz * np.arange(start, end) / self.grid.fs
        p = self._hum_phase
        return self.hum_uv * (np.sin(w + p[0]) + 0.25 * np.sin(3 * w + p[1])
                              + 0.1 * np.sin(5 * w + p[2]))

    def truth(self, done: int) -> Truth:
        fs = self.grid.fs
        events = sorted((e for e in self.events if e["index"] < done), key=lambda e: e["t"])
        segments = sorted(({**s, "end": min(s["end"], done / fs)} for s in self.trains.segments
                           if s["start"] * fs < done), key=lambda s: (s["start"], s["kind"]))
        counts: dict[int, int] = {}
        for e in events:
            counts[e["train"]] = counts.get(e["train"], 0) + 1
        trains = [{"id": i, "kind": k, "count": counts[i]}
                  for i, k in enumerate(self.trains.kinds, 1) if i in counts]
        return Truth(fs, events, segments, [], trains)
