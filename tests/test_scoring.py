"""The scorer (tools.scoring) and the accuracy report's plumbing (tools.evaluate), checked with
hand-made truth and detections and with the simulator's own truth."""

from __future__ import annotations

import math
import sys

import pytest

from dsp.analysis.results import Analysis, Event, Segment
from tests.simutil import simulate
from tools import evaluate
from tools.scoring import (
    BinCount,
    KindScore,
    SegmentAgreement,
    bin_labels,
    false_count,
    false_per_minute,
    match_events,
    pool,
    score_events,
    segment_agreement,
)

KINDS = ("fibrillation", "positive_sharp_wave", "end_plate_spike", "muap")


def ev(t: float, kind: str = "fibrillation", amp: float = 100.0) -> dict:
    return {"t": t, "kind": kind, "amplitude_uv": amp}


def seg(start: float, end: float, kind: str) -> dict:
    return {"start": start, "end": end, "kind": kind}


def score(truth, detected, **kw):
    return score_events(truth, detected, noise_rms_uv=kw.pop("noise", 4.0), **kw)


# matching and F1 ---------------------------------------------------------------------------

def test_perfect_detections_score_one_for_every_kind():
    truth = [ev(0.05 + 0.1 * i, KINDS[i % 4]) for i in range(40)]
    s = score(truth, truth)
    for k in KINDS:
        ks = s.kinds[k]
        assert (ks.tp, ks.fn, ks.fp) == (10, 0, 0)
        assert ks.precision == ks.recall == ks.f1 == 1.0


def test_result_events_are_accepted_like_dicts():
    truth = [ev(1.0), ev(2.0, "muap", 500)]
    detected = [Event(1.001, "fibrillation", 90, 2.0), Event(2.0, "muap", 480, 9.0)]
    assert score(truth, detected).total().f1 == 1.0


@pytest.mark.parametrize("shift", [0.002, -0.002, 0.003, -0.003])
def test_a_shift_up_to_3_ms_still_matches(shift):
    truth = [ev(1.0), ev(2.0)]
    s = score(truth, [ev(e["t"] + shift) for e in truth])
    assert (s.kinds["fibrillation"].tp, s.kinds["fibrillation"].fp) == (2, 0)


def test_a_shift_of_4_ms_does_not_match():
    truth = [ev(1.0), ev(2.0)]
    ks = score(truth, [ev(e["t"] + 0.004) for e in truth]).kinds["fibrillation"]
    assert (ks.tp, ks.fn, ks.fp, ks.f1) == (0, 2, 2, 0.0)


def test_a_wrong_kind_is_a_false_positive_and_a_miss():
    truth = [ev(1.0, "fibrillation"), ev(2.0, "positive_sharp_wave")]
    detected = [ev(1.0, "end_plate_spike"), ev(2.0, "positive_sharp_wave")]
    s = score(truth, detected)
    assert (s.kinds["fibrillation"].tp, s.kinds["fibrillation"].fn) == (0, 1)
    assert (s.kinds["end_plate_spike"].tp, s.kinds["end_plate_spike"].fp) == (0, 1)
    assert s.kinds["positive_sharp_wave"].f1 == 1.0
    assert s.confusion["fibrillation"] == {"end_plate_spike": 1}
    assert s.confusion["positive_sharp_wave"] == {"positive_sharp_wave": 1}


def test_unclassified_is_a_miss_for_its_true_kind_and_no_false_positive():
    truth = [ev(1.0, "fibrillation"), ev(2.0, "positive_sharp_wave")]
    detected = [ev(1.0, "unclassified"), ev(2.0, "positive_sharp_wave"), ev(3.0, "unclassified")]
    s = score(truth, detected)
    assert (s.kinds["fibrillation"].tp, s.kinds["fibrillation"].fn) == (0, 1)
    assert s.kinds["fibrillation"].fp == 0
    assert s.kinds["positive_sharp_wave"].f1 == 1.0
    assert "unclassified" not in s.kinds
    assert s.total().fp == 0
    assert s.confusion["fibrillation"] == {"unclassified": 1}
    assert s.ignored_kinds["unclassified"] == {"unclassified": 1}


