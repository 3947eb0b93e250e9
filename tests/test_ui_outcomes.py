"""Five sessions over eight months for one patient, every one made in the real app under
Xvfb by taps and keys (tests/outcomesdriver.py), one app run per visit on one logbook: the
four earlier visits under libfaketime at their past dates (240, 180, 120 and 60 days ago),
today's at the real time; two products, three muscles, Ashworth at each visit, one
amendment on the close step's amendment panel; follow-up pain tapped then corrected,
Modified Ashworth (1+ kept as written, one corrected), a goal set and rated. Then the
logbook holds five procedures stamped on their days, one current value each, linked
corrections, 1+ as text, the amendment's before and after, and the patient page's change
line and charts say the grades; the patient page and the amended session's detail are shot
in both orientations (into $OUTCOMES_SHOTS when set): in landscape at the end of today's
run, in portrait by a run of its own (six app runs)."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from tests.outcomesdriver import AMENDED, SESSIONS
from tests.uiutil import display, result, start

DISPLAYS = range(90, 96)  # ours on this shared machine
DRIVER = "tests.outcomesdriver"


@pytest.mark.skipif(shutil.which("faketime") is None,
                    reason="faketime (Debian package) not installed: make test installs it")
def test_five_sessions_outcomes_by_taps_one_value_each_and_the_change_line(tmp_path):
    shots = Path(os.environ.get("OUTCOMES_SHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    home = tmp_path / "home"
    home.mkdir()
    t0, runs = time.monotonic(), {}
    with display(DISPLAYS) as disp:
        visits = []
        for k, (days, *_rest) in enumerate(SESSIONS[:-1]):
            when = datetime.datetime.now() - datetime.timedelta(days=days)  # local, as faketime
            clock = when.replace(hour=9, minute=30, second=0).strftime("%Y-%m-%d %H:%M:%S")
            visits.append(result(start("visit", {"k": k}, home, disp, driver=DRIVER,
                                       clock=clock), 180))
            runs[f"visit {k + 1}"] = time.monotonic() - t0
        # today's run (landscape) reads the history back at its end; a run of its own in
        # portrait reads it again
        res = result(start("outcomes", {"shots": str(shots), "read_tag": "landscape",
                                        "size": "1280x800"}, home, disp, driver=DRIVER), 300)
        runs["today"] = time.monotonic() - t0
        read = {"landscape": res.pop("read"),
                "portrait": result(start("read", {"shots": str(shots), "tag": "portrait",
                                                  "size": "800x1280"}, home, disp,
                                         driver=DRIVER), 180)}
        runs["read"] = time.monotonic() - t0
    print("seconds after each run:", {k: round(v) for k, v in runs.items()})
    # the earlier visits, each made on screen on its own day and signed
    for k, v in enumerate(visits):
        assert v["end_message"] == "" and v["signed"], v
        assert v["visit_message"] == "Saved.", v
        assert v["pain_before_field"] == str(7 - k) and v["pain_after_field"] == str(4 - k // 2)
        day = datetime.date.today() - datetime.timedelta(days=SESSIONS[k][0])
        assert abs(_day(v["started_at"][:10]) - day.toordinal()) <= 1, (k, v["started_at"])
        assert len(v["visit_rows"]) == 3
    assert visits[AMENDED]["amend_message"] == "Amendment saved."
    assert visits[AMENDED]["amend_preview"].startswith(
        "Injection 1, Biceps brachii left: 70 U (1.4 mL) -> 60 U (1.2 mL)")
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

    with Logbook(home / "logbook.db") as lb:
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
    # stamped on their days, oldest first, each by the app at its visit
    assert [d for d in dates[::-1]] == sorted(dates) and len(set(dates)) == 5
    assert [p["id"] for p in procs[::-1][:4]] == [v["procedure"] for v in visits]
    for p in procs:
        assert all(i["at"][:10] == p["started_at"][:10] for i in p["injections"])
        assert p["signed_at"][:10] == p["started_at"][:10]
    assert [sorted(i["muscle"] for i in p["injections"]) for p in procs] == [[
        "biceps_brachii", "brachialis", "flexor_digitorum_superficialis"]] * 5
    assert [{i["product"] for i in p["injections"]} for p in procs[::-1]] == [
        {"onabotulinumtoxinA"}] * 3 + [{"abobotulinumtoxinA"}] * 2
    amended = procs[::-1][AMENDED]
    (amendment,) = amended["amendments"]
    assert amendment["reason"] == "60 U given, 70 U recorded in error"
    changes = amendment["changes"]
    changes = json.loads(changes) if isinstance(changes, str) else changes
    assert changes["units"] == {"old": 70, "new": 60}  # before and after
    assert amendment["at"][:10] == amended["started_at"][:10]
    assert amended["injections"][0]["units"] == 60
    # read back on screen, in both orientations (the shots are looked at by a person)
    for tag, r in read.items():
        assert r["changes"] == res["changes"], tag
        assert amended["started_at"][:10] in r["detail_title"], tag
        assert r["detail_at_top"], tag  # opened at its top, not where today's was left
        said = "injection 1: units 70 -> 60 U; volume 1.4 -> 1.2 mL"  # before -> after
        assert "1 amendment(s)" in r["detail_text"] and said in r["detail_text"], tag
        assert said in r["detail_record"], tag
        for name in ("patient", "detail"):
            assert (shots / f"outcomes_{name}_{tag}.png").stat().st_size > 10_000


def _day(iso: str) -> int:
    import datetime

    return datetime.date.fromisoformat(iso).toordinal()
