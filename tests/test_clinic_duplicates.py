"""Possible duplicate patients across the clinic (issue 32, item 4) against a real, throwaway
PostgreSQL (tests/pgserver.py): the same name and birth date under two MRNs made on two
tablets are shown for a person to resolve, never merged; a decision is an audited row,
pushed and pulled like every record; "same person" makes the dose rules and history read
both MRNs as one patient, "different people" closes the question."""

from __future__ import annotations

import psycopg
import pytest

from app.clinic.errors import ClinicError
from app.clinic.schema import SCHEMA
from app.logbook import Logbook, LogbookError, demo
from app.logbook.duplicates import name_key
from app.workflow import ProcedureFlow
from tests.pullutil import admin, pull_into, push, rooms, toxin_session

__all__ = ["admin", "rooms"]  # fixtures

NOTE = ("possible duplicate MRN A1 (room-a), same name and birth date: its injections are "
        "not counted until someone decides")


def patient(lb: Logbook, mrn: str, family: str, given: str, born: str) -> dict:
    return lb.add_patient({"mrn": mrn, "family_name": family, "given_name": given,
                           "birth_date": born, "weight_kg": 60.0}, by=demo.users(lb)[1]["id"])


def check(lb: Logbook, proc: dict, units: float = 120):
    return lb.check_injection(proc["id"], {"vial_id": proc["vials"][0]["id"], "units": units,
                                           "muscle": "sternocleidomastoid", "side": "left"})


def sync(books: dict, monkeypatch, *names: str) -> None:
    for name in names:
        push(books[name], monkeypatch)
    for name in names:
        pull_into(books[name], monkeypatch)


def test_names_compare_by_case_spaces_and_composed_accents_not_by_accents_dropped():
    assert name_key("  LIMA ") == name_key("lima")
    assert name_key("Ana  Maria") == name_key("ana maria")
    assert name_key("Jos\u00e9") == name_key("Jose\u0301")  # é typed as one or as e + accent
    assert name_key("Jos\u00e9") != name_key("Jose")


def test_only_a_user_who_records_patients_decides_and_the_trail_keeps_it(tmp_path):
    """Two MRNs on one tablet too: an admin (who records nothing clinical) is refused; a
    nurse's decision is an audit entry with its reason, the logbook verifying."""
    with Logbook(tmp_path / "logbook.db") as lb:
        admin_ = lb.add_user({"name": "Admin", "role": "admin", "pin": "9999"})
        nurse = lb.add_user({"name": "Nurse", "role": "nurse", "pin": "5678"},
                            by=admin_["id"])
        for mrn in ("X1", "X2"):
            lb.add_patient({"mrn": mrn, "family_name": "Lima", "given_name": "Ana",
                            "birth_date": "1970-01-02"}, by=nurse["id"])
        with pytest.raises(LogbookError, match="only a physician or nurse"):
            lb.decide_duplicate("X2", "X1", "same", "looks alike", admin_["id"])
        assert [(d["mrn"], d["other"], d["rooms"]) for d in lb.possible_duplicates()] == [
            ("X1", "X2", [None])]
        made = lb.decide_duplicate("X2", "X1", "different", "twins, checked ID", nurse["id"])
        assert (made["mrn_a"], made["mrn_b"]) == ("X1", "X2")
        assert lb.possible_duplicates() == []
        assert lb.db.execute("SELECT action, reason FROM audit WHERE tbl = 'patient_links'"
                             ).fetchall() == [("insert", "twins, checked ID")]
        assert lb.verify()["ok"]


def test_decisions_chain_a_third_mrn_is_asked_once_then_one_patient_through_others(
        tmp_path):
    with Logbook(tmp_path / "logbook.db") as lb:
        _, nurse = demo.users(lb)
        made = {m: patient(lb, m, "Lima", "Ana", "1970-01-02") for m in ("X1", "X2", "X3")}
        lb.decide_duplicate("X1", "X2", "same", "one person", nurse["id"])
        assert [d["other"] for d in lb.possible_duplicates(made["X1"]["id"])] == ["X3"]
        assert [(d["mrn"], d["other"]) for d in lb.possible_duplicates()] == [
            ("X1", "X3"), ("X2", "X3")]
        lb.decide_duplicate("X3", "X1", "same", "one person", nurse["id"])
        assert lb.possible_duplicates() == []  # X2 and X3: one patient through X1
        assert sorted(lb.same_patient(made["X2"]["id"])) == sorted(
            p["id"] for p in made.values())


