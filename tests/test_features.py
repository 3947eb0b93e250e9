"""Measures of single potentials (dsp/analysis/features.py), on synthetic waveforms."""

from __future__ import annotations

import numpy as np

from devices.simulator import shapes
from dsp.analysis import features as F

FS = 20000.0


def _window(potential, slow_uv: float, seed: int = 5):
    """A 36 ms window (12 ms before the peak, as the analyser cuts it) holding `potential`
    with its largest peak at 0, on a slow negative wave of depth `slow_uv` (a sharp wave's
    slow phase, 20 ms wide), in 1 uV of noise. Returns (window, index of the peak)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(-0.012 * FS), int(0.024 * FS)) / FS
    x = potential(t + potential.peak_offset) - slow_uv * np.exp(-0.5 * ((t - 0.002) / 0.008) ** 2)
    x += rng.normal(0.0, 1.0, t.size)
    return x, int(np.flatnonzero(t == 0)[0])


def test_a_fibrillation_on_a_slow_wave_is_read_from_the_slow_wave():
    """In a dense field a fibrillation often rides on a sharp wave's slow negative phase:
    read from the zero line, its initial positive phase vanishes and the offset stretches
    its duration, so it looked like an end-plate spike or a motor unit."""
    fib = shapes.fibrillation(np.random.default_rng(1), 100.0, 2.0)
    x, peak = _window(fib, 30.0)
    m = F.measure(x, x, peak, FS, 1.0, 1.0)
    assert m.initial == "positive" and m.main == "negative"
    assert m.shape == F.SPIKE_POSITIVE_FIRST, m
    assert m.duration_ms < 5.0 and 80.0 < m.amplitude_uv < 120.0, m


def test_a_sharp_waves_own_slow_phase_is_not_a_baseline():
    """A slow phase on one side only belongs to the potential: a sharp wave keeps its
    slow negative phase and its shape."""
    psw = shapes.positive_sharp_wave(np.random.default_rng(2), 100.0, 15.0)
    x, peak = _window(psw, 0.0)
    assert isinstance(F._baseline(x, peak, FS), float)  # no baseline: nothing subtracted
    assert F.measure(x, x, peak, FS, 1.0, 1.0).shape == F.SHARP_POSITIVE


def test_a_units_own_late_component_is_measured_with_it():
    """A polyphasic unit's satellite, 3.6 ms after its spike and 0.8 of its size, looks like
    the next potential: the extent stops halfway to it and the unit reads short and spiky.
    Once its train shows the satellite at that delay every firing (`linked`), the unit is
    measured through it: long enough to be a motor unit's."""
    unit = shapes.Shape([shapes.Lobe(0.3, -0.0008, 0.0003), shapes.Lobe(-1.0, 0.0, 0.0003),
                         shapes.Lobe(0.4, 0.001, 0.0006), shapes.Lobe(-0.8, 0.0036, 0.0003),
                         shapes.Lobe(0.25, 0.0048, 0.0012)], 130.0)
    x, peak = _window(unit, 0.0)
    alone = F.measure(x, x, peak, FS, 1.0, 1.0)
    delay = [f for f in alone.followers if abs(f - 0.0036 * FS) <= 3]
    assert delay and alone.duration_ms < F.MUAP_MIN_DURATION_MS, alone
    linked = F.measure(x, x, peak, FS, 1.0, 1.0, linked=tuple(delay))
    assert linked.duration_ms >= F.MUAP_MIN_DURATION_MS, linked
    assert linked.end - peak > 0.0036 * FS
