"""Dose rules that see the clinic (issue 32, item 3) against a real, throwaway PostgreSQL
(tests/pgserver.py): the rolling limit, the interval, the plan carried forward, the
history and lot recall on tablet room-b count what room-a recorded for the same MRN once
room-b has pulled it, voided and amended as room-a's own read; and the note beside a dose
check says when other rooms were last seen."""

from __future__ import annotations

import datetime

import pytest

from app.clinic import pull
from app.clinic.errors import Unreachable
from app.logbook import Logbook, demo, ids, localtime
from app.logbook.pulled import NEVER
from app.workflow import ProcedureFlow
from tests.pullutil import admin, creds, pull_into, push, rooms, toxin_session

__all__ = ["admin", "rooms"]  # fixtures

MRN = "MRN-4471"


def open_session(lb: Logbook) -> tuple[dict, dict]:
    """Room-b's procedure today for the patient of MRN (room-b's own row), open, with a
    vial: (procedure, vial)."""
    proc = toxin_session(lb, MRN, [], sign=False)
    return proc, proc["vials"][0]


def rules_of(lb: Logbook, proc: dict, vial: dict, units: float) -> set[str]:
    found = lb.check_injection(proc["id"], {"vial_id": vial["id"], "units": units,
                                            "muscle": "sternocleidomastoid", "side": "left"})
    return {w["rule"] for w in found}


def test_a_rolling_limit_warns_on_b_only_from_as_injection_once_b_has_pulled(
        rooms, monkeypatch):
    """Room-a gave 300 U a month ago; room-b's 120 U today passes the 400 U in 90 days
    only with room-a's, and room-b's check says so only after its pull. Before the first
    pull the check says other rooms were never seen; right after it, nothing."""
    a, b = rooms["room-a"], rooms["room-b"]
    with Logbook(a) as lb:
        toxin_session(lb, MRN, [50] * 6, days_ago=30)
    push(a, monkeypatch)
    with Logbook(b) as lb:
        proc, vial = open_session(lb)
        before = lb.check_injection(proc["id"], {"vial_id": vial["id"], "units": 120,
                                                 "muscle": "sternocleidomastoid",
                                                 "side": "left"})
        assert not {"rolling_window_max", "min_interval"} & {w["rule"] for w in before}
        assert before.note is None  # this logbook does not know it is a clinic's yet
        assert lb.clinic_note(joined=True) == NEVER
        # a sync tried while the server is out of reach: the tablet is known to be joined
        away = {**creds(b), "dsn": f"host={b.parent / 'nowhere'} dbname=clinic"}
        with pytest.raises(Unreachable):
            pull.pull(lb, away)
        assert rules_of(lb, proc, vial, 120).isdisjoint({"rolling_window_max"})
        assert lb.check_injection(proc["id"], {"vial_id": vial["id"], "units": 120}
                                  ).note == NEVER
        assert lb.clinic_reached() is None
    pull_into(b, monkeypatch)
    with Logbook(b) as lb:
        after = lb.check_injection(proc["id"], {"vial_id": vial["id"], "units": 120,
                                                "muscle": "sternocleidomastoid",
                                                "side": "left"})
        rolling = next(w for w in after if w["rule"] == "rolling_window_max")
        assert rolling["value"] == 420 and "420 U in 90 days" in rolling["message"]
        assert "min_interval" in {w["rule"] for w in after}  # 30 days since room-a's
        assert after.note is None  # pulled just now
        # logged, the warning is on record, open for a physician
        _, nurse = demo.users(lb)
        logged = lb.log_injection(proc["id"], {"vial_id": vial["id"], "units": 120,
                                               "muscle": "sternocleidomastoid",
                                               "side": "left"}, nurse["id"])
        assert "rolling_window_max" in {w["rule"] for w in logged["warnings"]}
        assert "rolling_window_max" in {w["rule"] for w in lb.open_warnings(proc["id"])}
        # once the last pull is older than STALE_S, the note says when
        reached = lb.clinic_reached()
        later = ids.parse(reached) + datetime.timedelta(minutes=16)
        assert lb.clinic_note(now=later) == \
            f"other rooms last seen {localtime.time_of_day(reached)}"
        assert lb.clinic_note(now=later, stale_s=3600) is None
        next_day = ids.parse(reached) + datetime.timedelta(days=1, hours=1)
        assert lb.clinic_note(now=next_day) == \
            f"other rooms last seen {localtime.date_time(reached)}"
        assert ProcedureFlow(lb).dose_note() is None
        assert lb.verify()["ok"]


