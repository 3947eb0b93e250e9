"""The analyser: robustness to bad input, chunking, contact check, clipping, and accuracy
guards against the simulator's ground truth (held-out seeds >= 1000)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.commands.cli import main
from dsp.analysis.analyser import Analyser
from dsp.chain import analyze
from dsp.filters import FilterChain
from tests.simutil import simulate
from tools.scoring import score_events


def _kinds(a):
    return [(round(e.t, 5), e.kind) for e in a.events]


def _scored(uri: str, seconds: float, noise_uv: float):
    """The analyser's potentials on a simulated recording, scored against its truth (told
    the mains frequency where the recording has hum, as the accuracy report is)."""
    x, truth = simulate(uri, seconds)
    a = analyze(x, truth.fs, mains_hz=50 if "mains=50" in uri else None)
    return score_events(truth.events, a.events, noise_rms_uv=noise_uv,
                        segments=truth.segments, clipped=truth.clipped)


def test_live_chunks_give_the_same_potentials_as_one_second_chunks():
    x, truth = simulate("sim:denervated?seed=1004&grade=2", 6)
    offline = analyze(x, truth.fs)
    chain, an = FilterChain(truth.fs), Analyser(truth.fs)
    for i in range(0, len(x), 100):  # 5 ms, as the reader thread delivers them
        part = x[i:i + 100]
        an.process(chain.process(part), raw=part)
    live = [(round(e.t, 5), e.kind) for e in an.events]
    assert len(offline.events) > 50
    # The live run has not flushed its last 25 ms of look-ahead.
    assert live == [k for k in _kinds(offline) if k[0] < 6 - 0.03]


def test_events_are_decided_within_the_look_ahead():
    x, truth = simulate("sim:denervated?seed=1005&grade=2", 5)
    chain, an = FilterChain(truth.fs), Analyser(truth.fs)
    for i in range(0, len(x), 100):
        an.process(chain.process(x[i:i + 100]), raw=x[i:i + 100])
    delays = [e.decided_at - e.t for e in an.events]
    assert delays and max(delays) <= 0.030 + 0.005 + 1e-9  # look-ahead + one chunk


@pytest.mark.parametrize("fs", [4000, 10000, 20000, 44100, 48000])
def test_any_rate_from_4_to_48_khz(fs):
    """At every rate the fibrillations are found, and hardly any is given another word: the
    ones whose fibre's clock is not yet seen (a 5 s recording, look-alike fibres sharing a
    train) are unclassified."""
    x, truth = simulate(f"sim:denervated?seed=1006&grade=2&fs={fs}", 5)
    a = analyze(x, fs)
    s = score_events(truth.events, a.events, noise_rms_uv=4.0, segments=truth.segments)
    fib, row = s.kinds["fibrillation"], s.confusion["fibrillation"]
    assert fib.n_truth > 20 and row.get("missed", 0) < 0.2 * fib.n_truth, row
    assert fib.fp == 0 and row.get("fibrillation", 0) > 0, row
    wrong = sum(n for k, n in row.items() if k not in ("fibrillation", "unclassified", "missed"))
    assert wrong <= 0.1 * fib.n_truth, row


def test_nan_inf_flat_dc_and_saturation_do_not_break_it():
    fs = 20000.0
    x, truth = simulate("sim:denervated?seed=1007&grade=2", 4)
    bad = x.copy()
    bad[1000:1010] = np.nan
    bad[5000] = np.inf
    a = analyze(bad, fs)
    assert a.summary["bad_samples"] == 11
    assert all(np.isfinite([e.t, e.amplitude_uv, e.duration_ms]).all() for e in a.events)
    flat = analyze(np.zeros(int(2 * fs)), fs)
    assert flat.events == [] and [s.kind for s in flat.segments] == ["lead_off"]
    shifted = analyze(x + 5000.0, fs)  # a DC offset: the high-pass removes it
    assert len(shifted.events) >= 0.9 * len(analyze(x, fs).events)


def test_clipped_stretches_are_flagged_not_reported():
    x, truth = simulate("sim:voluntary?seed=1008&effort=0.4&proximity=1&clip_uv=150", 5)
    assert truth.clipped
    a = analyze(x, truth.fs)
    assert a.summary["clipped_s"] > 0 and a.summary["clipped_potentials"] > 0
    for c in truth.clipped:
        assert not any(c["start"] - 0.002 <= e.t <= c["end"] + 0.002 for e in a.events)


def test_hum_far_above_the_emg_is_a_lead_off():
    x, truth = simulate("sim:rest?seed=1009&mains=50&hum_uv=800", 3)
    a = analyze(x, truth.fs)
    lead = [s for s in a.segments if s.kind == "lead_off"]
    assert lead and sum(s.end - s.start for s in lead) > 2.0
    assert a.events == []


def test_rest_has_no_false_potentials():
    for noise in (3, 10):
        x, truth = simulate(f"sim:rest?seed=1010&noise_uv={noise}", 60)
        assert len(analyze(x, truth.fs).events) <= 1


@pytest.mark.parametrize("uri, kind, f1", [
    ("sim:denervated?seed=1011&grade=2", "fibrillation", 0.85),
    ("sim:denervated?seed=1012&grade=3", "positive_sharp_wave", 0.85),
    ("sim:endplate?seed=1013", "end_plate_spike", 0.8),
    ("sim:dystonia?seed=1014", "muap", 0.9),
])
def test_accuracy_guards(uri, kind, f1):
    """Regression guards: each kind's potentials found (by any word or none), and the word
    given right (precision first: a wrong word is worse than none); docs/analyser.md and
    tools.compare have the figures."""
    s = _scored(uri, 30, noise_uv=4.0)
    k, row = s.kinds[kind], s.confusion[kind]
    assert row.get("missed", 0) < (1 - f1) * k.n_truth, row
    assert k.precision >= 0.95 and k.recall > 0.25, (k, row)


def test_segments_found():
    x, truth = simulate("sim:endplate?seed=1015", 20)
    a = analyze(x, truth.fs)
    epn = sum(s.end - s.start for s in a.segments if s.kind == "end_plate_noise")
    truth_epn = sum(s["end"] - s["start"] for s in truth.segments
                    if s["kind"] == "end_plate_noise")
    assert epn > 0.7 * truth_epn
    x, truth = simulate("sim:trigger-point?seed=1016", 30)
    a = analyze(x, truth.fs)
    assert any(s.kind == "local_twitch_response" for s in a.segments)
    x, truth = simulate("sim:dystonia?seed=1017", 20)
    a = analyze(x, truth.fs)
    assert sum(s.end - s.start for s in a.segments if s.kind == "tonic_activity") > 10


def test_analyze_command_json_has_the_design_keys(tmp_path, capsys):
    out = tmp_path / "d.edf"
    assert main(["record", "--device", "sim:denervated?seed=1018", "--seconds", "5",
                 "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["analyze", str(out), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert set(d) == {"source", "fs", "duration_s", "channel", "events", "trains",
                      "segments", "summary"}
    assert d["fs"] == 20000.0 and d["duration_s"] == 5.0 and d["events"]
    assert set(d["events"][0]) == {"t", "kind", "amplitude_uv", "duration_ms", "train"}
    assert {"rms_uv", "turns_per_s", "counts"} <= set(d["summary"])
    assert main(["analyze", str(out)]) == 0
    assert "Fibrillations" in capsys.readouterr().out


def test_analyze_bad_input_is_one_line(tmp_path, capsys):
    assert main(["analyze", str(tmp_path / "none.edf")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("needlepoint:") and err.count("\n") == 1


def test_a_distant_units_later_phases_are_not_extra_potentials():
    """A distant motor unit is blunt and triphasic, its terminal phase nearly as large as
    its main one: one potential per firing, not two."""
    s = _scored("sim:dystonia?seed=1018&noise_uv=3", 20, noise_uv=3.0)
    spurious = sum(s.confusion["spurious"].values())  # by any word, or none
    assert spurious < 0.05 * s.kinds["muap"].n_truth, (spurious, s.kinds["muap"])


def test_noisy_fibrillation_trains_stay_whole():
    """At 6 uV of noise a small fibre's potentials correlate less with its train's template;
    the bar is lowered by the noise so the train is not broken into pieces."""
    x, truth = simulate("sim:denervated?seed=1019&grade=2&fs=10000&noise_uv=6", 30)
    a = analyze(x, truth.fs)
    spont = [e for e in a.events if e.kind in ("fibrillation", "positive_sharp_wave")]
    sizes = {}
    for e in spont:
        sizes[e.train] = sizes.get(e.train, 0) + 1
    in_long = sum(n for n in sizes.values() if n >= 20)
    assert in_long >= 0.7 * len(spont), (in_long, len(spont))


def test_healthy_recording_has_no_spontaneous_activity():
    """PhysioNet's healthy tibialis anterior (voluntary bursts): at most one fibrillation,
    positive sharp wave or end-plate spike call per minute. The starts of bursts, where a
    motor unit's first phase looks like a fibrillation, are where such calls came from."""
    from devices.formats import read_recording

    rec = read_recording("/work/shared/data/physionet-emgdb/emg_healthy.hea")
    a = analyze(rec.samples[:, 0], rec.fs)
    calls = [e for e in a.events
             if e.kind in ("fibrillation", "positive_sharp_wave", "end_plate_spike")]
    assert len(calls) <= rec.duration_s / 60.0, [(round(e.t, 3), e.kind) for e in calls]


