"""Firing patterns of trains (dsp/trains.py) and how the analyser reads them at rest."""

from __future__ import annotations

import numpy as np

from dsp import features as F
from dsp.analyzer import Analyzer
from dsp.trains import TrainState


def _train(isis) -> TrainState:
    tr = TrainState(1, F.SPIKE_POSITIVE_FIRST, np.zeros(8), 100.0, 100.0)
    tr.all_isis = list(isis)
    tr.times.extend(np.cumsum([0.0, *isis]))
    tr.count = len(isis) + 1
    return tr


def test_a_missed_beat_does_not_make_a_fibrillation_train_irregular():
    """A 5 Hz fibre whose potential is lost once or twice (overlap, noise) leaves intervals
    of two periods: still clockwork firing."""
    rng = np.random.default_rng(0)
    isis = 0.2 * np.array([1, 1, 2, 1, 1, 1, 2, 1, 1, 1]) * (1 + 0.01 * rng.standard_normal(10))
    assert _train(isis).pattern() == "regular"


def test_irregular_firing_stays_irregular():
    rng = np.random.default_rng(1)
    for _ in range(20):
        isis = rng.exponential(0.1, 10) + 0.005  # end-plate spikes: Poisson-like
        assert _train(isis).pattern() != "regular"
    assert _train([0.2, 0.1, 0.2, 0.1, 0.2, 0.1]).pattern() != "regular"


def test_a_small_unit_in_an_irregular_train_at_rest_stays_a_motor_unit():
    """A distant tonic unit (dystonia) is small, and its train fragments into irregular
    pieces just as a dense field's fibrillation trains do. Reading such potentials by their
    first phase called a quarter of dystonia's tonic units fibrillations (tuning seeds
    13-15; tonic time found fell from 94 % to 76 %): an irregular unit-shaped train stays
    a motor unit's."""
    an = Analyzer(20000.0)
    tr = _train([0.05, 0.4, 0.1, 0.7, 0.03, 0.3, 0.2, 0.05, 0.6, 0.15])
    assert tr.pattern() == "irregular"
    m = F.Measures(peak=0, amplitude_uv=120.0, duration_ms=7.0, initial="positive",
                   main="negative", rise_us=None, shape=F.MOTOR_UNIT, neg_uv=80.0,
                   pos_uv=40.0, half_width_ms=0.9, end=0)
    assert an._kind(m, tr, 10.0, 0) in ("muap", "fasciculation")
