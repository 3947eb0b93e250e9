"""The simulator against the numbers of shared/reference/needle-emg.md, from its ground
truth and from its samples, and its determinism."""

from __future__ import annotations

import numpy as np
import pytest

from devices import make_device, read_frames
from devices.simulator.scenarios import SCENARIOS
from tests.simutil import covered, events, simulate


def test_same_seed_same_samples_in_any_chunking():
    a, _ = simulate("sim:denervated?seed=5&block_ms=1", 3)
    b, _ = simulate("sim:denervated?seed=5&block_ms=37", 3)
    c, _ = simulate("sim:denervated?seed=6", 3)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_paced_gives_the_same_samples_as_fast():
    fast, _ = simulate("sim:endplate?seed=2", 0.3)
    dev = make_device("sim:endplate?seed=2", paced=True)
    with dev:
        paced = read_frames(dev, len(fast))[:, 0]
    assert np.array_equal(fast.astype(np.float32), paced)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_every_scenario_runs_and_is_microvolts_float32(name):
    dev = make_device(f"sim:{name}?seed=3", paced=False)
    with dev:
        chunk = dev.read(1.0)
    assert chunk.data.dtype == np.float32 and chunk.data.shape == (100, 1)  # 5 ms at 20 kHz
    assert chunk.first_index == 0 and chunk.seq == 0
    assert np.isfinite(chunk.data).all()


def test_rest_is_noise_of_the_asked_rms():
    for noise in (3.0, 4.0, 10.0):
        x, truth = simulate(f"sim:rest?noise_uv={noise}&seed=1", 5)
        assert abs(x.std() / noise - 1) < 0.02
        assert truth.events == [] and truth.segments == []


def test_denervated_trains_are_regular_with_reference_amplitudes_and_durations():
    for seed in (11, 12, 13):
        x, truth = simulate(f"sim:denervated?seed={seed}&grade=3&fasc_hz=0", 30)
        fibs, psws = events(truth, "fibrillation"), events(truth, "positive_sharp_wave")
        assert fibs and psws
        for e in fibs:
            assert 1.0 <= e["duration_ms"] <= 5.0 and e["initial"] == "positive"
        for e in psws:
            assert 10.0 <= e["duration_ms"] <= 30.0 and e["initial"] == "positive"
        for e in fibs + psws:
            assert 20 * 0.95 <= e["amplitude_uv"] <= 200 * 1.05
        for tr in truth.trains:
            if tr["count"] >= 10:
                assert 0.4 <= tr["rate_hz"] <= 15.5, tr
                assert tr["cv"] < 0.1, tr  # "very regular"


def test_positive_sharp_waves_have_no_negative_spike_in_the_samples():
    x, truth = simulate("sim:denervated?seed=12&grade=3&noise_uv=0&fasc_hz=0", 60)
    fs = truth.fs
    checked = 0
    for e in events(truth, "positive_sharp_wave"):
        i = e["index"]
        seg = x[i - int(0.002 * fs): i + int(0.03 * fs)]
        others = [o for o in truth.events if o is not e and abs(o["t"] - e["t"]) < 0.04]
        if others or len(seg) == 0:
            continue
        checked += 1
        assert seg.max() >= 0.7 * e["amplitude_uv"]  # the positive peak dominates
        assert -seg.min() < 0.35 * e["amplitude_uv"]  # a shallow negative phase only
    assert checked >= 5


def test_fibrillation_grade_sets_how_many_trains():
    counts = {}
    for grade in (1, 2, 3, 4):
        _, truth = simulate(f"sim:denervated?seed=4&grade={grade}&fasc_hz=0", 10)
        counts[grade] = len(truth.trains)
    assert counts[1] < counts[2] < counts[3] < counts[4]
    assert counts[1] <= 2 and counts[4] >= 16


