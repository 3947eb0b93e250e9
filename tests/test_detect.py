"""The detector's noise floor: right on noise alone at any rate, hardly raised by a dense
field, and the same whatever the chunking."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.ndimage import maximum_filter1d
from scipy.signal import sosfilt

from dsp.analysis.detect import Detector, NoiseFloor, low_percentile
from tests.simutil import simulate


def _floors(x: np.ndarray, fs: float, chunk: int) -> Detector:
    det = Detector(fs, 0.025)
    for i in range(0, x.size, chunk):
        det.smooth(x[i:i + chunk])
    return det


@pytest.mark.parametrize("fs", [4000.0, 10000.0, 20000.0, 48000.0])
def test_the_floor_reads_the_noise_of_each_branch(fs):
    """On Gaussian noise the floor is the RMS of the noise in the branch, whatever the
    rate: the low percentile's own bias is undone."""
    x = np.random.default_rng(7).normal(0.0, 5.0, int(30 * fs))
    det = _floors(x, fs, int(fs))
    band = sosfilt(det.band.sos, x).std()
    shape = sosfilt(det.shape.sos, x).std()
    assert det.floor.rms == pytest.approx(band, rel=0.04)
    assert det.shape_floor.rms == pytest.approx(shape, rel=0.04)


@pytest.mark.parametrize("uri", ["sim:denervated?grade=4&seed=1071&fs=20000&noise_uv=3",
                                 "sim:voluntary?effort=0.3&units=6&seed=1072&fs=10000"
                                 "&noise_uv=6"])
def test_a_dense_field_hardly_raises_the_floor(uri):
    """The simulator's noise depends only on the seed, so the same noise at rest is the
    reference. 50 ms blocks read these floors 1.6-2.3 times too high: hardly a 50 ms
    stretch of a grade 4 field or of four units firing is free of potentials."""
    fs = float(uri.split("fs=")[1].split("&")[0])
    rest = uri.split("?")[1].replace("grade=4&", "").replace("effort=0.3&units=6&", "")
    x_field, _ = simulate(uri, 20)
    x_rest, _ = simulate("sim:rest?" + rest, 20)
    field, quiet = _floors(x_field, fs, int(fs)), _floors(x_rest, fs, int(fs))
    assert field.floor.rms < 1.35 * quiet.floor.rms
    assert field.shape_floor.rms < 1.35 * quiet.shape_floor.rms


def test_the_floor_in_force_does_not_depend_on_chunking():
    fs = 20000.0
    x = np.random.default_rng(8).normal(0.0, 4.0, int(3 * fs))
    x[int(1.2 * fs):] *= 0.5  # the noise halves: the floor follows in steps
    whole, live = _floors(x, fs, int(fs)), _floors(x, fs, 100)
    assert whole.floor.starts == live.floor.starts
    assert whole.floor.levels == live.floor.levels
    assert whole.floor.over(0, x.size) == pytest.approx(live.floor.over(0, x.size),
                                                        nan_ok=True)
    assert np.isnan(whole.floor.at(int(0.05 * fs)))  # not known in the first 100 ms
    assert whole.floor.at(x.size - 1) < 0.7 * whole.floor.at(int(1.1 * fs))


def test_the_floor_in_force_does_not_depend_on_chunking_past_its_history(monkeypatch):
    """Over more than the 30 s the floor remembers, with the noise rising (past what the
    last percentile read hints at) and falling, in chunks longer than that history, of
    1 s and of odd sizes."""
    monkeypatch.setattr(NoiseFloor, "KEEP_S", 100.0)  # every floor, to compare them all
    fs = 4000.0
    x = np.random.default_rng(9).normal(0.0, 4.0, int(75 * fs))
    x[int(20 * fs):] *= 3.0
    x[int(50 * fs):] *= 0.2
    floors = [_floors(x, fs, chunk).floor for chunk in (x.size, int(fs), 137)]
    for other in floors[1:]:
        assert other.starts == floors[0].starts
        assert other.levels == floors[0].levels
    assert len(floors[0].levels) > 250
    assert floors[0].at(int(49 * fs)) > 2 * floors[0].at(int(19 * fs))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0.0, 100.0), min_size=1, max_size=300),
       st.floats(0.0, 200.0) | st.just(np.inf), st.sampled_from([2.0, 10.0, 50.0]))
def test_the_low_percentile_is_exact_whatever_its_hint(reads, hint, percentile):
    reads = np.array(reads)
    k = int(percentile / 100 * (reads.size - 1))
    assert low_percentile(reads, percentile, hint) == np.sort(reads)[k]


@settings(max_examples=60, deadline=None)
@given(fs=st.integers(4000, 48000), n=st.integers(0, 400), seed=st.integers(0, 2**31))
def test_the_dominance_maximum_equals_a_sliding_maximum(fs, n, seed):
    """The 3 ms maximum built from the 1 ms one is the sliding 3 ms maximum itself, at
    every rate from 4 to 48 kHz, wherever the scan reads it (one dominance window in from
    either end)."""
    det = Detector(fs, 0.025)
    a = np.abs(np.random.default_rng(seed).standard_normal(n + 2 * det.dominance))
    lo, hi = det.dominance, det.dominance + n
    local = maximum_filter1d(a, 2 * det.refractory + 1)
    want = maximum_filter1d(a, 2 * det.dominance + 1)[lo:hi]
    assert np.array_equal(det._wide(local, lo, hi), want)
