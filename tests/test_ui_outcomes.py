"""Outcomes tapped in the real app under Xvfb (tests/outcomesdriver.py): a patient with
five sessions over eight months, two products, three muscles and one amendment; follow-up
pain tapped then corrected, Modified Ashworth per muscle (1+ kept as written, one
corrected), a goal set and rated; then the logbook holds one current value each, linked
corrections, 1+ as text, and the patient page's change line and charts say the grades."""

from __future__ import annotations

from pathlib import Path

from tests.uiutil import display, result, start

DISPLAYS = range(90, 96)  # ours on this shared machine


def test_outcomes_by_taps_one_value_each_and_the_change_line(tmp_path):
    with display(DISPLAYS) as disp:
        res = result(start("outcomes", {}, tmp_path, disp, driver="tests.outcomesdriver"),
                     240)
    assert res["followup_rows"][:3] == [
        "Pain NRS (0 none, 10 worst): 3 (corrected from 4)",
        "Modified Ashworth, Biceps brachii left: 2",
        "Modified Ashworth, Brachialis left: 1+"]
    assert "Modified Ashworth, Biceps brachii left: 2 (corrected from 3)" in res["visit_rows"]
    assert "Modified Ashworth, Brachialis left: 1+" in res["visit_rows"]
    assert res["visit_message"] == "Saved."
    biceps = res["changes"]["Biceps brachii left"]
    assert biceps.startswith("Since ") and "Ashworth 3 -> 2, DYSPORT 250 -> 250 U" in biceps
    assert "Ashworth 2 -> 1+" in res["changes"]["Brachialis left"]
    assert "Ashworth" in res["strips"]["Brachialis left"]
    assert res["grades"]["Brachialis left"][-2:] == [["2", "1+"], ["1+", None]]

    from app.logbook import Logbook

    with Logbook(tmp_path / "logbook.db") as lb:
        rows = list(lb.db.query("SELECT * FROM observations"))
        assert lb.verify()["ok"]
        procs = [p["id"] for p in lb.procedures()]  # newest first
    today, before = procs[0], procs[1]
    pain = [r for r in rows if r["scale"] == "pain_nrs" and r["procedure_id"] == before]
    assert [(r["value"], r["supersedes"]) for r in pain] == [(4, None), (3, pain[0]["id"])]
    grades = {(r["muscle"], r["timepoint"], r["procedure_id"]): r["grade"] for r in rows
              if r["scale"] == "modified_ashworth" and r["supersedes"] is None}
    assert grades[("brachialis", "followup", before)] == "1+"  # the text, not a number
    assert grades[("brachialis", "before", today)] == "1+"
    goal = [r for r in rows if r["scale"] == "gas"]
    assert [(r["timepoint"], r["value"], r["goal"]) for r in goal] == [
        ("before", -1, "holds a cup with the left hand"),
        ("followup", 1, "holds a cup with the left hand")]
    assert len(procs) == 5 and Path(tmp_path / "logbook.db").exists()