def test_matching_ignores_kind_and_takes_the_nearest_first():
    truth = [ev(1.0, "fibrillation")]
    detected = [ev(1.001, "muap"), ev(1.0025, "fibrillation")]
    m = match_events(truth, detected)
    assert list(m.truth_to_detected) == [0] and list(m.detected_to_truth) == [0, -1]
    assert m.dt_s[0] == pytest.approx(0.001)
    s = score(truth, detected)
    assert (s.kinds["fibrillation"].fn, s.kinds["fibrillation"].fp) == (1, 1)
    assert s.kinds["muap"].fp == 1
    assert s.confusion["spurious"] == {"fibrillation": 1}


def test_greedy_matching_gives_each_detection_its_nearest_free_truth():
    truth = [ev(1.000), ev(1.005)]
    detected = [ev(1.003), ev(0.999)]  # 1.003 is 2 ms from the second, 3 ms from the first
    m = match_events(truth, detected)
    assert m.pairs == [(0, 1), (1, 0)]


def test_crowded_truth_is_left_out_with_the_detections_near_it():
    truth = [ev(1.000), ev(1.003, "positive_sharp_wave"), ev(2.0), ev(3.0), ev(3.0045)]
    detected = [ev(1.000), ev(1.003), ev(0.9985, "muap"), ev(2.0), ev(3.0), ev(3.0045)]
    s = score(truth, detected)
    ks = s.kinds["fibrillation"]
    assert (ks.tp, ks.fn, ks.fp) == (3, 0, 0)  # 3.0 and 3.0045 are 4.5 ms apart: scored
    assert "positive_sharp_wave" not in s.kinds and "muap" not in s.kinds
    assert s.left_out == {"crowded": 2, "clipped": 0}
    assert s.ignored == {"crowded": 3}


def test_truth_exactly_4_ms_apart_is_crowded():
    s = score([ev(1.0), ev(1.004)], [])
    assert s.left_out["crowded"] == 2 and s.total().n_truth == 0


def test_small_truth_is_binned_by_amplitude_not_scored():
    amps = (2, 6, 10, 16, 30)  # 0.5, 1.5, 2.5, 4 and 7.5 x the 4 uV noise
    truth = [ev(float(i + 1), amp=a) for i, a in enumerate(amps)]
    detected = [ev(1.0, "muap"), ev(3.0), ev(5.0)]
    s = score(truth, detected)
    assert (s.kinds["fibrillation"].tp, s.kinds["fibrillation"].fn) == (1, 0)
    assert s.total().fp == 0 and s.ignored == {"below threshold": 2}
    bins = s.bins["fibrillation"]
    assert bins == {"<1": BinCount(1, 1, 0), "1-2": BinCount(1, 0, 0),
                    "2-3": BinCount(1, 1, 1), "3-5": BinCount(1, 0, 0),
                    ">=5": BinCount(1, 1, 1)}
    assert bin_labels() == ["<1", "1-2", "2-3", "3-5", ">=5"]


def test_unmatched_detections_in_excusing_segments_or_clipping_are_not_false():
    segments = [seg(1.0, 1.3, "insertional_activity"), seg(2.0, 2.2, "local_twitch_response"),
                seg(3.0, 5.0, "end_plate_noise"), seg(6.0, 8.0, "tonic_activity")]
    clipped = [{"start": 9.0, "end": 9.01}]
    detected = [ev(t) for t in (1.1, 2.1, 4.0, 7.0, 9.005, 10.0)]
    s = score([], detected, segments=segments, clipped=clipped)
    assert s.kinds["fibrillation"].fp == 2  # in tonic activity and in the open
    assert s.ignored == {"insertional_activity": 1, "local_twitch_response": 1,
                         "end_plate_noise": 1, "clipped": 1}
    # What the excused detections were named stays visible: a "fibrillation" inside
    # end-plate noise is a wrong call the score does not count.
    assert s.ignored_kinds["end_plate_noise"] == {"fibrillation": 1}


def test_a_wrong_kind_inside_end_plate_noise_is_still_false():
    s = score([ev(4.0, "end_plate_spike")], [ev(4.0, "fibrillation")],
              segments=[seg(3.0, 5.0, "end_plate_noise")])
    assert (s.kinds["end_plate_spike"].fn, s.kinds["fibrillation"].fp) == (1, 1)


