"""Streaming min/max decimation for the trace: chunking, vertex budget, no drift."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp.decimate import MinMaxDecimator, minmax_columns


def run(dec: MinMaxDecimator, x: np.ndarray, sizes) -> tuple[np.ndarray, np.ndarray]:
    """Push x in chunks of the given sizes (the rest in one go) and join the columns."""
    los, his, i = [], [], 0
    for n in [*sizes, len(x)]:
        lo, hi = dec.push(x[i:i + n])
        los.append(lo)
        his.append(hi)
        i = min(len(x), i + n)
    return np.concatenate(los), np.concatenate(his)


@settings(max_examples=60, deadline=None)
@given(spc=st.floats(0.3, 60.0), channels=st.integers(1, 2), n=st.integers(0, 3000),
       sizes=st.lists(st.one_of(st.just(0), st.just(1), st.integers(0, 500)), max_size=40),
       seed=st.integers(0, 2**16))
def test_chunked_equals_one_shot(spc, channels, n, sizes, seed):
    x = np.random.default_rng(seed).normal(size=(n, channels)).astype(np.float32)
    whole = MinMaxDecimator(spc, channels).push(x)
    parts = run(MinMaxDecimator(spc, channels), x, sizes)
    for a, b in zip(whole, parts, strict=True):
        assert a.dtype == np.float32 and a.shape[1] == channels
        assert np.array_equal(a, b)


def test_columns_are_the_min_and_max_of_their_samples():
    x = np.random.default_rng(1).normal(size=1000)
    lo, hi = MinMaxDecimator(10).push(x)
    assert lo.shape == hi.shape == (100, 1)
    assert np.array_equal(lo[:, 0], x.reshape(100, 10).min(axis=1))
    assert np.array_equal(hi[:, 0], x.reshape(100, 10).max(axis=1))
    # the one-shot helper the figures use agrees where both apply
    ref = minmax_columns(x, 100)
    assert np.array_equal(lo[:, 0], ref[0]) and np.array_equal(hi[:, 0], ref[1])


@pytest.mark.parametrize("fs", [4000, 10000, 20000, 44100, 48000])
def test_a_sweep_never_has_more_vertices_than_twice_its_width(fs):
    width, sweep_s = 1366, 0.5
    dec = MinMaxDecimator(fs * sweep_s / width)
    x = np.random.default_rng(fs).normal(size=int(fs * sweep_s))
    lo, hi = run(dec, x, [int(0.005 * fs)] * 200)  # 5 ms chunks as the reader sends them
    assert 2 * len(lo) <= 2 * width
    assert len(lo) >= width - 1  # and the whole sweep is drawn


def test_fewer_samples_than_columns_repeat_samples():
    lo, hi = MinMaxDecimator(0.4).push(np.array([10.0, 20.0, 30.0]))
    # column j covers [0.4 j, 0.4 (j + 1)): columns 0..7 are complete with 3 samples
    assert list(lo[:, 0]) == [10, 10, 10, 20, 20, 30, 30, 30]
    assert np.array_equal(lo, hi)


def test_nan_does_not_blank_a_column():
    lo, hi = MinMaxDecimator(4).push(np.array([1.0, np.nan, 3.0, 2.0]))
    assert lo[0, 0] == 1 and hi[0, 0] == 3


def test_fractional_columns_do_not_drift_over_ten_minutes():
    fs, spc = 20000, 12000 / 1366  # a 600 ms sweep on a 1366 px screen
    dec = MinMaxDecimator(spc)
    firsts, lasts = [], []
    for start in range(0, 600 * fs, fs):  # one second a chunk: the index is the sample
        lo, hi = dec.push(np.arange(start, start + fs, dtype=np.float64))
        firsts.append(lo[:, 0])
        lasts.append(hi[:, 0])
    first, last = np.concatenate(firsts), np.concatenate(lasts)
    j = np.arange(len(first))
    assert np.array_equal(first, (j * 12000) // 1366)  # exact rational boundaries
    assert np.array_equal(last[:-1] + 1, first[1:])  # no gap, no overlap
    assert len(first) == (600 * fs * 1366) // 12000
    assert dec.columns == len(first)


def test_exact_decimal_boundaries_survive_binary_rounding():
    x = np.arange(1000, dtype=np.float64)
    lo, _ = MinMaxDecimator(2.2).push(x)
    assert np.array_equal(lo[:, 0], (np.arange(len(lo)) * 22) // 10)


def test_bad_arguments():
    with pytest.raises(ValueError):
        MinMaxDecimator(0)
    with pytest.raises(ValueError):
        MinMaxDecimator(float("nan"))
    with pytest.raises(ValueError):
        MinMaxDecimator(2, channels=2).push(np.zeros((5, 3)))


def test_reset_starts_a_new_sweep():
    dec = MinMaxDecimator(3.5)
    dec.push(np.arange(10.0))
    dec.reset()
    lo, _ = dec.push(np.arange(10.0))
    assert list(lo[:, 0]) == [0, 3, 7] and dec.columns == 3