def _add(x: np.ndarray, fs: float, t0: float, shape) -> None:
    i0, i1 = int((t0 + shape.start) * fs), int((t0 + shape.end) * fs)
    x[i0:i1] += shape(np.arange(i0, i1) / fs - t0)


def _train_of(shape_fn, fs: float, noise_uv: float, pp_uv: float, seconds: float = 20.0):
    """A regular 5 Hz train of one simulator shape in Gaussian noise: (samples, count)."""
    from devices.simulator import shapes

    rng = np.random.default_rng(3)
    x = rng.normal(0.0, noise_uv, int(seconds * fs))
    times = np.arange(0.5, seconds - 0.5, 0.2)
    for t0 in times:
        _add(x, fs, t0, getattr(shapes, shape_fn)(rng, pp_uv, 15.0))
    return x, times.size


def test_noisy_sharp_waves_stay_sharp_waves():
    """A 60 uV sharp wave in 10 uV of noise: noise alone must not read as a negative spike
    (judged on the shape branch, where the noise is lower and the slow phase is kept)."""
    x, n = _train_of("positive_sharp_wave", 20000.0, 10.0, 60.0)
    kinds = [e.kind for e in analyze(x, 20000.0).events]
    assert kinds.count("positive_sharp_wave") >= 0.85 * n, (n, sorted(set(kinds)))


