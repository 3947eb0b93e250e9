"""tools.compare, the three-column evaluation (issue 27): its figures, spread and the rules'
verdict, checked with a perfect analyser and hand-made figures (no accuracy of the real
analyser is asserted here)."""

from __future__ import annotations

import math

from dsp.analysis.results import Analysis, Event, Segment
from tools import compare, evaluate
from tools.evaluate import RENDERERS


def oracle(samples, fs, *, source="", mains_hz=None) -> Analysis:
    """A perfect analyser for either generator: it reads the truth of the URI it is given."""
    _, truth = RENDERERS[source.split(":", 1)[0]](source, samples.size / fs)
    return Analysis(source, fs, samples.size / fs,
                    events=[Event(e["t"], e["kind"], e["amplitude_uv"], e["duration_ms"])
                            for e in truth.events],
                    segments=[Segment(s["start"], s["end"], s["kind"])
                              for s in truth.segments])


def test_a_perfect_analyser_scores_one_on_the_physio_grid_with_no_spread():
    cond = evaluate.Condition(10000, 6, True)
    jobs = [evaluate.Job(s, cond, seed) for seed in (27001, 27002)
            for s in compare.physio_scenarios(True) if s.name in ("denervated", "endplate")]
    results = evaluate.run_all(jobs, oracle)
    assert all(r.uri.startswith("physio:") for r in results)
    figs = compare.figures(results)
    assert {"fibrillation", "end_plate_spike"} <= set(figs)
    for per in figs.values():
        assert per["f1"].pooled == 1.0 and per["f1"].sd == 0.0


def test_the_physio_grid_has_every_rate_of_the_issue_and_the_reporting_seeds():
    jobs = compare.physio_grid(False, compare.PHYSIO_SEEDS)
    assert {j.condition.fs for j in jobs} == {4000, 10000, 20000, 48000}
    lo, hi = compare.PHYSIO_REPORT_RANGE
    assert all(lo <= j.seed <= hi for j in jobs)
    assert {j.scenario.name for j in jobs} == set(__import__(
        "devices.physio.scenarios", fromlist=["SCENARIOS"]).SCENARIOS)


def _fig(f1, sd):
    return {"f1": {"pooled": f1, "sd": sd}, "precision": {"pooled": f1, "sd": sd},
            "recall": {"pooled": f1, "sd": sd}}


def _figs(phys, sim, real_ok=True):
    return {"physio": {"fibrillation": _fig(*phys)}, "sim": {"fibrillation": _fig(*sim)},
            "real_checks": [{"text": "no calls", "passed": real_ok, "detail": ""}]}


def test_the_rules_keep_a_change_only_beyond_the_spread():
    before = _figs((0.60, 0.02), (0.90, 0.01))
    assert compare.verdict_of(before, _figs((0.65, 0.02), (0.895, 0.01))) == "KEEP"
    assert compare.verdict_of(before, _figs((0.61, 0.02), (0.90, 0.01))).startswith("DO NOT")
    assert "sim:" in compare.verdict_of(before, _figs((0.65, 0.02), (0.87, 0.01)))
    assert "real-record" in compare.verdict_of(before, _figs((0.65, 0.02), (0.90, 0.01),
                                                             real_ok=False))
    table = compare.before_after(before, _figs((0.65, 0.02), (0.895, 0.01)))
    assert "+0.050" in table and "KEEP" in table


def test_a_figure_without_seeds_reads_as_a_dash_not_nan():
    assert compare.Figure(math.nan, math.nan, math.nan, math.nan, 0).cell() == "-"
    assert compare.Figure(0.5, 0.01, 0.49, 0.51, 10).cell() == "0.500 ± 0.010"
