"""Outcomes tapped in the real app under Xvfb (tests/outcomesdriver.py): a patient with
five sessions over eight months, two products, three muscles and one amendment; follow-up
pain tapped then corrected, Modified Ashworth per muscle (1+ kept as written, one
corrected), a goal set and rated; then the logbook holds one current value each, linked
corrections, 1+ as text, and the patient page's change line and charts say the grades."""

from __future__ import annotations

from tests.uiutil import display, result, start

DISPLAYS = range(90, 96)  # ours on this shared machine


def test_five_sessions_outcomes_by_taps_one_value_each_and_the_change_line(tmp_path):
    with display(DISPLAYS) as disp:
        res = result(start("outcomes", {}, tmp_path, disp, driver="tests.outcomesdriver"),
                     300)
    # today's session made on screen: pain after tapped, ended, overridden, signed
    assert res["pain_before_field"] == "3" and res["pain_after_field"] == "2"
    assert res["end_message"] == "" and res["signed"]
    assert res["visit_rows"][:3] == [
        "Modified Ashworth, Biceps brachii left: 2 (corrected from 3)",
        "Modified Ashworth, Brachialis left: 1+",
        "Modified Ashworth, Flexor digitorum superficialis left: 1"]
    assert res["visit_rows"][3] == "Goal: holds a cup with the left hand (level now): -1"
    assert res["visit_message"] == "Saved."
    assert res["followup_rows"][:3] == [
        "Pain NRS (0 none, 10 worst): 3 (corrected from 4)",
        "Modified Ashworth, Biceps brachii left: 2",
        "Modified Ashworth, Brachialis left: 1+"]
    # the patient's page: the grades beside the doses, said since the visit before
    biceps = res["changes"]["Biceps brachii left"]
    assert biceps.startswith("Since ") and "Ashworth 3 -> 2, DYSPORT 250 -> 200 U" in biceps
    assert "Ashworth 2 -> 1+, DYSPORT 150 -> 150 U" in res["changes"]["Brachialis left"]
    assert res["strips"]["Brachialis left"] == ["DYSPORT", "BOTOX", "RMS", "End-plate noise",
                                                "Ashworth", "Pain"]
    assert res["grades"]["Brachialis left"] == [["3", None], ["2", None], ["2", None],
                                                ["2", "1+"], ["1+", None]]

    from app.logbook import Logbook

    with Logbook(tmp_path / "logbook.db") as lb:
        rows = list(lb.db.query("SELECT * FROM observations ORDER BY at"))
        report = lb.verify()
        procs = [lb.procedure(p["id"]) for p in lb.procedures()]  # newest first
        trail = list(lb.db.query("SELECT row_id FROM audit WHERE tbl = 'observations'"))
    assert report["ok"], report["problems"]
    today, before = procs[0]["id"], procs[1]["id"]
    dates = [p["started_at"][:10] for p in procs]
    assert len(procs) == 5 and 235 <= (_day(dates[0]) - _day(dates[-1])) <= 245
    assert {i["product"] for p in procs for i in p["injections"]} == {
        "onabotulinumtoxinA", "abobotulinumtoxinA"}
    assert sum(len(p["amendments"]) for p in procs) == 1
    assert [(i["muscle"], i["units"]) for i in procs[0]["injections"]] == [
        ("biceps_brachii", 200), ("brachialis", 150), ("flexor_digitorum_superficialis", 100)]
    assert (procs[0]["pain_before"], procs[0]["pain_after"]) == (3, 2)
    assert procs[0]["signed_at"]
    pain = [r for r in rows if r["scale"] == "pain_nrs" and r["procedure_id"] == before]
    assert [(r["value"], r["supersedes"]) for r in pain] == [(4, None), (3, pain[0]["id"])]
    biceps_today = [r for r in rows if r["procedure_id"] == today
                    and r["muscle"] == "biceps_brachii"]
    assert [(r["grade"], r["supersedes"]) for r in biceps_today] == [
        ("3", None), ("2", biceps_today[0]["id"])]
    grades = {(r["muscle"], r["timepoint"], r["procedure_id"]): r["grade"] for r in rows
              if r["scale"] == "modified_ashworth"}
    assert grades[("brachialis", "followup", before)] == "1+"  # the text, not a number
    assert grades[("brachialis", "before", today)] == "1+"
    goal = [r for r in rows if r["scale"] == "gas"]
    assert [(r["timepoint"], r["value"], r["goal"]) for r in goal] == [
        ("before", -1, "holds a cup with the left hand"),
        ("followup", 1, "holds a cup with the left hand")]
    # every tap that changed a value is one row in the audit trail, and no more
    assert sorted(t["row_id"] for t in trail) == sorted(r["id"] for r in rows)


def _day(iso: str) -> int:
    import datetime

    return datetime.date.fromisoformat(iso).toordinal()