def test_faint_sharp_waves_are_found_in_their_own_band():
    """Sharp waves of 5 times the noise at 10 kHz (50 uV in 10 uV): 49 of 95 peaked above
    the threshold in the detection band; the sharp-wave band finds 71, and nothing else."""
    x, n = _train_of("positive_sharp_wave", 10000.0, 10.0, 50.0)
    got = analyze(x, 10000.0).events
    assert len(got) >= 0.7 * n and len(got) <= n, (len(got), n)


def test_small_blunt_potentials_at_rest_are_not_motor_units():
    """In a grade-3 field, overlaps make small fibrillations read long or blunt; at rest,
    while their train is new or regular, they are judged by their first phase (10 % were
    called motor units before, 3 % now)."""
    s = _scored("sim:denervated?seed=1021&grade=3&fs=20000&noise_uv=6", 30, noise_uv=6.0)
    row = s.confusion["fibrillation"]
    assert row.get("muap", 0) < 0.05 * s.kinds["fibrillation"].n_truth, row


def test_end_plate_noise_is_not_named_fibrillation():
    """In an end-plate zone, summed miniature potentials read as small positive-first
    spikes; without a clock they are the end plate's, not fibrillations (924 were named
    fibrillations within this run's end-plate noise before; 24 once clocks were required,
    30 since small spikes that stand out only below 1 kHz are taken: chance clocks among
    hundreds of miniature potentials), and their fast runs are not myotonic discharges
    (431 calls when a discharge's split train was first kept whole, 19 before that, none
    now)."""
    x, truth = simulate("sim:endplate?seed=1031&fs=20000&noise_uv=3", 30)
    a = analyze(x, truth.fs)
    assert a.summary["counts"].get("myotonic_discharge", 0) < 3, a.summary["counts"]
    epn = [(s.start, s.end) for s in a.segments if s.kind == "end_plate_noise"]
    assert sum(e - s for s, e in epn) > 15
    inside = [e for e in a.events if e.kind == "fibrillation"
              and any(s <= e.t < end for s, end in epn)]
    assert len(inside) < 40, len(inside)


