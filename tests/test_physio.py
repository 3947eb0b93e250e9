"""The physiological generator (devices/physio, issue 27): its single-fibre potentials are in
the physiological range for their stated parameters, its firing is what its table says, it
scales with the sample rate, it is deterministic per seed, and it is labelled simulated."""

from __future__ import annotations

import numpy as np
import pytest

from devices.physio import render
from devices.physio.fibre import Fibre, iap_mv, sfap, velocity_m_s
from devices.registry import describe

DT_MS = 0.005


def phases(x: np.ndarray, frac: float = 0.1) -> list[int]:
    """Signs of the phases exceeding frac of the largest one, in order."""
    big = np.abs(x) >= frac * np.abs(x).max()
    signs = np.sign(x[big]).astype(int)
    return [int(s) for i, s in enumerate(signs) if i == 0 or s != signs[i - 1]]


def span_ms(x: np.ndarray, frac: float = 0.05) -> float:
    on = np.flatnonzero(np.abs(x) >= frac * np.abs(x).max())
    return (on[-1] - on[0]) * DT_MS


def test_rosenfalck_iap_peaks_3mm_behind_the_front_at_plus_39_mv():
    psi = np.arange(0, 20, 0.001)
    v = iap_mv(psi) - 90
    assert psi[np.argmax(v)] == pytest.approx(3.0, abs=0.01)
    assert v.max() == pytest.approx(39.0, abs=0.5)
    assert iap_mv(np.array([-1.0]))[0] == 0.0


def test_conduction_velocity_of_a_55_um_fibre_is_3_7_m_s():
    assert velocity_m_s(55) == pytest.approx(3.7)


def test_fibre_potential_off_the_end_plate_is_triphasic_positive_first_in_range():
    x = sfap(Fibre(55, 0.5, z_ep_mm=-15.0, theta=2.0), DT_MS)
    assert phases(x) == [1, -1, 1]
    assert 50 < x.max() - x.min() < 500  # uV: a fibrillation's range
    assert 1.0 < span_ms(x) < 6.0
    # the negative spike arrives when the wave reaches the tip: 15 mm at 3.7 mm/ms
    assert np.argmin(x) * DT_MS == pytest.approx(15 / 3.7 + 0.3, abs=0.6)


def test_fibre_potential_falls_with_distance_and_widens():
    near = sfap(Fibre(55, 0.3, z_ep_mm=-10.0, theta=2.0), DT_MS)
    far = sfap(Fibre(55, 1.0, z_ep_mm=-10.0, theta=2.0), DT_MS)
    assert np.ptp(near) > 3 * np.ptp(far)
    assert span_ms(far) > span_ms(near)


def test_potential_at_the_end_plate_is_initially_negative():
    x = sfap(Fibre(55, 0.4, z_ep_mm=0.1, theta=2.0), DT_MS)
    assert phases(x)[0] == -1
    assert 2.0 < span_ms(x) < 4.5  # an end-plate spike's 3-4 ms


def test_blocked_fibre_gives_positive_sharp_wave_with_a_slow_negative_phase():
    x = sfap(Fibre(55, 0.5, z_ep_mm=-15.0, block_mm=-0.1, tau_block_ms=8, block_hold=0.3,
                   theta=2.0), DT_MS)
    assert phases(x)[0] == 1
    peak = np.argmax(x)
    assert x[peak] > 0.8 * abs(x.min())  # the positive deflection leads
    assert x[peak + int(8 / DT_MS)] < 0  # still negative 8 ms later
    free = sfap(Fibre(55, 0.5, z_ep_mm=-15.0, theta=2.0), DT_MS)
    assert span_ms(x) > 2 * span_ms(free)


def test_fibrillation_train_fires_at_its_rate_regularly():
    x, truth = render("physio:denervated?grade=1&seed=3&fs=10000&noise_uv=0", 20)
    fib = [e for e in truth.events if e["kind"] in ("fibrillation", "positive_sharp_wave")]
    assert fib
    for train in {e["train"] for e in fib}:
        t = np.array([e["t"] for e in fib if e["train"] == train])
        if t.size < 5:
            continue
        isi = np.diff(t)
        assert 0.5 / 1.6 <= 1 / isi.mean() <= 15 * 1.6
        assert isi.std() / isi.mean() < 0.1