def test_truth_in_a_clipped_stretch_is_left_out():
    s = score([ev(9.005), ev(10.0)], [ev(10.0)], clipped=[{"start": 9.0, "end": 9.01}])
    assert s.left_out == {"crowded": 0, "clipped": 1}
    assert (s.kinds["fibrillation"].tp, s.kinds["fibrillation"].fn) == (1, 0)


def test_empty_inputs_give_undefined_scores_not_errors():
    s = score([], [])
    assert s.kinds == {} and math.isnan(s.total().f1)
    assert math.isnan(KindScore().precision) and math.isnan(KindScore().recall)


def test_pool_adds_the_counts_of_several_recordings():
    a = score([ev(1.0), ev(2.0, amp=6)], [ev(1.0), ev(5.0)])
    b = score([ev(1.0)], [])
    p = pool([a, b])
    assert (p.kinds["fibrillation"].tp, p.kinds["fibrillation"].fn,
            p.kinds["fibrillation"].fp) == (1, 1, 1)
    assert p.bins["fibrillation"][">=5"] == BinCount(2, 1, 1)
    assert p.bins["fibrillation"]["1-2"] == BinCount(1, 0, 0)
    assert p.confusion["fibrillation"] == {"fibrillation": 1, "missed": 1}


# rest and segments --------------------------------------------------------------------------

def test_false_per_minute_leaves_out_excluded_time():
    detected = [ev(5.0), ev(30.0, "muap"), ev(55.0)]
    assert false_per_minute(detected, 60.0) == pytest.approx(3.0)
    excl = [seg(28.0, 38.0, "insertional_activity")]
    n, minutes = false_count(detected, 60.0, excl)
    assert (n, minutes) == (2, pytest.approx(50 / 60))
    assert false_per_minute(detected, 60.0, excl) == pytest.approx(2.4)
    assert math.isnan(false_per_minute(detected, 60.0, [seg(0, 60, "insertional_activity")]))


def test_segment_agreement_measures_coverage_and_hits():
    truth = [seg(0, 10, "end_plate_noise"), seg(20, 30, "end_plate_noise"),
             seg(50, 60, "tonic_activity")]
    detected = [seg(5, 15, "end_plate_noise"), seg(8, 12, "end_plate_noise"),
                seg(40, 41, "end_plate_noise"), Segment(55, 56, "tonic_activity")]
    a = segment_agreement(truth, detected, "end_plate_noise", 100.0)
    assert (a.truth_s, a.detected_s, a.overlap_s) == (20.0, 11.0, 5.0)
    assert a.sensitivity == pytest.approx(0.25)
    assert a.false_coverage == pytest.approx(6 / 80)
    assert (a.n_truth, a.n_hit, a.n_detected, a.n_detected_false) == (2, 1, 3, 1)
    both = a + segment_agreement(truth, truth, "end_plate_noise", 100.0)
    assert both.sensitivity == pytest.approx(25 / 40)
    t = segment_agreement(truth, detected, "tonic_activity", 100.0)
    assert (t.n_hit, t.sensitivity, t.false_coverage) == (1, 0.1, 0.0)
    none = SegmentAgreement()
    assert math.isnan(none.sensitivity) and math.isnan(none.hit_fraction)


def test_segments_beyond_the_recording_are_clipped_to_it():
    a = segment_agreement([seg(-1, 2, "end_plate_noise")],
                          [seg(9, 12, "end_plate_noise")], "end_plate_noise", 10.0)
    assert (a.truth_s, a.detected_s, a.overlap_s) == (2.0, 1.0, 0.0)


# the simulator's truth ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def denervated():
    _, truth = simulate("sim:denervated?seed=5", 10)
    return truth


def _scored_by_hand(events: list[dict], noise: float) -> list[int]:
    """Indices of the truth events that count, by the issue's words, with plain loops."""
    out = []
    for i, e in enumerate(events):
        alone = all(abs(e["t"] - o["t"]) > 0.004 for j, o in enumerate(events) if j != i)
        if alone and e["amplitude_uv"] >= 5 * noise:
            out.append(i)
    return out


def _gap(events: list[dict], i: int) -> float:
    return min(abs(events[i]["t"] - o["t"]) for j, o in enumerate(events) if j != i)