@pytest.mark.parametrize("uri", ["sim:voluntary?seed=1033&effort=0.1&units=8&noise_uv=6",
                                 "sim:dystonia?seed=1038&noise_uv=6&fs=10000"])
def test_small_distant_units_are_not_fibrillations(uri):
    """Light effort or a dystonic pull with no large unit near the tip: the distant units'
    small potentials share trains that fire semiregularly or without a clear pattern, and
    are motor units, not spontaneous activity (21 % and 22 % of them were named
    fibrillations or end-plate spikes in these runs, before the unit trains counted as
    firing units and a blunt potential was read by its first phase only while its train
    was young; 7 % after; 5 % and 4 % now that a fibrillation needs a clock where units
    fired lately and nothing showed denervation)."""
    s = _scored(uri, 30, noise_uv=6.0)
    row = s.confusion["muap"]
    spontaneous = row.get("fibrillation", 0) + row.get("end_plate_spike", 0)
    assert spontaneous < 0.06 * s.kinds["muap"].n_truth, row


def test_blunt_fibrillations_in_a_denervated_field_are_fibrillations():
    """A dense grade-4 field at 10 kHz: fibrillations overlap and read blunt, in trains
    that fragment. Where sharp waves and clock-like trains show denervation, they are read
    as fibres whatever their train (91 of 467 were named motor units before, 3 now)."""
    s = _scored("sim:denervated?seed=1035&grade=4&fs=10000&noise_uv=6", 30, noise_uv=6.0)
    row = s.confusion["fibrillation"]
    assert row.get("muap", 0) < 0.05 * s.kinds["fibrillation"].n_truth, row


def test_a_denervated_field_without_end_plate_noise_has_no_end_plate_spikes():
    """Grade 4, no end plate near the tip: spikes that start negative are fibres' or sharp
    waves' recorded near their origin, not end-plate spikes (80 were named end-plate
    spikes in this run before, 3 now)."""
    x, truth = simulate("sim:denervated?seed=1042&grade=4&fs=20000&noise_uv=6", 30)
    counts = analyze(x, truth.fs).summary["counts"]
    assert counts.get("end_plate_spike", 0) < 10, counts


def test_a_myotonic_discharge_split_by_the_tracker_stays_one_discharge():
    """A discharge's size swings as it waxes and wanes, and the tracker splits it; the
    potentials of its shape and size that come while it goes on are still myotonic (72 of
    616 were named sharp waves or fibrillations in this run before, 52 now)."""
    s = _scored("sim:myotonic?seed=1046&fs=10000&noise_uv=6", 30, noise_uv=6.0)
    row = s.confusion["myotonic_discharge"]
    other = row.get("positive_sharp_wave", 0) + row.get("fibrillation", 0)
    assert other < 0.1 * s.kinds["myotonic_discharge"].n_truth, row


