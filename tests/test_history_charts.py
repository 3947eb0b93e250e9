"""The patient page's per-muscle charts do not mislead: each product's doses on a scale of
its own (never two products on one), EMG measures each with its unit, pain on 0-10, visits
placed by date, and a note where the EMG was simulated, replayed or uncalibrated."""

from __future__ import annotations

import pytest

from app.logbook import Logbook, catalogue, demo
from app.workflow import history


def _point(date, doses, rms=None, epn=None, provenance=""):
    return {"date": date, "doses": doses, "rms_uv": rms, "epn_per_s": epn, "tonic": None,
            "pain_before": 6, "pain_after": 3, "pain_followup": None,
            "provenance": provenance}


@pytest.fixture(scope="module")
def cat():
    return catalogue.load(catalogue.SHIPPED / "products.json",
                          catalogue.SHIPPED / "muscles.json")


def test_two_products_never_share_a_scale(cat):
    pts = [_point("2026-01-05", {"onabotulinumtoxinA": {"amount": 40.0, "unit": "U"}}, 90),
           _point("2026-04-01", {"abobotulinumtoxinA": {"amount": 300.0, "unit": "U"}}, 70),
           _point("2026-07-01", {"onabotulinumtoxinA": {"amount": 60.0, "unit": "U"},
                                 "abobotulinumtoxinA": {"amount": 100.0, "unit": "U"}})]
    strips = history.chart_strips(cat, pts)
    bars = [s for s in strips if s["kind"] == "bars"]
    assert [(s["label"], s["top"], s["values"]) for s in bars] == [
        ("DYSPORT", 500.0, [None, 300.0, 100.0]), ("BOTOX", 100.0, [40.0, None, 60.0])]
    assert [(s["label"], s["unit"]) for s in strips if s["kind"] != "bars"] == [
        ("RMS", "uV"), ("Pain", "0-10")]  # no end-plate noise recorded: no strip for it
    assert strips[-1]["top"] == 10


def test_visits_are_placed_by_date_not_evenly():
    assert history.date_positions(["2026-01-01", "2026-01-09", "2026-09-01"]) == [
        0.0, pytest.approx(8 / 243), 1.0]
    assert history.date_positions(["2026-03-03"]) == [0.5]


def test_axis_tops_are_round_numbers_at_or_above_the_largest_value():
    assert [history.nice_top(v) for v in (0, 0.3, 1, 37, 50, 51, 180, 1500)] == [
        1.0, 0.5, 1, 50, 50, 100, 200, 2000]


def test_the_chart_says_when_its_emg_was_not_the_patients_calibrated():
    pts = [_point("2026-01-05", {}, provenance="SIMULATED - not a patient"),
           _point("2026-02-05", {}, provenance="amplifier: spikerbox:/dev/ttyACM0"),
           _point("2026-03-05", {}, provenance="amplifier: x, uncalibrated (counts)")]
    assert history.chart_note(pts) == ("EMG: SIMULATED - not a patient; amplifier: x, "
                                       "uncalibrated (counts)")
    assert history.chart_note(pts[1:2]) == ""


def test_the_demo_history_charts_each_product_apart(tmp_path):
    with Logbook(tmp_path / "lb.db") as lb:
        doc, nurse = demo.users(lb)
        pt = demo.patient(lb, nurse["id"])
        demo.history(lb, pt["id"])
        demo.procedure(lb, patient_id=pt["id"])
        series = history.muscle_series(lb, pt["id"])
        biceps = series["biceps_brachii:left"]["points"]
        strips = history.chart_strips(lb.cat, biceps)
    dates = [p["date"] for p in biceps]
    assert dates == sorted(dates) and len(set(dates)) == 4
    assert [s["label"] for s in strips] == ["DYSPORT", "BOTOX", "RMS", "End-plate noise",
                                            "Ashworth", "Pain"]
    # the first visit's grade was corrected 2 -> 3: the chart has the current one, as text
    assert [p["ashworth"] for p in biceps] == ["3", "2", "2", "1+"]
    assert strips[4]["values"][-1] == ("1+", None) and strips[4]["grades"][2] == "1+"