def test_sharp_waves_are_positive_first_and_end_plate_spikes_negative_first():
    _, den = render("physio:denervated?grade=4&seed=5&fs=20000&noise_uv=0", 4)
    psw = [e for e in den.events if e["kind"] == "positive_sharp_wave"]
    assert psw and all(e["initial"] == "positive" for e in psw)
    _, ep = render("physio:endplate?seed=5&fs=20000&noise_uv=0", 4)
    eps = [e for e in ep.events if e["kind"] == "end_plate_spike"]
    assert eps and all(e["initial"] == "negative" for e in eps)
    assert any(s["kind"] == "end_plate_noise" for s in ep.segments)


def test_insertional_activity_covers_the_discharges_a_move_set_off():
    x, truth = render("physio:rest?seed=202&fs=10000&noise_uv=0", 2)
    (seg,) = [s for s in truth.segments if s["kind"] == "insertional_activity"]
    end = int(seg["end"] * 10000)
    # after it, only the last 5 % of the baseline shift's decay
    assert np.abs(x[end:]).max() < 0.1 * np.abs(x[:end]).max()


def test_myotonic_discharge_fires_at_20_to_150_hz():
    _, truth = render("physio:myotonic?seed=2&fs=10000&noise_uv=0", 12)
    t = np.array([e["t"] for e in truth.events if e["kind"] == "myotonic_discharge"])
    isi = np.diff(t)
    within = isi[isi < 0.1]  # inside a discharge
    assert within.size > 20
    assert 1 / within.max() >= 18 and 1 / within.min() <= 160


def test_voluntary_units_fire_more_with_effort():
    counts = []
    for effort in (0.05, 0.3):
        _, truth = render(f"physio:voluntary?effort={effort}&seed=4&fs=4000&noise_uv=0", 4)
        counts.append((len({e["train"] for e in truth.events}), len(truth.events)))
    assert counts[1][0] > counts[0][0] and counts[1][1] > counts[0][1]


@pytest.mark.parametrize("fs", [4000, 10000, 20000, 48000])
def test_same_potentials_at_every_sample_rate(fs):
    """One continuous waveform sampled: the same events at the same times, amplitudes close
    (the amplifier's low-pass is lower at 4 kHz)."""
    x, truth = render(f"physio:denervated?grade=2&seed=9&fs={fs}&noise_uv=0", 3)
    _, ref = render("physio:denervated?grade=2&seed=9&fs=48000&noise_uv=0", 3)
    assert x.size == 3 * fs
    assert len(truth.events) == len(ref.events)
    for a, b in zip(truth.events, ref.events, strict=True):
        assert a["kind"] == b["kind"]
        # the 4 kHz amplifier's lower low-pass delays a peak and may move the largest to a
        # neighbouring phase: within the scorer's 3 ms, and mostly within a sample or two
        assert abs(a["t"] - b["t"]) <= 0.003
        assert a["amplitude_uv"] == pytest.approx(b["amplitude_uv"], rel=0.35)


def test_deterministic_per_seed_and_different_across_seeds():
    a, ta = render("physio:mixed?seed=11&fs=10000", 3)
    b, tb = render("physio:mixed?seed=11&fs=10000", 3)
    c, _ = render("physio:mixed?seed=12&fs=10000", 3)
    assert np.array_equal(a, b) and ta.events == tb.events
    assert not np.array_equal(a, c)


def test_chunking_does_not_change_the_samples():
    from devices.base import read_frames
    from devices.registry import make_device

    whole, _ = render("physio:endplate?seed=1&fs=10000", 1.0)
    with make_device("physio:endplate?seed=1&fs=10000&block_ms=7", paced=False) as dev:
        x = read_frames(dev, 10000)[:, 0]
    assert np.allclose(x, whole, atol=1e-3)


def test_labelled_simulated_wherever_the_app_shows_it():
    from app.logbook.provenance import SIMULATED, label
    from app.session.live import source_kind

    info = describe("physio:denervated?seed=1")
    assert info.kind == "simulator"
    assert info.uri.startswith("physio:")
    assert source_kind(info) == "simulator"
    assert label(source_kind(info), info.uri, True) == SIMULATED