def test_a_myotonic_discharges_blunt_potentials_are_not_motor_units():
    """A discharge of blunt potentials at 20-30 Hz reads like a unit's train; at rest, a
    small one in a run faster than fibrillations is read by its first phase (66 of 536 were
    named motor units in this run before, 10 now)."""
    s = _scored("sim:myotonic?seed=1060&fs=20000&noise_uv=6", 30, noise_uv=6.0)
    row = s.confusion["myotonic_discharge"]
    assert row.get("muap", 0) < 0.05 * s.kinds["myotonic_discharge"].n_truth, row


def test_needle_moves_do_not_make_end_plate_spikes_motor_units():
    """After a needle move, the twitch's units and the move's large one-off discharges stop;
    the end-plate spikes that go on are not called motor units for the next second
    (205 of 1344 were, before a twitch's units were let go with it and before a one-off
    discharge stopped counting as a firing unit)."""
    s = _scored("sim:trigger-point?seed=1023", 60, noise_uv=3.0)
    eps = s.kinds["end_plate_spike"]
    assert s.confusion["end_plate_spike"].get("muap", 0) < 0.1 * eps.n_truth
    assert eps.precision >= 0.95 and eps.recall > 0.3, eps


def test_a_coarse_adc_is_not_end_plate_noise():
    """A 10-bit board (about 10 uV per count over 3 uV of noise) leaves quiet signal one
    rounding step either side of its envelope; told the step, the analyser does not call
    that end-plate noise, and still finds the real thing at that resolution."""
    step = 5000.0 / 512
    x, truth = simulate("sim:denervated?seed=1024&fs=10000", 20)
    a = analyze(np.round(x / step) * step, 10000.0, step_uv=step)
    assert not [s for s in a.segments if s.kind == "end_plate_noise"]
    x, truth = simulate("sim:endplate?seed=1025&fs=10000", 20)
    a = analyze(np.round(x / step) * step, 10000.0, step_uv=step)
    found = sum(s.end - s.start for s in a.segments if s.kind == "end_plate_noise")
    truth_epn = sum(s["end"] - s["start"] for s in truth.segments
                    if s["kind"] == "end_plate_noise")
    assert found > 0.8 * truth_epn


