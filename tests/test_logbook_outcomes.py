"""Outcome scales in the logbook (issue 29, item 2): a Modified Ashworth grade stays its
text ("1+" is never a number read back), a GAS level keeps its goal's text, one value per
scale, muscle, side, goal and time point (a correction supersedes the current value through
a link, once), observations stay append-only, the audit trail and verify cover them, and
the exports say the grade, the goal and which value is current."""

from __future__ import annotations

import json
import sqlite3

import pytest

from app.logbook import LogbookError, demo, export_csv, export_fhir, note_pdf, scales

ASH = {"scale": "modified_ashworth", "timepoint": "before", "muscle": "biceps_brachii",
       "side": "left"}


@pytest.fixture
def proc(lb, staff):
    return demo.procedure(lb, snippets=False)


def _insert(lb, proc_id, **cols):
    row = {"id": cols.pop("id", "x1"), "procedure_id": proc_id, "at": "2026-01-02T03:04:05Z",
           **cols}
    names = ", ".join(row)
    lb.db.execute(f"INSERT INTO observations ({names}) VALUES "
                  f"({', '.join('?' * len(row))})", list(row.values()))


def test_one_plus_stays_one_plus(lb, staff, proc):
    _, nurse = staff
    lb.add_observation(proc["id"], {**ASH, "grade": "1+"}, nurse["id"])
    stored = lb.db.execute("SELECT grade, value FROM observations").fetchone()
    assert stored == ("1+", 2.0)  # the grade is text; the value its place on the scale
    (o,) = lb.procedure(proc["id"])["observations"]
    assert o["grade"] == "1+" and scales.shown(o) == "1+"
    # a number for an Ashworth grade is refused, by the boundary and by the database
    with pytest.raises(LogbookError, match="grade"):
        lb.add_observation(proc["id"], {**ASH, "value": 1.5}, nurse["id"])
    with pytest.raises(sqlite3.IntegrityError, match="outside its scale"):
        _insert(lb, proc["id"], scale="modified_ashworth", timepoint="followup",
                muscle="biceps_brachii", side="left", value=1.5)
    with pytest.raises(sqlite3.IntegrityError, match="outside its scale"):  # grade and value
        _insert(lb, proc["id"], scale="modified_ashworth", timepoint="followup",
                muscle="biceps_brachii", side="left", value=1, grade="1+")
    # a value stored before grades existed reads as it was, never as a guessed grade
    assert scales.shown({"scale": "modified_ashworth", "value": 1.5, "grade": None}) == \
        "1.5 (grade not recorded)"


def test_a_correction_supersedes_through_a_link_and_one_value_stays(lb, staff, proc):
    doc, nurse = staff
    first = lb.add_observation(proc["id"], {**ASH, "grade": "3"}, nurse["id"])
    again = lb.add_observation(proc["id"], {**ASH, "grade": "3"}, nurse["id"])
    assert again["id"] == first["id"]  # the same tap twice writes nothing
    second = lb.add_observation(proc["id"], {**ASH, "grade": "2"}, doc["id"])
    assert second["supersedes"] == first["id"]
    other_side = lb.add_observation(proc["id"], {**ASH, "side": "right", "grade": "4"},
                                    nurse["id"])
    assert other_side["supersedes"] is None
    obs = {o["id"]: o for o in lb.procedure(proc["id"])["observations"]}
    assert obs[first["id"]]["superseded_by"] == second["id"]
    assert [o["grade"] for o in obs.values() if o["current"]] == ["2", "4"]
    # a stale correction (of a value corrected meanwhile) is refused
    with pytest.raises(LogbookError, match="supersedes"):
        lb.add_observation(proc["id"], {**ASH, "grade": "1", "supersedes": first["id"]},
                           nurse["id"])
    # the database holds it too: a second value beside the current one, a link to another
    # muscle's value, or a value superseded twice
    with pytest.raises(sqlite3.IntegrityError, match="one value per scale"):
        _insert(lb, proc["id"], scale="modified_ashworth", timepoint="before",
                muscle="biceps_brachii", side="left", value=1, grade="1")
    with pytest.raises(sqlite3.IntegrityError, match="one value per scale"):
        _insert(lb, proc["id"], scale="modified_ashworth", timepoint="before",
                muscle="brachialis", side="left", value=1, grade="1",
                supersedes=second["id"])
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        _insert(lb, proc["id"], scale="modified_ashworth", timepoint="before",
                muscle="biceps_brachii", side="left", value=1, grade="1",
                supersedes=first["id"])
    assert lb.verify()["ok"]