def test_a_copy_of_the_simulator_truth_scores_one(denervated):
    events = denervated.events
    assert len(events) > 50
    s = score(events, events, segments=denervated.segments, clipped=denervated.clipped)
    assert s.total().n_truth == len(_scored_by_hand(events, 4.0))
    for k, ks in s.kinds.items():
        assert ks.f1 == 1.0, k
    assert s.total().fp == 0


def test_dropped_relabelled_and_jittered_detections_count_as_expected(denervated):
    events = denervated.events
    scored = _scored_by_hand(events, 4.0)
    detected, expected = [], {}
    for i, e in enumerate(events):
        if i not in scored:
            detected.append(dict(e))  # left out or small: ignored whatever happens
            continue
        k = scored.index(i) % 5
        exp = expected.setdefault(e["kind"], [0, 0, 0])
        if k == 0:  # dropped
            exp[1] += 1
        elif k == 1:  # relabelled
            detected.append({**e, "kind": "end_plate_spike"})
            exp[1] += 1
            expected.setdefault("end_plate_spike", [0, 0, 0])[2] += 1
        else:  # jittered by 2.5 ms when no other potential is near enough to take it
            dt = 0.0025 if k == 2 and _gap(events, i) > 0.010 else 0.0
            detected.append({**e, "t": e["t"] + dt})
            exp[0] += 1
    s = score(events, detected)
    got = {k: [ks.tp, ks.fn, ks.fp] for k, ks in s.kinds.items()}
    assert got == expected
    assert sum(v[1] for v in expected.values()) > 10


# the report's plumbing ---------------------------------------------------------------------

def oracle(samples, fs, *, source="", mains_hz=None) -> Analysis:
    """A perfect analyser: it reads the truth of the URI it is given."""
    _, truth = simulate(source, samples.size / fs)
    return Analysis(source, fs, samples.size / fs,
                    events=[Event(e["t"], e["kind"], e["amplitude_uv"], e["duration_ms"])
                            for e in truth.events],
                    segments=[Segment(s["start"], s["end"], s["kind"])
                              for s in truth.segments])


def test_evaluate_says_in_one_line_that_the_analyser_is_missing(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "dsp.chain", None)  # import fails as if absent
    assert evaluate.main(["--quick"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "dsp.chain" in err


def test_a_perfect_analyser_passes_and_the_report_names_its_command():
    cond = evaluate.Condition(10000, 6, True)
    jobs = [evaluate.Job(evaluate.Scenario(name, name, "", 8), cond, 1001)
            for name in ("trigger-point", "rest", "dystonia", "endplate")]
    results = evaluate.run_all(jobs, oracle)
    assert "mains=50" in results[0].uri and "fs=10000" in results[0].uri
    judged = evaluate.criteria(results)
    assert all(c.passed is not False for c in judged)
    assert sum(c.passed is True for c in judged) >= 5
    info = evaluate.ReportInfo(".venv/bin/python -m tools.evaluate --quick", (1001,), True, 1.0)
    text = evaluate.report(results, info, judged)
    assert "`.venv/bin/python -m tools.evaluate --quick`" in text.splitlines()[2]
    assert "held out" in text and "PASS F1 end_plate_spike" in text


def test_the_voluntary_pool_is_shrunk_until_at_most_4_units_fire():
    job = evaluate.Job(evaluate.Scenario("v", "voluntary", "effort=0.3", 1.5, units=12),
                       evaluate.Condition(10000, 3, False), 1001)
    uri, _, truth, units = evaluate.simulate_job(job)
    assert units < 12 and f"units={units}" in uri
    assert 1 <= evaluate.active_units(truth) <= 4


def test_the_grid_covers_the_issue_and_keeps_to_held_out_seeds():
    jobs = evaluate.grid(False, evaluate.HELD_OUT_SEEDS)
    assert min(evaluate.HELD_OUT_SEEDS) >= evaluate.TUNING_SEED_LIMIT
    conds = {j.condition for j in jobs}
    assert {c.fs for c in conds} == {20000, 10000}
    assert {c.noise_uv for c in conds} == {3, 6, 10} and {c.hum for c in conds} == {True, False}
    names = {j.scenario.name for j in jobs}
    assert names == {"denervated", "endplate", "trigger-point", "voluntary", "dystonia",
                     "myotonic", "rest"}
    assert len(evaluate.grid(True, (1001,))) < len(jobs) / 10