def test_a_reader_that_stops_early_is_not_an_error(tmp_path):
    """`needlepoint analyze f --json | head -c 10`: no traceback when the pipe closes."""
    import subprocess
    import sys

    from app.commands.cli import main as cli_main

    rec = tmp_path / "busy.edf"
    assert cli_main(["record", "--device", "sim:denervated?grade=4", "--seconds", "30",
                     "--out", str(rec)]) == 0
    p = subprocess.Popen([sys.executable, "-m", "app.commands.cli", "analyze", "--json", str(rec)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert len(p.stdout.read(10)) == 10  # more than a pipe holds is still to come
    p.stdout.close()
    err = p.stderr.read().decode()
    p.wait(timeout=60)
    assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_a_recording_that_starts_in_a_contraction_has_no_fibrillation():
    """In a recording's first moments no unit has fired twice yet: one large unit's
    potential shows units firing, and a small spike after it is a unit's, not a
    fibrillation (the real healthy recording starts so)."""
    from devices.simulator import shapes

    fs = 20000.0
    rng = np.random.default_rng(6)
    x = rng.normal(0.0, 5.0, int(1.0 * fs))
    _add(x, fs, 0.15, shapes.motor_unit(rng, 800.0, 10.0, 0.1))
    _add(x, fs, 0.21, shapes.fibrillation(rng, 150.0, 2.0))
    got = dict((round(e.t, 2), e.kind) for e in analyze(x, fs).events)
    assert got.get(0.21) in ("muap", "unclassified"), got


def test_small_negative_spikes_outside_end_plate_noise_are_reported():
    """A fibrillation whose small first phase the noise hides reads as a narrow negative
    spike, the shape of a miniature end-plate potential. Without end-plate noise around
    it, it is a potential to report, not one to leave to the end-plate noise detector
    (367 fibrillations were lost so on tuning seeds 11-19, grade 3-4)."""
    from devices.simulator.shapes import Lobe, Shape

    fs = 20000.0
    rng = np.random.default_rng(5)
    x = rng.normal(0.0, 5.0, int(20 * fs))
    times = np.arange(0.5, 19.5, 0.2)
    for t0 in times:
        _add(x, fs, t0, Shape([Lobe(-1.0, 0.0, 0.00015)], 70.0))
    got = analyze(x, fs).events
    assert len(got) >= 0.9 * times.size
    # Its clock says a fibre; with no first phase seen, its shape does not say which kind
    # of fibre potential: reported unclassified, not a word it may not deserve.
    assert {e.kind for e in got} <= {"fibrillation", "unclassified"}, {e.kind for e in got}


def test_fibrillations_in_a_dense_field_are_found():
    """A grade 4 field at 10 kHz: 69 of 864 fibrillations were missed with a floor read
    in 50 ms blocks (the field's noise, not the amplifier's), 27 now."""
    s = _scored("sim:denervated?grade=4&seed=1073&fs=10000&noise_uv=6", 30, noise_uv=6.0)
    row, n = s.confusion["fibrillation"], s.kinds["fibrillation"].n_truth
    assert row.get("missed", 0) < 0.04 * n, row


def test_a_recordings_first_unit_is_no_fasciculation():
    """A fasciculation is a unit firing after a quiet second; a recording that starts in a
    contraction has shown no quiet before its first unit (every voluntary run's first unit
    was called one). A unit firing alone later still is."""
    from devices.simulator import shapes

    fs = 20000.0
    rng = np.random.default_rng(8)
    x = rng.normal(0.0, 3.0, int(4.0 * fs))
    unit = shapes.motor_unit(rng, 800.0, 10.0, 0.1)
    for t0 in (0.2, 0.3, 0.41, 0.5, 2.5):
        _add(x, fs, t0, unit)
    got = [(round(e.t, 1), e.kind) for e in analyze(x, fs).events]
    assert got[0] == (0.2, "muap") and (2.5, "fasciculation") in got, got


def _unit_firing(seed: int, distance_mm: float, polyphasic: bool):
    """One simulated unit at `distance_mm` firing 190 times at 10 Hz (CV 0.12) in 3 uV of
    noise at 20 kHz: (samples, fs, firing times)."""
    from devices.simulator import shapes

    fs = 20000.0
    rng = np.random.default_rng(seed)
    unit = shapes.motor_unit(np.random.default_rng([seed, 7]), 1000.0, 10.0, distance_mm,
                             polyphasic=polyphasic)
    x = rng.normal(0.0, 3.0, int(20 * fs))
    times = np.cumsum(rng.normal(0.1, 0.012, 190)) + 0.3
    for t0 in times:
        _add(x, fs, t0, unit)
    return x, fs, times


def test_a_polyphasic_units_satellite_is_not_another_potential():
    """A polyphasic unit's satellite follows its spike at the same delay every firing, 0.5
    to 1 times its size in the shape branch: one potential per firing, not two (the old
    reading stopped the unit's extent halfway to the satellite and reported it again)."""
    x, fs, times = _unit_firing(6, 0.45, polyphasic=True)
    kinds = [e.kind for e in analyze(x, fs).events]
    assert len(kinds) <= 1.04 * times.size and kinds.count("muap") >= 0.85 * times.size, (
        len(kinds), {k: kinds.count(k) for k in set(kinds)})
    assert set(kinds) <= {"muap", "unclassified"}


def test_a_units_slow_initial_phase_is_not_another_potential():
    """0.6 mm from a unit, its slow initial phase (2.5-3 ms wide at half height, a quarter
    of the spike's size) stands out of 3 uV of noise 3-4 ms before the spike: part of the
    unit, not a potential of its own."""
    x, fs, times = _unit_firing(4, 0.6, polyphasic=False)
    got = analyze(x, fs).events
    early = [e for e in got if np.min(np.abs(times - e.t - 0.0035)) < 0.001]
    assert len(early) <= 0.02 * times.size and len(got) <= 1.04 * times.size, (
        len(early), len(got))


def test_a_sharp_wave_on_anothers_slow_phase_is_found():
    """A 50 uV sharp wave 5-9 ms after a 150 uV one starts on its slow negative phase, low
    from zero but clear of the line it rides on (10 kHz, 6 uV of noise): 2-6 of 95 were
    found when the shape branch was judged from zero, 61-71 now."""
    from devices.simulator import shapes

    fs = 10000.0
    rng = np.random.default_rng(1)
    x = rng.normal(0.0, 6.0, int(20 * fs))
    first = np.arange(0.5, 19.5, 0.2)
    second = first + rng.uniform(0.005, 0.009, first.size)
    for t0 in first:
        _add(x, fs, t0, shapes.positive_sharp_wave(rng, 150.0, 15.0))
    for t0 in second:
        _add(x, fs, t0, shapes.positive_sharp_wave(rng, 50.0, 15.0))
    got = np.array([e.t for e in analyze(x, fs).events])
    found = sum(np.abs(got - t).min() < 0.003 for t in second)
    assert found >= 0.55 * second.size, (found, second.size)
    assert all(np.abs(got - t).min() < 0.003 for t in first)


def test_a_spike_firing_like_a_motor_unit_is_one():
    """A 200 uV spike of a fibrillation's shape firing alone at 12 Hz with CV 0.15 (a
    motor unit's firing, not a fibre's clock), 10 kHz, 6 uV of noise: all 220 were named
    fibrillations when only the spike's shape counted, 202 are motor units now."""
    from devices.simulator import shapes

    fs = 10000.0
    rng = np.random.default_rng(1)
    x = rng.normal(0.0, 6.0, int(20 * fs))
    times = np.cumsum(rng.normal(1 / 12, 0.15 / 12, 220)) + 0.3
    spike = shapes.fibrillation(rng, 200.0, 3.0)
    for t0 in times[times < 19.5]:
        _add(x, fs, t0, spike)
    kinds = [e.kind for e in analyze(x, fs).events]
    # Its shape says a fibre, its firing a unit: the evidence disagrees, so no word.
    assert len(kinds) >= 0.9 * 220 and set(kinds) <= {"muap", "unclassified"}, {
        k: kinds.count(k) for k in set(kinds)}


def test_spiky_units_firing_like_units_are_motor_units_firing():
    """A light contraction at 10 kHz in 10 uV of noise: four units read as sharp spikes on
    that coarse grid, their trains fire semiregularly (CV 0.08-0.18 at 7-11 Hz), so motor
    units are firing and no spike beside them is spontaneous activity. Before such trains
    counted as units firing, only their motor-unit-shaped potentials did; at rest a
    positive-first spike is read as a fibrillation by its shape, and 62 of the 439 scored
    unit potentials were (8 now)."""
    s = _scored("sim:voluntary?effort=0.2&units=6&seed=14&fs=10000&noise_uv=10", 30,
                noise_uv=10.0)
    row = s.confusion["muap"]
    # 17 of 439 (3.9 %) since a fibrillation needs a clock: units firing evenly for some
    # beats before their trains read semiregular.
    assert row.get("fibrillation", 0) < 0.05 * s.kinds["muap"].n_truth, row


def test_a_dense_fields_fibrillations_are_not_end_plate_noise():
    """A grade 4 field at 10 kHz in 6 uV of noise: its small fibrillations pass for
    miniature potentials, and the end-plate noise detector flags a quarter of the run.
    Where sharp waves and clock-like trains show denervation, an unclocked small spike in
    it is still a fibrillation (F1 0.864 with 160 of 795 missed before, 0.929 and 87)."""
    s = _scored("sim:denervated?grade=4&seed=13&fs=10000&noise_uv=6", 30, noise_uv=6.0)
    row = s.confusion["fibrillation"]
    assert row.get("end_plate_spike", 0) == 0 and s.kinds["fibrillation"].precision >= 0.95, (
        dict(row), s.kinds["fibrillation"])


def test_a_denervated_fields_blunt_fibre_trains_are_not_units_firing():
    """A grade 3 field at 10 kHz in 3 uV of noise: overlapping fibrillations read blunt,
    shaped like small motor unit potentials, in trains that fire semiregularly. Where the
    field shows denervation such a train under 200 uV is a fibre's, not a motor unit
    firing; counted as one, the field was not 'at rest' and the fibrillations around it
    were named motor units (113 of 799, F1 0.886; 18 and 0.954 with the rule). Since a
    unit-shaped call in an irregular train no longer makes a field denervated (only keeps
    it so), this field is read as denervated 2 s later, in its third second: 61 and 0.925
    (121 and 0.880 without the rule)."""
    s = _scored("sim:denervated?grade=3&seed=18&fs=10000&noise_uv=3", 30, noise_uv=3.0)
    row = s.confusion["fibrillation"]
    assert row.get("muap", 0) < 80 and s.kinds["fibrillation"].precision >= 0.95, dict(row)


def test_fibrillations_in_10_uv_of_noise_at_10_khz_stand_out_below_1_khz():
    """At 10 kHz, 10 uV of noise (with hum) hides a small fibrillation in the shape branch
    (below 2.5 kHz) while it still stands out below 1 kHz, where the noise is 0.63 times
    as large: a grade 1 field had 11 of its 94 fibrillations missed (F1 0.938; 1 and 0.995
    with the slow branch)."""
    s = _scored("sim:denervated?grade=1&seed=11&fs=10000&noise_uv=10&mains=50&hum_uv=20", 30,
                noise_uv=10.0)
    row = s.confusion["fibrillation"]
    assert row.get("missed", 0) <= 4 and s.kinds["fibrillation"].precision >= 0.95, dict(row)


def test_a_small_units_terminal_phase_is_not_another_potential():
    """Dystonia at 20 kHz, 3 uV: a small unit's terminal phase 4-5 ms after its peak is
    lost in the noise when its extent is measured; it was reported as a motor unit
    potential of its own (in 30 s, 128 spurious unit potentials beside 514 found; 154 once
    the slow branch was added; 23 with the unit's phases taken to reach 6 ms)."""
    s = _scored("sim:dystonia?seed=11&fs=20000&noise_uv=3", 30, noise_uv=3.0)
    spurious = sum(s.confusion.get("spurious", {}).values())  # by any word, or none
    assert spurious < 60 and s.kinds["muap"].precision >= 0.95, (s.kinds["muap"],
                                                                  dict(s.confusion["muap"]))


def test_a_unit_firing_evenly_for_a_few_beats_does_not_make_the_field_denervated():
    """A light contraction at 10 kHz, 3 uV, of four small units (25-80 uV) that the tracker
    partly merges: a unit that fired evenly for a few beats was named fibrillation, each
    call counted as a sign of denervation, and from then on the field was read as
    denervated: 337 of its unit potentials were named fibrillation in 30 s once the slow
    branch found more of them (27 now)."""
    s = _scored("sim:voluntary?effort=0.3&units=6&seed=13003&fs=10000&noise_uv=3", 30,
                noise_uv=3.0)
    row = s.confusion["muap"]
    assert row.get("fibrillation", 0) < 80, dict(row)
