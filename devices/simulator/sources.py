"""Generators of potentials: how each kind of activity fires in time.

Firing patterns follow shared/reference/needle-emg.md: fibrillations and positive sharp waves
fire very regularly (0.5-15 Hz) and may slow before they stop; end-plate spikes fire highly
irregularly (up to about 50 Hz); end-plate noise is dense and irregular; motor units fire
semi-regularly at 5-20 Hz, faster and more of them with effort; fasciculations are random
and slow; myotonic discharges wax and wane between 20 and 80 Hz.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterator

import numpy as np

from devices.simulator import shapes
from devices.simulator.engine import Pot, Source, World


class _Pending(Source):
    """A source that schedules potentials ahead (on a move) and yields them in order."""

    def __init__(self):
        self._pending: list[tuple[float, int, Pot]] = []
        self._n = 0

    def _schedule(self, pot: Pot) -> None:
        bisect.insort(self._pending, (pot.t, self._n, pot))
        self._n += 1

    def pots(self, world: World, until: float) -> Iterator[Pot]:
        while self._pending and self._pending[0][0] < until:
            yield self._pending.pop(0)[2]


class RegularTrain(Source):
    """A fibrillation or positive sharp wave train: one fibre, one shape, a steady rate.

    Episodes of firing alternate with pauses unless `persistent`; in the last seconds of an
    episode the rate may fall by up to a third before the train stops.
    """

    def __init__(self, world: World, rng: np.random.Generator, kind: str, shape: shapes.Shape,
                 rate_hz: float, cv: float, persistent: bool, start: float = 0.0):
        self.rng = rng
        self.kind = kind
        self.shape = shape
        self.rate = rate_hz
        self.cv = cv
        self.persistent = persistent
        self.train = world.new_train(kind)
        self.next_t = start + rng.uniform(0, 1 / rate_hz)
        self._new_episode(self.next_t)

    def _new_episode(self, start: float) -> None:
        if self.persistent:
            self.ep_end = math.inf
        else:
            self.ep_end = start + self.rng.uniform(4.0, 25.0)
        self.slowing = self.rng.uniform(0.0, 0.35) if self.rng.random() < 0.5 else 0.0

    def _rate_at(self, t: float) -> float:
        left = self.ep_end - t
        if self.slowing and left < 2.0:
            return self.rate * (1 - self.slowing * (1 - left / 2.0))
        return self.rate

    def pots(self, world: World, until: float) -> Iterator[Pot]:
        while self.next_t < until:
            t = self.next_t
            if t > self.ep_end:
                self.next_t = t + self.rng.uniform(1.0, 8.0)  # a pause, then it restarts
                self._new_episode(self.next_t)
                continue
            yield Pot(t, self.shape, self.rng.uniform(0.97, 1.03), self.kind, self.train)
            isi = 1 / self._rate_at(t)
            self.next_t = t + max(isi * (1 + self.cv * self.rng.standard_normal()), 0.002)


class Zone(_Pending):
    """Whether the needle tip sits in an end-plate zone (or a trigger point's active locus).

    Either it drifts in and out by itself (`wander`), or each needle move lands on the locus
    with probability `p_on`. Declares the `end_plate_noise` segments of the ground truth.
    """

    def __init__(self, world: World, rng: np.random.Generator, *, wander: bool, p_on: float):
        super().__init__()
        self.rng = rng
        self.wander = wander
        self.p_on = p_on
        self.on = True
        self._segment = world.segment("end_plate_noise", 0.0, math.inf)
        self._switch_at = rng.uniform(5.0, 12.0) if wander else math.inf

    def active(self, t: float) -> bool:
        return self.on

    def pots(self, world: World, until: float) -> Iterator[Pot]:
        if world.now >= self._switch_at:
            self._set(world, not self.on)
            on_time, off_time = self.rng.uniform(5.0, 12.0), self.rng.uniform(1.0, 2.5)
            self._switch_at = world.now + (on_time if self.on else off_time)
        return iter(())

    def on_move(self, world: World) -> None:
        if not self.wander:
            self._set(world, self.rng.random() < self.p_on)

    def _set(self, world: World, on: bool) -> None:
        if on and not self.on:
            self._segment = world.segment("end_plate_noise", world.now, math.inf)
        elif not on and self.on:
            self._segment["end"] = world.now
        self.on = on


class EndPlateNoise(Source):
    """Miniature end-plate potentials: tiny monophasic negative potentials, Poisson-dense,
    that sum to the 'seashell' hiss. Not scored one by one: the zone's segment is the truth."""

    def __init__(self, rng: np.random.Generator, zone: Zone, rate_hz: float,
                 amp_uv: tuple[float, float]):
        self.rng = rng
        self.zone = zone
        self.rate = rate_hz
        self.amp = amp_uv
        # A small library of shapes: fibres differ, and building one per event costs time.
        self.library = [shapes.miniature_end_plate(rng, 1.0) for _ in range(16)]
        self.next_t = rng.exponential(1 / rate_hz)

    def pots(self, world: World, until: float) -> Iterator[Pot]:
        lo, hi = np.log(self.amp[0]), np.log(self.amp[1])
        while self.next_t < until:
            t = self.next_t
            self.next_t += self.rng.exponential(1 / self.rate)
            if self.zone.active(t):
                shape = self.library[int(self.rng.integers(len(self.library)))]
                yield Pot(t, shape, float(np.exp(self.rng.uniform(lo, hi))))


class EndPlateSpikes(Source):
    """Irregular end-plate spikes from one fibre near the needle: bursts at up to ~50 Hz
    between sparse firing, so intervals vary widely (coefficient of variation near 1)."""

    def __init__(self, world: World, rng: np.random.Generator, zone: Zone, pp_uv: float,
                 duration_ms: float, mean_hz: float):
        self.rng = rng
        self.zone = zone
        self.shape = shapes.end_plate_spike(rng, pp_uv, duration_ms)
        self.mean = mean_hz
        self.train = world.new_train("end_plate_spike")
        self.burst_until = 0.0
        self.next_t = rng.exponential(1 / mean_hz)

    def pots(self, world: World, until: float) -> Iterator[Pot]:
        while self.next_t < until:
            t = self.next_t
            if t > self.burst_until and self.rng.random() < 0.08:
                self.burst_until = t + self.rng.uniform(0.1, 0.5)
            rate = self.rng.uniform(30, 50) if t < self.burst_until else self.mean * 0.6
            self.next_t = t + max(self.rng.exponential(1 / rate), 0.004)
            if self.zone.active(t):
                yield Pot(t, self.shape, self.rng.uniform(0.9, 1.1), "end_plate_spike",
                          self.train)


class MotorUnits(Source):
    """A pool of motor units recruited by effort (Henneman's size principle: low threshold
    units first), each firing semi-regularly faster as effort rises, seen at a distance set by
    the needle's proximity control. A needle move places the tip among other units."""

    def __init__(self, world: World, rng: np.random.Generator, n_units: int,
                 effort: Callable[[float], float], kind: str = "muap",
                 pp_close_uv: tuple[float, float] = (500, 2000),
                 duration_ms: tuple[float, float] = (7.5, 12.5)):
        self.rng = rng
        self.effort = effort
        self.kind = kind
        self.thresholds = np.sort(np.geomspace(0.02, 0.75, n_units) * rng.uniform(0.9, 1.1,
                                                                                  n_units))
        self.amps = np.exp(rng.uniform(np.log(pp_close_uv[0]), np.log(pp_close_uv[1]), n_units))
        self.amps *= np.linspace(0.7, 1.4, n_units)  # larger units are recruited later
        self.durations = rng.uniform(*duration_ms, n_units)
        self.polyphasic = rng.random(n_units) < 0.12
        self.trains = [world.new_train(kind) for _ in range(n_units)]
        self.next_t = rng.uniform(0, 0.1, n_units)
        self.cv = rng.uniform(0.08, 0.18, n_units)
        self._place(world)
        self._cache: dict[tuple[int, int], shapes.Shape] = {}
        self._shape_rng = world.rng(99, int(rng.integers(1 << 30)))

    def _place(self, world: World) -> None:
        n = len(self.amps)
        self.offsets = self.rng.uniform(0.25, 1.6, n)
        self.offsets[self.rng.integers(n)] = 0.0  # the unit the needle is aimed at

    def on_move(self, world: World) -> None:
        self._place(world)

    def distance_mm(self, unit: int, world: World) -> float:
        return (1 - world.controls.proximity) * 1.5 + self.offsets[unit]

    def _shape(self, unit: int, world: World) -> shapes.Shape:
        # Distances are kept to 0.02 mm so that shapes can be cached and reused.
        q = int(round(self.distance_mm(unit, world) / 0.02))
        key = (unit, q)
        if key not in self._cache:
            rng = np.random.default_rng([unit, 7])  # a unit's fine structure never changes
            self._cache[key] = shapes.motor_unit(rng, self.amps[unit], self.durations[unit],
                                                 q * 0.02, self.polyphasic[unit])
        return self._cache[key]

    def rate_hz(self, unit: int, effort: float) -> float:
        thr = self.thresholds[unit]
        return 6.0 + 14.0 * min((effort - thr) / max(1.0 - thr, 1e-6) * 2.0, 1.0)

    def pots(self, world: World, until: float) -> Iterator[Pot]:
        out = []
        for u in range(len(self.amps)):
            while self.next_t[u] < until:
                t = self.next_t[u]
                effort = self.effort(t)
                if effort < self.thresholds[u]:
                    self.next_t[u] = t + 0.02 + self.rng.uniform(0, 0.05)  # not recruited
                    continue
                shape = self._shape(u, world)
                out.append(Pot(t, shape, self.rng.uniform(0.95, 1.05), self.kind,
                               self.trains[u]))
                isi = 1 / self.rate_hz(u, effort)
                self.next_t[u] = t + max(isi * (1 + self.cv[u] * self.rng.standard_normal()),
                                         0.03)
        out.sort(key=lambda p: p.t)
        return iter(out)


class Fasciculations(Source):
    """Spontaneous discharges of whole motor units: MUAP-sized, random, slow (< 1 Hz)."""

    def __init__(self, world: World, rng: np.random.Generator, rate_hz: float, units: int = 3):
        self.rng = rng
        self.rate = rate_hz / units
        self.shapes = [shapes.motor_unit(rng, rng.uniform(400, 2000), rng.uniform(8, 14),
                                         rng.uniform(0.0, 0.6), rng.random() < 0.3)
                       for _ in range(units)]
        self.trains = [world.new_train("fasciculation") for _ in range(units)]
        self.next_t = rng.exponential(1 / self.rate, units)

    def pots(self, world: World, until: float) -> Iterator[Pot]:
        out = []
        for u, shape in enumerate(self.shapes):
            while self.next_t[u] < until:
                out.append(Pot(self.next_t[u], shape, 1.0, "fasciculation", self.trains[u]))
                self.next_t[u] += max(self.rng.exponential(1 / self.rate), 0.2)
        out.sort(key=lambda p: p.t)
        return iter(out)


class Insertion(_Pending):
    """Insertional activity: the brief burst of injury spikes and the movement artefact when
    the needle moves. Normal muscle: about 100-300 ms; denervated muscle: prolonged, ending
    in positive sharp waves."""

    def __init__(self, rng: np.random.Generator, duration_s: tuple[float, float],
                 trailing_psw: bool = False):
        super().__init__()
        self.rng = rng
        self.duration = duration_s
        self.trailing_psw = trailing_psw

    def on_move(self, world: World) -> None:
        rng = self.rng
        start = world.now + rng.uniform(0.005, 0.015)
        length = rng.uniform(*self.duration)
        world.segment("insertional_activity", start, start + length)
        # The tip moving through tissue: a large slow deflection.
        artefact = shapes.Shape([shapes.Lobe(rng.choice([-1.0, 1.0]), 0.0,
                                             rng.uniform(0.004, 0.012))], 1.0)
        self._schedule(Pot(start + 0.01, artefact, rng.uniform(200, 700)))
        t = start
        while True:
            t += rng.exponential(1 / (250 * math.exp(-3 * (t - start) / length) + 20))
            if t > start + length:
                break
            amp = float(np.exp(rng.uniform(np.log(50), np.log(600))))
            if self.trailing_psw and t > start + 0.6 * length:
                shape = shapes.positive_sharp_wave(rng, amp, rng.uniform(8, 15))
            else:
                shape = shapes.injury_spike(rng, amp)
            self._schedule(Pot(t, shape, 1.0))


class LocalTwitch(_Pending):
    """Local twitch response: when the needle hits the active locus, a brief burst of
    high-amplitude polyphasic discharges from the taut band's fibres."""

    def __init__(self, rng: np.random.Generator, zone: Zone, probability: float):
        super().__init__()
        self.rng = rng
        self.zone = zone
        self.p = probability

    def on_move(self, world: World) -> None:
        rng = self.rng
        if not (self.zone.on and rng.random() < self.p):
            return
        start = world.now + rng.uniform(0.03, 0.08)
        length = rng.uniform(0.08, 0.25)
        world.segment("local_twitch_response", start, start + length)
        for _ in range(int(rng.integers(2, 4))):
            shape = shapes.motor_unit(rng, rng.uniform(800, 3000), rng.uniform(8, 14),
                                      rng.uniform(0.0, 0.3), polyphasic=True)
            t = start + rng.uniform(0, 0.02)
            while t < start + length - 0.005:
                self._schedule(Pot(t, shape, rng.uniform(0.8, 1.1)))
                t += rng.uniform(1 / 60, 1 / 25)


class Myotonic(_Pending):
    """Myotonic discharges: runs of fibrillation- or PSW-shaped potentials whose rate and
    amplitude wax and wane between 20 and 80 Hz (the 'dive bomber'). They recur on their own
    and a needle move provokes one."""

    def __init__(self, world: World, rng: np.random.Generator):
        super().__init__()
        self.world = world
        self.rng = rng
        self.next_start = rng.uniform(0.2, 1.5)

    def pots(self, world: World, until: float) -> Iterator[Pot]:
        while self.next_start < until:
            end = self._discharge(world, self.next_start)
            self.next_start = end + self.rng.uniform(1.0, 4.0)
        return super().pots(world, until)

    def on_move(self, world: World) -> None:
        if self.next_start > world.now + 0.1:
            self.next_start = world.now + 0.05

    def _discharge(self, world: World, start: float) -> float:
        rng = self.rng
        length = rng.uniform(0.6, 2.5)
        lo, peak, last = rng.uniform(20, 35), rng.uniform(55, 80), rng.uniform(20, 30)
        amp = rng.uniform(60, 300)
        if rng.random() < 0.5:
            shape = shapes.fibrillation(rng, amp, rng.uniform(1.5, 4.0))
        else:
            shape = shapes.positive_sharp_wave(rng, amp, rng.uniform(6.0, 15.0))
        train = world.new_train("myotonic_discharge")
        t = start
        while t < start + length:
            u = (t - start) / length
            # Waxing over the first third, waning over the rest: rate and size together.
            wax = math.sin(math.pi * min(u / 0.3, 1.0) / 2) if u < 0.3 else 1 - (u - 0.3) / 0.7
            rate = (lo if u < 0.3 else last) + (peak - (lo if u < 0.3 else last)) * wax
            self._schedule(Pot(t, shape, 0.4 + 0.6 * wax, "myotonic_discharge", train))
            t += 1 / rate * (1 + 0.03 * rng.standard_normal())
        return t


def triangle(low: float, high: float, period_s: float) -> Callable[[float], float]:
    """An effort profile that ramps up and down: recruitment, then derecruitment."""

    def f(t: float) -> float:
        u = (t / period_s) % 1.0
        return low + (high - low) * (1 - abs(2 * u - 1))

    return f