def test_the_change_since_the_last_visit_says_a_new_product_never_subtracts_it(cat):
    a = _point("2026-01-05", {"onabotulinumtoxinA": {"amount": 40.0, "unit": "U"}}, 90, 20)
    b = _point("2026-04-01", {"onabotulinumtoxinA": {"amount": 50.0, "unit": "U"}}, 70, 15)
    c = _point("2026-07-01", {"abobotulinumtoxinA": {"amount": 300.0, "unit": "U"}}, 60)
    assert history.change_line(cat, [a]) == ""
    assert history.change_line(cat, [a, b]) == (
        "Since 2026-01-05: BOTOX 40 -> 50 U, RMS 90 -> 70 uV, end-plate noise 20 -> 15/s, "
        "pain after 3 -> 3")
    assert history.change_line(cat, [b, c]) == (
        "Since 2026-04-01: BOTOX 50 U -> DYSPORT 300 U: product changed, RMS 70 -> 60 uV, "
        "pain after 3 -> 3")


def test_the_change_line_leads_with_the_ashworth_grade_as_written(cat):
    a = {**_point("2026-01-05", {"onabotulinumtoxinA": {"amount": 40.0, "unit": "U"}}),
         "ashworth": "3"}
    b = {**_point("2026-04-01", {"onabotulinumtoxinA": {"amount": 50.0, "unit": "U"}}),
         "ashworth": "1+"}
    c = {**_point("2026-07-01", {"abobotulinumtoxinA": {"amount": 300.0, "unit": "U"}}),
         "ashworth": None}
    assert history.change_line(cat, [a, b]) == (
        "Since 2026-01-05: Ashworth 3 -> 1+, BOTOX 40 -> 50 U, pain after 3 -> 3")
    d = {**_point("2026-09-01", {"abobotulinumtoxinA": {"amount": 300.0, "unit": "U"}},
                  15.8069, 1500.0), "ashworth": None}
    e = {**d, "date": "2026-11-01", "rms_uv": 1234.5, "epn_per_s": 0.0}
    assert history.change_line(cat, [d, e]).endswith(  # three figures, no e-notation
        "RMS 15.8 -> 1230 uV, end-plate noise 1500 -> 0/s, pain after 3 -> 3")
    assert history.change_line(cat, [b, c]).startswith(  # not graded today: not said
        "Since 2026-04-01: BOTOX 50 U -> DYSPORT 300 U: product changed")


def test_an_amendment_is_said_in_words_with_units(tmp_path):
    """The detail's record lines and every export say an amended field as the screens do
    ("volume 0.8 -> 0.7 mL"), never the stored column's name; the demo (the screenshots')
    holds one amendment."""
    from app.logbook import wording

    with Logbook(tmp_path / "lb.db") as lb:
        rec = demo.procedure(lb, snippets=False)
        demo.amendment(lb, rec["id"])
        rec = lb.procedure(rec["id"])
        users = {u["id"]: u for u in lb.users()}
    last = history.record_lines(lb.cat, rec, users)[-1]
    assert "Demo Physician: injection 2: units 40 -> 35 U; volume 0.8 -> 0.7 mL. " \
           "Reason: 35 U given, 40 U written" in last
    assert "volume_ml" not in last
    assert wording.change("pain_after", 3, 2) == "pain after 3 -> 2/10"
    assert wording.change("voided", 0, 1) == "voided no -> yes"
    assert wording.change("dose_mg", None, 20.0) == "dose - -> 20 mg"
    assert wording.change("physician_id", "a" * 12, "b" * 12, {}) == \
        "physician aaaaaaaa -> bbbbbbbb"