def test_end_plate_spikes_are_irregular_initially_negative_and_noise_fills_the_zone():
    x, truth = simulate("sim:endplate?seed=21", 40)
    eps = events(truth, "end_plate_spike")
    assert len(eps) > 100
    for e in eps:
        assert e["initial"] == "negative" and 2.4 <= e["duration_ms"] <= 4.6
        assert 70 <= e["amplitude_uv"] <= 280
    cvs = [tr["cv"] for tr in truth.trains if tr["count"] > 30]
    assert cvs and min(cvs) > 0.5  # irregular, unlike fibrillation trains
    isi = np.diff([e["t"] for e in eps if e["train"] == eps[0]["train"]])
    assert 1 / np.percentile(isi, 5) <= 260  # bursts reach tens of Hz, not more
    assert 0.6 < covered(truth, "end_plate_noise") / 40 < 1.0  # most of the time, with gaps


def test_end_plate_noise_is_small_negative_and_dense():
    x, truth = simulate("sim:endplate?seed=22&noise_uv=0", 8)
    fs = truth.fs
    spikes = [int(e["index"]) for e in truth.events]
    mask = np.zeros(len(x), bool)
    for s in truth.segments:
        mask[int(s["start"] * fs):int(s["end"] * fs)] = True
    for i in spikes:  # leave out the end-plate spikes themselves
        mask[max(i - int(0.01 * fs), 0): i + int(0.01 * fs)] = False
    noise = x[mask]
    assert noise.size > fs
    assert np.percentile(noise, 1) < -10 and np.percentile(noise, 1) > -80
    assert noise.max() < 25  # monophasic negative: hardly anything above baseline
    assert noise.std() > 3  # dense: the seashell hiss is well above the amplifier's floor


def test_trigger_point_moves_give_insertional_activity_and_twitches():
    _, truth = simulate("sim:trigger-point?seed=31", 60)
    assert len(truth.moves) >= 14  # a move every 4 s
    ins = [s for s in truth.segments if s["kind"] == "insertional_activity"]
    ltr = [s for s in truth.segments if s["kind"] == "local_twitch_response"]
    assert len(ins) == len(truth.moves)
    assert all(0.1 <= s["end"] - s["start"] <= 0.3 for s in ins)
    assert len(ltr) >= 3
    for s in ltr:  # a twitch follows a move within a tenth of a second
        assert min(abs(s["start"] - m) for m in truth.moves) < 0.1
    assert covered(truth, "end_plate_noise") > 20


def test_voluntary_recruits_more_and_faster_units_with_effort():
    def stats(effort):
        _, truth = simulate(f"sim:voluntary?seed=41&effort={effort}", 10)
        trains = [t for t in truth.trains if t["count"] > 20]
        return len(trains), np.mean([t["rate_hz"] for t in trains]), trains

    n_lo, rate_lo, lo = stats(0.1)
    n_hi, rate_hi, hi = stats(0.6)
    assert 1 <= n_lo < n_hi and rate_lo < rate_hi
    for t in lo + hi:
        assert 5.0 <= t["rate_hz"] <= 21.0 and 0.03 < t["cv"] < 0.3  # semi-regular


def test_muap_durations_and_proximity():
    _, near = simulate("sim:voluntary?seed=42&effort=0.3&proximity=1", 5)
    _, far = simulate("sim:voluntary?seed=42&effort=0.3&proximity=0", 5)
    for e in events(near, "muap"):
        assert 5.0 <= e["duration_ms"] <= 15.5
    big_near = max(events(near, "muap"), key=lambda e: e["amplitude_uv"])
    big_far = max(events(far, "muap"), key=lambda e: e["amplitude_uv"])
    assert big_near["rise_us"] <= 500 and big_near["amplitude_uv"] > 400  # crisp
    assert big_far["rise_us"] > 500 and big_far["amplitude_uv"] < 100  # distant, blunt


