"""The simulator's clinical scenarios: which sources, with which numbers.

Each scenario is a function of the world (seed, rate, controls) and its options; every
number in it comes from shared/reference/needle-emg.md or is marked as a modelling choice.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from devices.simulator import shapes
from devices.simulator.engine import Source, World
from devices.simulator.sources import (
    EndPlateNoise,
    EndPlateSpikes,
    Fasciculations,
    Insertion,
    LocalTwitch,
    MotorUnits,
    Myotonic,
    RegularTrain,
    Zone,
    triangle,
)


@dataclass
class Built:
    sources: list[Source]
    move_every_s: float  # automatic needle moves, 0 for none


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _effort(world: World, profile: Callable[[float], float]) -> Callable[[float], float]:
    """The trainer's effort control wins over the scenario's own profile."""

    def f(t: float) -> float:
        e = world.controls.effort
        return profile(t) if e is None else e

    return f


def rest(world: World, opts: dict) -> Built:
    """Electrical silence: only amplifier and needle noise (and hum, if asked)."""
    return Built([Insertion(world.rng(10), (0.1, 0.3))], opts["moves"])


# Trains per fibrillation grade: 1+ a few persistent trains, 4+ filling the baseline.
GRADE_TRAINS = {1: (1, 2), 2: (3, 5), 3: (6, 10), 4: (16, 24)}


def denervated(world: World, opts: dict) -> Built:
    """Fibrillation potentials and positive sharp waves (about 60:40), regular trains at
    0.5-15 Hz, 20-200 uV; prolonged insertional activity; rare fasciculations."""
    rng = world.rng(3)
    lo, hi = GRADE_TRAINS[opts["grade"]]
    sources: list[Source] = []
    for i in range(int(rng.integers(lo, hi + 1))):
        r = world.rng(20, i)
        amp = _log_uniform(rng, 25, 200)
        # From two trains on, both kinds are present; beyond that about 60:40.
        if i == 0 or (i > 1 and rng.random() < 0.6):
            kind, shape = "fibrillation", shapes.fibrillation(r, amp, rng.uniform(1.0, 4.5))
        else:
            kind = "positive_sharp_wave"
            shape = shapes.positive_sharp_wave(r, amp, rng.uniform(10, 28))
        rate = _log_uniform(rng, 0.8, 14.0)
        persistent = rng.random() < 0.75
        sources.append(RegularTrain(world, r, kind, shape, rate, rng.uniform(0.005, 0.04),
                                    persistent, start=0.0 if persistent else rng.uniform(0, 6)))
    if opts["fasc_hz"] > 0:
        sources.append(Fasciculations(world, world.rng(11), opts["fasc_hz"]))
    sources.append(Insertion(world.rng(10), (0.3, 0.8), trailing_psw=True))
    return Built(sources, opts["moves"])


def endplate(world: World, opts: dict) -> Built:
    """The needle in an end-plate zone: continuous end-plate noise (10-50 uV, dense) with
    irregular end-plate spikes (initial negative, 3-4 ms, ~100-200 uV); the tip drifts out of
    the zone now and then, and the noise stops."""
    rng = world.rng(3)
    zone = Zone(world, world.rng(12), wander=True, p_on=1.0)
    sources: list[Source] = [zone, EndPlateNoise(world.rng(13), zone, opts["epn_hz"], (10, 50))]
    for i in range(int(rng.integers(2, 4))):
        sources.append(EndPlateSpikes(world, world.rng(21, i), zone, _log_uniform(rng, 80, 250),
                                      rng.uniform(2.5, 4.5), rng.uniform(3, 12)))
    sources.append(Insertion(world.rng(10), (0.1, 0.3)))
    return Built(sources, opts["moves"])


def trigger_point(world: World, opts: dict) -> Built:
    """An active locus of a myofascial trigger point: dense end-plate noise and frequent
    end-plate spikes; the needle is moved every few seconds (fanning), landing on the locus
    most times; on the locus a move may elicit a local twitch response."""
    rng = world.rng(3)
    zone = Zone(world, world.rng(12), wander=False, p_on=0.7)
    sources: list[Source] = [zone, EndPlateNoise(world.rng(13), zone, opts["epn_hz"] * 2,
                                                 (15, 60))]
    for i in range(int(rng.integers(3, 6))):
        sources.append(EndPlateSpikes(world, world.rng(21, i), zone, _log_uniform(rng, 80, 300),
                                      rng.uniform(2.5, 4.5), rng.uniform(5, 15)))
    sources.append(Insertion(world.rng(10), (0.1, 0.3)))
    sources.append(LocalTwitch(world.rng(14), zone, 0.7))
    return Built(sources, opts["moves"] if opts["moves"] else 4.0)


def voluntary(world: World, opts: dict) -> Built:
    """Voluntary contraction: effort ramps up and down over 20 s (or holds the `effort`
    option), recruiting more units that fire faster (5-20 Hz). Amplitude and rise time
    depend on the needle's proximity to each unit (tibialis anterior-like: about 660 uV and
    9-10 ms for a unit close by)."""
    profile = triangle(0.03, 0.6, 20.0)
    mu = MotorUnits(world, world.rng(15), opts["units"], _effort(world, profile))
    return Built([mu, Insertion(world.rng(10), (0.1, 0.3))], opts["moves"])


class TonicDrive:
    """Involuntary drive of dystonia: tonic episodes of a few seconds whose level drifts
    slowly, brief pauses, and now and then a spasm that recruits more units. Declares the
    `tonic_activity` segments."""

    def __init__(self, world: World, rng: np.random.Generator):
        self.world = world
        self.rng = rng
        self.episodes: list[tuple[float, float, float, float]] = []  # start, end, level, phase
        self.horizon = 0.0

    def _extend(self, t: float) -> None:
        while self.horizon <= t:
            start = self.horizon + (self.rng.uniform(0.6, 2.0) if self.episodes else 0.0)
            end = start + self.rng.uniform(4.0, 10.0)
            level = self.rng.uniform(0.15, 0.35)
            self.episodes.append((start, end, level, self.rng.uniform(0, 2 * math.pi)))
            self.world.segment("tonic_activity", start, end)
            self.horizon = end

    def __call__(self, t: float) -> float:
        self._extend(t)
        for start, end, level, phase in reversed(self.episodes):
            if start <= t < end:
                # Slow waxing and waning (about 0.3 Hz) of the involuntary drive.
                return level * (1 + 0.35 * math.sin(2 * math.pi * 0.3 * t + phase))
            if t >= end:
                return 0.0
        return 0.0


def dystonia(world: World, opts: dict) -> Built:
    """Involuntary tonic motor unit activity at rest, in episodes, with pauses."""
    drive = TonicDrive(world, world.rng(16))
    mu = MotorUnits(world, world.rng(15), opts["units"], _effort(world, drive))
    return Built([mu, Insertion(world.rng(10), (0.1, 0.3))], opts["moves"])


def myotonic(world: World, opts: dict) -> Built:
    """Waxing and waning myotonic discharges, recurring and provoked by needle moves."""
    return Built([Myotonic(world, world.rng(17)), Insertion(world.rng(10), (0.1, 0.3))],
                 opts["moves"])


SCENARIOS: dict[str, Callable[[World, dict], Built]] = {
    "rest": rest,
    "denervated": denervated,
    "endplate": endplate,
    "trigger-point": trigger_point,
    "voluntary": voluntary,
    "dystonia": dystonia,
    "myotonic": myotonic,
}