def test_follow_up_pain_added_twice_is_one_value_corrected(lb, staff, proc):
    _, nurse = staff
    a = lb.add_observation(proc["id"], {"scale": "pain_nrs", "timepoint": "followup",
                                        "value": 4}, nurse["id"])
    b = lb.add_observation(proc["id"], {"scale": "pain_nrs", "timepoint": "followup",
                                        "value": 3}, nurse["id"])
    assert b["supersedes"] == a["id"]
    rec = lb.procedure(proc["id"])
    assert [o["value"] for o in rec["observations"] if o["current"]] == [3]


def test_observations_stay_append_only_and_audited(lb, staff, proc):
    _, nurse = staff
    o = lb.add_observation(proc["id"], {**ASH, "grade": "1+"}, nurse["id"])
    for sql in ("UPDATE observations SET grade = '2', value = 3",
                "UPDATE observations SET supersedes = NULL", "DELETE FROM observations"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            lb.db.execute(sql)
    entry = lb.db.execute("SELECT new FROM audit WHERE tbl = 'observations' AND row_id = ?",
                          [o["id"]]).fetchone()
    assert json.loads(entry[0])["grade"] == "1+"
    assert lb.verify()["ok"]
    # a row slipped in behind the trail's back shows up in verify
    lb.db.execute("DROP TRIGGER observations_supersede")
    _insert(lb, proc["id"], id="behind", scale="pain_nrs", timepoint="followup", value=1)
    assert any("behind" in p for p in lb.verify()["problems"])


def test_scales_in_range_and_goals_with_their_text(lb, staff, proc):
    _, nurse = staff
    for bad, field in (({"scale": "twstrs_severity", "value": 36}, "value"),
                       ({"scale": "twstrs_pain", "value": 2.5}, "value"),
                       ({"scale": "gas", "value": 1}, "goal"),
                       ({"scale": "gas", "value": 3, "goal": "walks"}, "value"),
                       ({"scale": "pain_nrs", "value": 2, "goal": "walks"}, "goal")):
        with pytest.raises(LogbookError, match=f"^{field}"):
            lb.add_observation(proc["id"], {"timepoint": "followup", **bad}, nurse["id"])
    with pytest.raises(LogbookError, match="pain_before"):
        lb.add_observation(proc["id"], {"scale": "pain_nrs", "timepoint": "after",
                                        "value": 2}, nurse["id"])
    lb.add_observation(proc["id"], {"scale": "gas", "timepoint": "before", "value": -1,
                                    "goal": "dresses without help"}, nurse["id"])
    lb.add_observation(proc["id"], {"scale": "gas", "timepoint": "before", "value": -2,
                                    "goal": "holds a cup"}, nurse["id"])
    goals = [o["goal"] for o in lb.procedure(proc["id"])["observations"] if o["current"]]
    assert goals == ["dresses without help", "holds a cup"]  # two goals, two values


def test_exports_say_the_grade_the_goal_and_only_current_values(lb, staff, proc, tmp_path):
    doc, nurse = staff
    lb.add_observation(proc["id"], {**ASH, "grade": "3"}, nurse["id"])
    lb.add_observation(proc["id"], {**ASH, "grade": "1+"}, doc["id"])
    lb.add_observation(proc["id"], {"scale": "gas", "timepoint": "followup", "value": 1,
                                    "goal": "dresses without help"}, nurse["id"])
    rec = lb.procedure(proc["id"])
    users = {u["id"]: u for u in lb.users()}
    row = export_csv.procedure_row(rec, users)
    assert "Modified Ashworth at the visit, Biceps brachii left: 1+ (corrected from 3)" in \
        row["observations"]
    assert "GAS at follow-up, goal \"dresses without help\": +1" in row["observations"]
    (bundle,) = export_fhir.export([rec], tmp_path / "fhir", users)
    text = bundle.read_text()
    assert "Biceps brachii left: 1+ (corrected from 3)" in text
    assert "Biceps brachii left: 3\"" not in text  # the corrected value is not a value
    (pdf,) = note_pdf.export([rec], tmp_path / "pdf", users)
    assert pdf.stat().st_size > 0
