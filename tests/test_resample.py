"""The streaming resampler: chunking never changes a sample, the passband is flat, images
are cut, and a ratio that moves from chunk to chunk leaves no seam."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp.audio.resample import Resampler


def _chunked(r: Resampler, x: np.ndarray, cuts: list[int], scale: float):
    outs, poss = [], []
    bounds = [0, *sorted(cuts), len(x)]
    for a, b in zip(bounds, bounds[1:], strict=False):
        y, p = r.process_with_positions(x[a:b], scale)
        outs.append(y)
        poss.append(p)
    return np.concatenate(outs), np.concatenate(poss)


@settings(max_examples=40, deadline=None)
@given(cuts=st.lists(st.integers(0, 3000), max_size=30),
       scale=st.floats(0.98, 1.02),
       rates=st.sampled_from([(20000, 48000), (10000, 48000), (48000, 44100), (8000, 44100)]))
def test_chunking_changes_nothing_bit_for_bit(cuts, scale, rates):
    x = np.random.default_rng(len(cuts)).normal(size=3000)
    whole, wpos = Resampler(*rates).process_with_positions(x, scale)
    parts, ppos = _chunked(Resampler(*rates), x, cuts, scale)
    assert np.array_equal(whole, parts) and np.array_equal(wpos, ppos)


def _gain_db(fs_in: float, fs_out: float, hz: float) -> float:
    r = Resampler(fs_in, fs_out)
    x = np.sin(2 * np.pi * hz * np.arange(int(fs_in)) / fs_in)
    y = r.process(x)[len(x) // 4:]  # past the start
    return 20 * np.log10(np.sqrt(2 * np.mean(y ** 2)))


@pytest.mark.parametrize("fs_in", [10000.0, 20000.0, 4000.0])
def test_flat_to_nine_tenths_of_nyquist(fs_in):
    for rel in (0.002, 0.05, 0.25, 0.5, 0.8, 0.9):
        hz = max(rel * fs_in / 2, 20.0)
        assert abs(_gain_db(fs_in, 48000.0, hz)) < 0.1, hz


def test_images_are_cut():
    """A 9 kHz tone at 20 kHz has its first image at 11 kHz in the 48 kHz output."""
    fs_in, hz = 20000.0, 8000.0
    x = np.sin(2 * np.pi * hz * np.arange(int(fs_in)) / fs_in)
    y = Resampler(fs_in, 48000.0).process(x)[4800:4800 + 38400]
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    f = np.fft.rfftfreq(len(y), 1 / 48000)
    tone = spec[np.abs(f - hz) < 50].max()
    image = spec[np.abs(f - (fs_in - hz)) < 50].max()
    assert 20 * np.log10(image / tone) < -40


def test_downsampling_folds_nothing_into_the_passband():
    """48 kHz into 44.1 kHz (Nyquist 22.05 kHz): a tone past the transition band is cut by
    30 dB; one inside it folds only into the top of the band, above 0.9 x Nyquist."""
    def out(hz):
        x = np.sin(2 * np.pi * hz * np.arange(48000) / 48000)
        return Resampler(48000.0, 44100.0).process(x)[4410:4410 + 35280]

    assert np.sqrt(2 * np.mean(out(23900.0) ** 2)) < 0.032
    y = out(22600.0)
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    f = np.fft.rfftfreq(len(y), 1 / 44100)
    assert f[np.argmax(spec)] > 0.9 * 22050


def test_a_moving_ratio_leaves_no_seam():
    """A 200 Hz sine resampled at a ratio that changes every chunk equals the ideal sine at
    the positions the resampler reports (its group delay included) everywhere."""
    fs_in, hz = 20000.0, 200.0
    x = np.sin(2 * np.pi * hz * np.arange(int(fs_in)) / fs_in)
    r = Resampler(fs_in, 48000.0)
    rng = np.random.default_rng(3)
    ys, ps = [], []
    for i in range(0, len(x), 80):
        y, p = r.process_with_positions(x[i:i + 80], 1 + rng.uniform(-0.02, 0.02))
        ys.append(y)
        ps.append(p)
    y, p = np.concatenate(ys), np.concatenate(ps)
    keep = p > 200  # past the start-up from silence
    ideal = np.sin(2 * np.pi * hz * p[keep] / fs_in)
    assert np.max(np.abs(y[keep] - ideal)) < 2e-3


def test_the_delay_is_a_couple_of_input_samples():
    r = Resampler(20000.0, 48000.0)
    assert 1.0 < r.delay_in < 3.0  # minimum phase: not the 16 of a linear-phase kernel


def test_rates_must_be_positive():
    with pytest.raises(ValueError, match="positive and finite"):
        Resampler(0, 48000)
    with pytest.raises(ValueError, match="positive and finite"):
        Resampler(20000, float("nan"))