def test_dystonia_fires_in_tonic_episodes_at_rest():
    _, truth = simulate("sim:dystonia?seed=51", 40)
    tonic = [s for s in truth.segments if s["kind"] == "tonic_activity"]
    assert len(tonic) >= 3 and 0.6 < covered(truth, "tonic_activity") / 40 < 0.97
    mu = events(truth, "muap")
    inside = [e for e in mu if any(s["start"] <= e["t"] <= s["end"] + 0.02 for s in tonic)]
    assert len(mu) > 200 and len(inside) == len(mu)


def test_myotonic_discharges_wax_and_wane_between_20_and_80_hz():
    _, truth = simulate("sim:myotonic?seed=61", 30)
    by_train: dict[int, list[dict]] = {}
    for e in events(truth, "myotonic_discharge"):
        by_train.setdefault(e["train"], []).append(e)
    whole = [evs for evs in by_train.values() if evs[-1]["t"] < 28.5 and len(evs) >= 10]
    assert len(whole) >= 5
    for evs in whole:
        rates = 1 / np.diff([e["t"] for e in evs])
        amps = np.array([e["amplitude_uv"] for e in evs])
        assert np.percentile(rates, 5) >= 17 and np.percentile(rates, 95) <= 85
        # Waxing then waning: the biggest and fastest firing is inside, not at the ends.
        assert amps[0] < amps.max() * 0.8 and amps[-1] < amps.max() * 0.8
        assert rates.max() > 1.5 * rates[-3:].mean()


def test_truth_times_are_the_largest_peaks_in_the_samples():
    x, truth = simulate("sim:denervated?seed=71&grade=2&noise_uv=3", 20)
    fs = truth.fs
    checked = 0
    for e in truth.events:
        if e["amplitude_uv"] < 30 or any(
                o is not e and abs(o["t"] - e["t"]) < 0.03 for o in truth.events):
            continue  # the largest peak of a small or crowded potential is the noise's
        i = e["index"]
        w = int(0.003 * fs)
        seg = x[i - w: i + w]
        assert abs(int(np.argmax(np.abs(seg))) - w) <= 0.0005 * fs
        checked += 1
    assert checked > 50


def test_mains_hum_clipping_and_sample_rate_options():
    x, _ = simulate("sim:rest?mains=60&hum_uv=50&seed=1", 2)
    spectrum = np.abs(np.fft.rfft(x))
    freqs = np.fft.rfftfreq(len(x), 1 / 20000)
    assert abs(freqs[np.argmax(spectrum)] - 60) < 1
    x, truth = simulate("sim:voluntary?seed=42&effort=0.4&proximity=1&clip_uv=300", 3)
    assert np.abs(x).max() <= 300 and truth.clipped
    x, truth = simulate("sim:denervated?fs=10000&seed=2", 2)
    assert len(x) == 20000 and truth.fs == 10000


def test_clock_drift_makes_a_paced_device_deliver_faster():
    dev = make_device("sim:rest?drift_ppm=5000", paced=True)
    assert dev._pacer.rate == pytest.approx(20000 * 1.005)
    assert dev.info.fs == 20000  # the nominal rate is what the device reports


def test_moving_the_needle_starts_insertional_activity_within_a_block():
    def steer(dev, index):
        if index == 20000:
            dev.move_needle()

    _, truth = simulate("sim:rest?seed=1", 2, controls=steer)
    ins = [s for s in truth.segments if s["kind"] == "insertional_activity"]
    assert len(ins) == 1 and 1.0 <= ins[0]["start"] <= 1.03


def test_effort_and_proximity_controls_act_live():
    def steer(dev, index):
        if index == 0:
            dev.set_effort(0.05)
        if index == 60000:
            dev.set_effort(0.7)

    _, truth = simulate("sim:voluntary?seed=43", 6, controls=steer)
    early = [e for e in events(truth, "muap") if e["t"] < 3]
    late = [e for e in events(truth, "muap") if e["t"] > 3.1]
    assert len(late) > 2 * len(early)