def test_a_possible_duplicate_is_shown_decided_synced_and_counted_only_once_decided(
        rooms, monkeypatch, admin):
    a, b = rooms["room-a"], rooms["room-b"]
    with Logbook(a) as lb:
        patient(lb, "A1", "Lima", "Ana", "1970-01-02")
        toxin_session(lb, "A1", [50] * 6, days_ago=30)  # 300 U a month ago
        patient(lb, "C3", "Lima", "Ana", "1970-01-03")  # another birth date
        patient(lb, "C4", "Lina", "Ana", "1970-01-02")  # another name
    with Logbook(b) as lb:
        patient(lb, "B7", "LIMA", "ana", "1970-01-02")  # as typed in room-b
    sync(rooms, monkeypatch, "room-a", "room-b")

    # found on both tablets after sync, the pair only, each side naming the other's room
    with Logbook(a) as lb:
        pair = lb.possible_duplicates()
        assert [(d["mrn"], d["other"]) for d in pair] == [("A1", "B7")]
        own = lb.find_patient("A1")
        assert [(d["other"], d["rooms"]) for d in lb.possible_duplicates(own["id"])] == [
            ("B7", ["room-b"])]
        assert lb.possible_duplicates(lb.find_patient("C3")["id"]) == []
        assert lb.possible_duplicates(lb.find_patient("C4")["id"]) == []
    with Logbook(b) as lb:
        mine = lb.find_patient("B7")
        assert [(d["mrn"], d["other"], d["rooms"]) for d in lb.possible_duplicates(mine["id"])
                ] == [("B7", "A1", ["room-a"])]
        # the dose check: room-a's 300 U not counted, and the note says why, as words
        proc = toxin_session(lb, "B7", [], sign=False)
        before = check(lb, proc)
        assert "rolling_window_max" not in {w["rule"] for w in before}
        assert before.note == NOTE
        flow = ProcedureFlow(lb)
        flow.choose_patient(mine["id"])
        assert flow.dose_note(joined=True) == NOTE
        assert len(lb.patient_history(mine["id"])["procedures"]) == 1  # its own only
        # a decision needs its reason, and is about a possible duplicate only
        doc, nurse = demo.users(lb)
        with pytest.raises(LogbookError, match="reason"):
            lb.decide_duplicate("B7", "A1", "same", " ", nurse["id"])
        with pytest.raises(LogbookError, match="not a possible duplicate"):
            lb.decide_duplicate("B7", "C3", "same", "looks alike", nurse["id"])
        assert flow.decide_duplicate("A1", "same", "same passport seen", nurse["id"]) == ""
        # "same person": room-a's 300 U count in room-b's rolling limit, as one MRN would
        after = check(lb, proc)
        rolling = next(w for w in after if w["rule"] == "rolling_window_max")
        assert rolling["value"] == 420
        assert after.note is None and lb.possible_duplicates(mine["id"]) == []
        assert len(lb.patient_history(mine["id"])["procedures"]) == 2
        recall = lb.lot_recall("C1234C3")
        assert [p["mrn"] for p in recall["products"][0]["patients"]] == ["A1 / B7"]
        assert lb.verify()["ok"]
    push(b, monkeypatch)
    with psycopg.connect(admin) as conn:
        assert conn.execute(f"SELECT tablet, mrn_a, mrn_b, decision FROM {SCHEMA}."
                            "patient_links").fetchall() == [("room-b", "A1", "B7", "same")]
    pull_into(a, monkeypatch)

    # room-a sees room-b's decision: one patient there too
    with Logbook(a) as lb:
        own = lb.find_patient("A1")
        (decided,) = lb.duplicate_decisions("A1")
        assert (decided["decision"], decided["origin"]) == ("same", "room-b")
        assert lb.possible_duplicates() == []
        assert lb.find_patient("B7")["id"] in lb.same_patient(own["id"])
        assert lb.verify()["ok"]
        # a later decision supersedes: "different people", the histories apart again
        _, nurse = demo.users(lb)
        lb.decide_duplicate("A1", "B7", "different", "not the same person after all",
                            nurse["id"])
        assert lb.possible_duplicates() == []  # the question stays closed
        assert {p["origin"] for p in lb.patient_history(own["id"])["procedures"]} == {None}
        assert [d["decision"] for d in lb.duplicate_decisions("B7")] == ["same", "different"]
    push(a, monkeypatch)
    pull_into(b, monkeypatch)
    with Logbook(b) as lb:
        after = check(lb, proc)
        assert "rolling_window_max" not in {w["rule"] for w in after}
        assert after.note is None  # decided: no longer a question
        assert len(lb.patient_history(lb.find_patient("B7")["id"])["procedures"]) == 1
        assert lb.verify()["ok"]


def test_a_decision_pushed_to_a_server_without_its_table_says_to_run_init(rooms, admin,
                                                                         monkeypatch):
    """A server not brought forward to 0003_patient_links: one line saying what to do."""
    a = rooms["room-a"]
    with Logbook(a) as lb:
        _, nurse = demo.users(lb)
        for mrn in ("X1", "X2"):
            patient(lb, mrn, "Lima", "Ana", "1970-01-02")
        lb.decide_duplicate("X1", "X2", "same", "one person", nurse["id"])
    with psycopg.connect(admin) as conn:
        conn.execute(f"DROP TABLE {SCHEMA}.patient_links")
    with pytest.raises(ClinicError, match="^the clinic server's schema is older than this "
                       "Needlepoint's: its administrator runs needlepoint clinic init"):
        push(a, monkeypatch)
