"""The physiological generator's scenarios: which sources, with which numbers (the table in
docs/physio-generator.md). Each source draws from its own stream keyed by (seed, purpose,
index)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np

from devices.physio.generator import (
    EndPlateNoise,
    Fasciculating,
    FibreTrain,
    Grid,
    Insertion,
    Myotonic,
    Source,
    Trains,
    VoluntaryUnits,
    log_uniform,
    make_pool,
)

# Fibre trains per grade (1: a few persistent trains; 4: the baseline filled).
GRADE_TRAINS = {1: (1, 2), 2: (3, 5), 3: (6, 10), 4: (12, 20)}
PSW_SHARE = 0.4  # of a denervated field's fibre trains


def _rng(p: dict, *key: int) -> np.random.Generator:
    return np.random.default_rng([p["seed"], 27, *key])


def _moves(p: dict):
    return itertools.count(0.0, p["moves"]) if p["moves"] > 0 else [0.0]


def _fibre_field(grid: Grid, trains: Trains, p: dict, lo: int, hi: int) -> list[Source]:
    n = int(_rng(p, 3).integers(lo, hi + 1))
    out: list[Source] = []
    for i in range(n):
        r = _rng(p, 20, i)
        kind = "positive_sharp_wave" if r.random() < PSW_SHARE else "fibrillation"
        out.append(FibreTrain(grid, trains, r, kind))
    return out


def rest(grid, trains, p):
    return []


def denervated(grid, trains, p):
    return _fibre_field(grid, trains, p, *GRADE_TRAINS[p["grade"]])


def endplate(grid, trains, p):
    rng = _rng(p, 4)
    out: list[Source] = [EndPlateNoise(grid, trains, _rng(p, 13), log_uniform(rng, 100, 1000))]
    out += [FibreTrain(grid, trains, _rng(p, 21, i), "end_plate_spike")
            for i in range(int(rng.integers(1, 5)))]
    return out


def voluntary(grid, trains, p):
    pool = make_pool(grid, trains, _rng(p, 15), p["units"])
    return [VoluntaryUnits(pool, _rng(p, 16), lambda t: p["effort"])]


def fasciculation(grid, trains, p):
    rng = _rng(p, 5)
    return [Fasciculating(grid, trains, _rng(p, 22, i), log_uniform(rng, 0.1, 1.0))
            for i in range(int(rng.integers(1, 4)))]


def myotonic(grid, trains, p):
    return [Myotonic(grid, trains, _rng(p, 17))]


def mixed(grid, trains, p):
    """Fibrillations and sharp waves in a muscle where one motor unit fires slowly and
    fasciculations occur."""
    out = _fibre_field(grid, trains, p, 2, 5)
    pool = make_pool(grid, trains, _rng(p, 15), 1)
    out.append(VoluntaryUnits(pool, _rng(p, 16), lambda t: 0.05))
    out.append(Fasciculating(grid, trains, _rng(p, 22, 0), log_uniform(_rng(p, 5), 0.1, 1.0)))
    return out


SCENARIOS: dict[str, Callable] = {
    "rest": rest, "denervated": denervated, "endplate": endplate, "voluntary": voluntary,
    "fasciculation": fasciculation, "myotonic": myotonic, "mixed": mixed,
}


def build(name: str, grid: Grid, p: dict) -> tuple[list[Source], Trains]:
    trains = Trains()
    sources = SCENARIOS[name](grid, trains, p)
    sources.append(Insertion(grid, trains, _rng(p, 10), _moves(p)))
    return sources, trains