def test_voided_and_amended_injections_of_another_room_count_as_local_ones(rooms,
                                                                          monkeypatch):
    a, b = rooms["room-a"], rooms["room-b"]
    with Logbook(a) as lb:
        signed = toxin_session(lb, MRN, [50] * 6, days_ago=30)
        # a second session, open, whose 100 U were voided: not given, never counted
        open_a = toxin_session(lb, MRN, [100], days_ago=10, sign=False)
        doc, _ = demo.users(lb)
        lb.void_injection(open_a["injections"][0]["id"], "logged on the wrong patient",
                          doc["id"])
    push(a, monkeypatch)
    pull_into(b, monkeypatch)
    with Logbook(b) as lb:
        proc, vial = open_session(lb)
        assert "rolling_window_max" in rules_of(lb, proc, vial, 120)  # 300 + 120
        assert "rolling_window_max" not in rules_of(lb, proc, vial, 100)  # 300 + 100
        prior = lb.prior_injections(proc["patient_id"], proc["id"])
        assert sorted(i["units"] for i in prior) == [50] * 6
        assert {i["origin"] for i in prior} == {"room-a"}
    with Logbook(a) as lb:  # 50 U amended to 10 U after sign-off, on room-a
        doc, _ = demo.users(lb)
        lb.amend(signed["id"], "injections", signed["injections"][0]["id"], {"units": 10},
                 "10 U given, 50 U written", doc["id"],
                 overrides=dict.fromkeys(("vial_overdrawn", "per_muscle_max",
                                          "muscle_typical_max"), "as given"))
    push(a, monkeypatch)
    pull_into(b, monkeypatch)
    with Logbook(b) as lb:
        assert "rolling_window_max" not in rules_of(lb, proc, vial, 120)  # 260 + 120
        assert "rolling_window_max" in rules_of(lb, proc, vial, 150)  # 260 + 150
        assert sorted(i["units"] for i in lb.prior_injections(
            proc["patient_id"], proc["id"])) == [10] + [50] * 5


def test_the_plan_history_and_lot_recall_come_from_every_room(rooms, monkeypatch):
    """Room-a's signed session is the plan carried forward on room-b, whose own patient
    row has the same MRN; the history shows both rooms' procedures, each with its
    tablet; a lot recall on room-b finds room-a's injections under the one patient."""
    a, b = rooms["room-a"], rooms["room-b"]
    with Logbook(a) as lb:
        theirs = toxin_session(lb, MRN, [25, 30], days_ago=100)
    push(a, monkeypatch)
    with Logbook(b) as lb:
        mine = toxin_session(lb, MRN, [20], days_ago=200)
    pull_into(b, monkeypatch)
    with Logbook(b) as lb:
        patient_id = mine["patient_id"]
        flow = ProcedureFlow(lb)
        last = flow.last_session(patient_id)
        assert last["procedure"]["id"] == theirs["id"]
        assert last["procedure"]["origin"] == "room-a"
        assert [(p.muscle, p.units, p.sites) for p in last["plan"]] == [
            ("sternocleidomastoid", 55.0, 2)]
        hist = lb.patient_history(patient_id)["procedures"]
        assert [(p["id"], p["origin"]) for p in hist] == [(mine["id"], None),
                                                          (theirs["id"], "room-a")]
        assert {i["origin"] for i in hist[1]["injections"]} == {"room-a"}
        assert [p["origin"] for p in lb.procedures(patient_id)] == ["room-a", None]
        # the same history from room-a's patient row
        assert [p["id"] for p in lb.patient_history(theirs["patient_id"])["procedures"]] \
            == [mine["id"], theirs["id"]]
        found = lb.lot_recall("c1234c3")
        assert found["patients"] == 1 and found["injections"] == 3
        (person,) = found["products"][0]["patients"]
        assert [(i["units"], i["origin"]) for i in person["injections"]] == [
            (20, None), (25, "room-a"), (30, "room-a")]
        assert flow.search_patients(MRN)[0]["id"] == patient_id  # once, this room's row
        assert len(flow.search_patients(MRN)) == 1
        assert flow.usual_muscles(patient_id) == ["sternocleidomastoid"]


def test_a_pulled_patient_is_weighed_on_this_rooms_own_row(rooms, monkeypatch):
    a, b = rooms["room-a"], rooms["room-b"]
    with Logbook(a) as lb:
        toxin_session(lb, MRN, [25], days_ago=100)
    push(a, monkeypatch)
    pull_into(b, monkeypatch)
    with Logbook(b) as lb:
        _, nurse = demo.users(lb)
        flow = ProcedureFlow(lb)
        flow.choose_patient(lb.find_patient(MRN)["id"])
        assert flow.patient["origin"] == "room-a"
        assert flow.set_weight("71", nurse["id"]) == ""
        assert flow.patient["origin"] is None and flow.patient["weight_kg"] == 71
        assert lb.find_patient(MRN)["id"] == flow.patient["id"]
        assert lb.verify()["ok"]


def test_the_history_says_which_room_recorded_a_procedure(rooms, monkeypatch):
    from app.workflow import history

    a, b = rooms["room-a"], rooms["room-b"]
    with Logbook(a) as lb:
        theirs = toxin_session(lb, MRN, [25], days_ago=100)
    push(a, monkeypatch)
    with Logbook(b) as lb:
        mine = toxin_session(lb, MRN, [20], days_ago=10)
    pull_into(b, monkeypatch)
    with Logbook(b) as lb:
        found = history.timeline(lb, mine["patient_id"])
        assert [(r["id"], r["origin"]) for r in found["procedures"]] == [
            (mine["id"], None), (theirs["id"], "room-a")]
        users = {u["id"]: u for u in lb.users()}
        lines = history.record_lines(lb.cat, lb.procedure(theirs["id"]), users)
        assert lines[0] == "Recorded on tablet room-a (pulled from the clinic server)"
        assert "entered by Demo Nurse" in lines[1]  # room-a's nurse, named from the pull
        assert not history.record_lines(lb.cat, lb.procedure(mine["id"]), users)[0].startswith(
            "Recorded on")
