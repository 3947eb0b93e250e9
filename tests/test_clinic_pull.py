"""The pull (app/clinic/pull.py, app/logbook/pulled.py) against a real, throwaway
PostgreSQL (tests/pgserver.py): other tablets' rows into this tablet's logbook, once, marked
with their tablet of origin, each chain checked on arrival; the local trail and the push
stay this tablet's own."""

from __future__ import annotations

import sqlite3

import numpy as np
import psycopg
import pytest

from app.clinic import pull, sync
from app.clinic.errors import ClinicError
from app.clinic.schema import SCHEMA
from app.commands.cli import main
from app.logbook import Logbook, LogbookError, demo, export_edf
from app.logbook.audit import carried
from app.logbook.migrations import NOT_AUDITED
from tests.pullutil import admin, creds, pull_into, push, rooms, toxin_session

__all__ = ["admin", "rooms"]  # fixtures


def rows(path, origin: str | None) -> dict:
    """{table: {id: row as the trail carries it}} of the rows of `origin` (None: the
    tablet's own)."""
    with Logbook(path, readonly=True) as lb:
        return {t: {r["id"]: carried(t, {k: v for k, v in r.items()
                                          if k not in NOT_AUDITED.get(t, ())})
                    for r in lb.db.query(f"SELECT * FROM {t} WHERE origin IS ?", [origin])}
                for t in sync.ROWS}


def test_a_pull_holds_another_tablets_rows_once_marked_with_its_origin(rooms, monkeypatch):
    a, b = rooms["room-a"], rooms["room-b"]
    with Logbook(a) as lb:
        done = demo.procedure(lb)
        _, nurse = demo.users(lb)
        assert lb.check_pin(nurse["id"], "0000") is False  # the PIN lockout: room-a's own
        # a possible duplicate of the demo's patient, decided (0009_patient_links)
        pt = done["patient"]
        twin = lb.add_patient({**{k: pt[k] for k in ("family_name", "given_name",
                                                     "birth_date")}, "mrn": "TWIN-1"},
                              by=nurse["id"])
        lb.decide_duplicate(pt["mrn"], twin["mrn"], "different", "two people", nurse["id"])
    push(a, monkeypatch)
    got = pull_into(b, monkeypatch)
    theirs = rows(a, None)
    assert rows(b, "room-a") == theirs  # every row, as it now reads on room-a
    assert all(theirs[t] for t in ("users", "patients", "procedures", "vials", "injections",
                                   "snippets", "patient_links"))
    with Logbook(a, readonly=True) as lb:
        entries = lb.db.execute("SELECT count(*) FROM audit").fetchone()[0]
        lockout = lb.db.execute("SELECT count(*) FROM audit WHERE tbl = 'pin_attempts'"
                                ).fetchone()[0]
    # every entry kept; each made or changed one row, but the lockout's, which stay there
    assert lockout == 2 and (got.entries, got.rows) == (entries, entries - lockout)
    with Logbook(b, readonly=True) as lb:
        assert lb.db.execute("SELECT count(*) FROM pin_attempts").fetchone()[0] == 0
        assert lb.verify()["ok"]
    assert got.tablets == ["room-a", "room-c"]
    # a second pull changes nothing
    before = rows(b, "room-a")
    again = pull_into(b, monkeypatch)
    assert (again.entries, again.rows) == (0, 0)
    assert rows(b, "room-a") == before


def test_changes_after_a_pull_arrive_with_the_next(rooms, monkeypatch):
    """Room-a's procedure pulled open; its sign-off, a voided injection and an amendment
    made afterwards arrive with the next pull, and the record reads as on room-a."""
    a, b = rooms["room-a"], rooms["room-b"]
    with Logbook(a) as lb:
        proc = demo.procedure(lb, sign=False, snippets=False)
    push(a, monkeypatch)
    pull_into(b, monkeypatch)
    with Logbook(b, readonly=True) as lb:
        assert lb.procedure(proc["id"])["signed_at"] is None
    with Logbook(a) as lb:
        doc, _ = demo.users(lb)
        lb.void_injection(proc["injections"][3]["id"], "logged twice", doc["id"])
        lb.sign_off(proc["id"], doc["id"])
        demo.amendment(lb, proc["id"])
        want = lb.procedure(proc["id"])
    push(a, monkeypatch)
    got = pull_into(b, monkeypatch)
    assert got.entries >= 3 and got.rows >= 3
    with Logbook(b, readonly=True) as lb:
        there = lb.procedure(proc["id"])
    assert there["origin"] == "room-a"
    assert there["signed_at"] == want["signed_at"]
    assert [(i["units"], i["voided"], i["origin"]) for i in there["injections"]] == \
        [(i["units"], i["voided"], "room-a") for i in want["injections"]]
    assert there["totals"] == want["totals"]
    assert [a["reason"] for a in there["amendments"]] == ["35 U given, 40 U written"]


def test_after_a_pull_the_logbook_verifies_and_its_push_sends_only_its_own(rooms, admin,
                                                                          monkeypatch, capsys):
    a, b = rooms["room-a"], rooms["room-b"]
    for path in (a, b):
        with Logbook(path) as lb:
            demo.procedure(lb)
    push(a, monkeypatch)
    monkeypatch.setenv("NEEDLEPOINT_HOME", str(b.parent))
    assert main(["clinic", "sync", "--db", str(b)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "pulled from 2 other tablets" in out and "4 EMG samples" in out
    assert main(["logbook", "verify", "--db", str(b)]) == 0, capsys.readouterr()
    with Logbook(b, readonly=True) as lb:
        rep = lb.verify()
        own = lb.db.execute("SELECT count(*) FROM audit").fetchone()[0]
    assert rep["ok"] and set(rep["pulled"]) == {"room-a"}
    assert (f"  pulled from room-a: {rep['pulled']['room-a']['entries']} entries, head "
            f"{rep['pulled']['room-a']['head']}") in capsys.readouterr().out
    # another round of work on room-b, pushed after the pull: only its own rows go up
    with Logbook(b) as lb:
        demo.procedure(lb, snippets=False)
    assert main(["clinic", "sync", "--db", str(b)]) == 0
    capsys.readouterr()
    mine = rows(b, None)
    with psycopg.connect(admin) as conn:
        for t in sync.ROWS:
            there = {r[0] for r in conn.execute(
                f"SELECT id FROM {SCHEMA}.{t} WHERE tablet = 'room-b'")}
            assert there == set(mine[t]), t
        assert conn.execute(f"SELECT count(*) FROM {SCHEMA}.audit WHERE tablet = 'room-b'"
                            ).fetchone()[0] > own
        # room-a's rows are on the server once, as room-a's
        assert conn.execute(f"SELECT count(*) FROM {SCHEMA}.procedures WHERE tablet = "
                            "'room-a'").fetchone()[0] == 1


def test_a_broken_chain_on_the_server_is_refused_and_the_others_pulled(rooms, admin,
                                                                       monkeypatch, capsys):
    """An entry of room-a altered on the server by its owner (who bypasses the check on
    arrival): room-b stores nothing of room-a's batch, says so in one line, and still
    pulls room-c. Room-a's later entries stay refused: they do not follow."""
    a, b, c = rooms["room-a"], rooms["room-b"], rooms["room-c"]
    for path in (a, c):
        with Logbook(path) as lb:
            demo.procedure(lb, snippets=False)
        push(path, monkeypatch)
    with psycopg.connect(admin) as conn:
        conn.execute(f"UPDATE {SCHEMA}.audit SET reason = 'rewritten' WHERE tablet = "
                     "'room-a' AND seq = 5")
    with Logbook(b) as lb, pytest.raises(pull.PullRefused) as refused:
        pull.pull(lb, creds(b))
    line = str(refused.value)
    assert "\n" not in line
    assert "tablet room-a's audit entry 5: its hash does not match its contents" in line
    assert "nothing of room-a stored" in line
    assert refused.value.pulled.tablets == ["room-c"] and refused.value.pulled.entries > 0
    assert rows(b, "room-a") == {t: {} for t in sync.ROWS}
    assert rows(b, "room-c") == rows(c, None)
    with Logbook(b, readonly=True) as lb:
        assert lb.clinic_held("room-a")[0] == 0
        assert lb.clinic_reached() is None  # a refused pull is no "other rooms seen"
        assert lb.verify()["ok"]
    monkeypatch.setenv("NEEDLEPOINT_HOME", str(b.parent))
    assert main(["clinic", "sync", "--db", str(b)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "breaks" not in err and "room-a" in err


def test_an_entry_missing_on_the_server_is_refused(rooms, admin, monkeypatch):
    a, b = rooms["room-a"], rooms["room-b"]
    with Logbook(a) as lb:
        demo.procedure(lb, snippets=False)
    push(a, monkeypatch)
    pull_into(b, monkeypatch)
    with Logbook(a) as lb:
        demo.procedure(lb, snippets=False, sign=False)
    push(a, monkeypatch)
    held = rows(b, "room-a")
    with psycopg.connect(admin) as conn:
        last = conn.execute(f"SELECT max(seq) FROM {SCHEMA}.audit WHERE tablet = 'room-a'"
                            ).fetchone()[0]
        conn.execute(f"DELETE FROM {SCHEMA}.audit WHERE tablet = 'room-a' AND seq = %s",
                     (last - 3,))
    with Logbook(b) as lb, pytest.raises(pull.PullRefused, match=f"audit entry {last - 3} "
                                         "of tablet room-a is missing on the clinic server"):
        pull.pull(lb, creds(b))
    assert rows(b, "room-a") == held


def test_a_pull_cut_off_half_way_keeps_whole_batches_and_the_next_finishes(rooms,
                                                                           monkeypatch):
    a, b = rooms["room-a"], rooms["room-b"]
    with Logbook(a) as lb:
        demo.procedure(lb, snippets=False)
    push(a, monkeypatch)
    monkeypatch.setattr(pull, "BATCH", 4)
    real, calls = Logbook.take_pulled, []

    def cut(self, tablet, entries):
        calls.append(len(entries))
        if len(calls) == 3:
            raise LogbookError("the disk is full: nothing was saved")
        return real(self, tablet, entries)

    monkeypatch.setattr(Logbook, "take_pulled", cut)
    with pytest.raises(ClinicError, match="could not store the pull: the disk is full"):
        pull_into(b, monkeypatch)
    with Logbook(b, readonly=True) as lb:
        assert lb.clinic_held("room-a")[0] == 8
        assert lb.verify()["ok"]
    monkeypatch.setattr(Logbook, "take_pulled", real)
    pull_into(b, monkeypatch)
    assert rows(b, "room-a") == rows(a, None)


def test_an_entry_waits_for_another_tablets_row_then_goes_in(rooms, monkeypatch):
    """Room-a treats a patient whose row room-b made (pulled): room-c, pulling room-a
    before room-b, finds room-a's procedure waiting for that row, takes room-b's, then
    room-a's. Every row in once."""
    a, b, c = rooms["room-a"], rooms["room-b"], rooms["room-c"]
    with Logbook(b) as lb:
        toxin_session(lb, "MRN-77", [20])
    push(b, monkeypatch)
    pull_into(a, monkeypatch)
    with Logbook(a) as lb:
        pt = lb.find_patient("MRN-77")
        assert pt["origin"] == "room-b"
        # open: room-b's session today raises min_interval here, for a physician
        demo.procedure(lb, patient_id=pt["id"], snippets=False, sign=False)
    push(a, monkeypatch)
    got = pull_into(c, monkeypatch)
    assert got.waiting == 0
    assert rows(c, "room-a") == rows(a, None)
    assert rows(c, "room-b") == rows(b, None)
    with Logbook(c, readonly=True) as lb:
        assert lb.verify()["ok"]
        hist = lb.patient_history(lb.find_patient("MRN-77")["id"])["procedures"]
    assert [p["origin"] for p in hist] == ["room-b", "room-a"]


def test_a_pulled_user_cannot_sign_in_or_work_here(rooms, monkeypatch):
    a, b = rooms["room-a"], rooms["room-b"]
    push(a, monkeypatch)
    pull_into(b, monkeypatch)
    with Logbook(b) as lb:
        theirs = [u for u in lb.users() if u["origin"] == "room-a"]
        assert {u["name"] for u in theirs} == {"Demo Physician", "Demo Nurse"}
        doc = next(u for u in theirs if u["role"] == "physician")
        stored = lb.db.execute("SELECT pin_hash FROM users WHERE id = ?", [doc["id"]]
                               ).fetchone()[0]
        assert stored.startswith("sha256:")
        assert lb.check_pin(doc["id"], "1234") is False  # the demo physician's PIN
        with pytest.raises(LogbookError, match="enrolled on tablet room-a: enrol them on "
                                               "this tablet"):
            lb.add_patient({"mrn": "X-1", "family_name": "Doe"}, by=doc["id"])


def test_a_pulled_record_is_changed_only_on_its_tablet(rooms, monkeypatch):
    a, b = rooms["room-a"], rooms["room-b"]
    with Logbook(a) as lb:
        proc = demo.procedure(lb, sign=False, snippets=False)
    push(a, monkeypatch)
    pull_into(b, monkeypatch)
    with Logbook(b) as lb:
        doc, nurse = demo.users(lb)
        with pytest.raises(LogbookError, match="recorded on tablet room-a: it is changed "
                                               "there"):
            lb.sign_off(proc["id"], doc["id"])
        with pytest.raises(LogbookError, match="recorded on tablet room-a"):
            lb.add_vial(proc["id"], {"product": "onabotulinumtoxinA", "vial_units": 100,
                                     "diluent_ml": 2}, nurse["id"])
        with pytest.raises(LogbookError, match="recorded on tablet room-a"):
            lb.update_patient(proc["patient"]["id"], {"weight_kg": 70}, nurse["id"])
        assert lb.verify()["ok"]


def test_a_pulled_snippet_has_its_samples_only_after_pull_emg(rooms, admin, monkeypatch,
                                                               tmp_path):
    a, b = rooms["room-a"], rooms["room-b"]
    with Logbook(a) as lb:
        proc = demo.procedure(lb)
        want = {i["id"]: lb.snippet(i["id"])["samples"] for i in proc["injections"]}
    push(a, monkeypatch)
    assert pull_into(b, monkeypatch).emg == 0
    with Logbook(b) as lb:
        first = proc["injections"][0]["id"]
        snip = lb.snippet(first)
        assert snip["samples"] is None and snip["on_clinic_server"] is True
        assert lb.procedure(proc["id"])["injections"][0]["emg_source"]["on_clinic_server"]
        assert len(lb.emg_missing()) == 4
        # an EDF export writes what is here and skips what is not (yet)
        assert export_edf.export(lb, [lb.procedure(proc["id"])], tmp_path / "before") == []
        assert pull.pull_emg(lb, creds(b), limit=1) == 1
        assert pull.pull_emg(lb, creds(b)) == 3
        assert pull.pull_emg(lb, creds(b)) == 0
        for inj_id, samples in want.items():
            got = lb.snippet(inj_id)
            assert got["on_clinic_server"] is False
            np.testing.assert_array_equal(got["samples"], samples)
        assert not lb.procedure(proc["id"])["injections"][0]["emg_source"][
            "on_clinic_server"]
        assert lb.verify()["snippets_checked"] >= 4
        assert len(export_edf.export(lb, [lb.procedure(proc["id"])], tmp_path / "after")) == 4


def test_emg_that_does_not_match_its_row_is_not_stored(rooms, admin, monkeypatch):
    a, b = rooms["room-a"], rooms["room-b"]
    with Logbook(a) as lb:
        other = demo.procedure(lb)
    push(a, monkeypatch)
    pull_into(b, monkeypatch)
    first, second = (i["emg_source"]["snippet_id"] for i in other["injections"][:2])
    with psycopg.connect(admin) as conn:  # the owner swaps two snippets' EMG
        conn.execute(f"UPDATE {SCHEMA}.emg_samples SET samples = (SELECT samples FROM "
                     f"{SCHEMA}.emg_samples WHERE id = %s) WHERE id = %s", (second, first))
    with Logbook(b) as lb:
        with pytest.raises(ClinicError, match=f"snippet {first} does not match the hash"):
            pull.pull_emg(lb, creds(b))
        assert [m[1] for m in lb.emg_missing()] == [first]
        assert lb.verify()["ok"]


def test_verify_finds_a_pulled_row_or_entry_changed_behind_its_back(rooms, monkeypatch):
    """logbook verify replays the rows pulled from a tablet against the trail pulled from
    it, and walks that trail's chain, as it does this tablet's own."""
    a, b = rooms["room-a"], rooms["room-b"]
    with Logbook(a) as lb:
        proc = demo.procedure(lb, snippets=False)
    push(a, monkeypatch)
    pull_into(b, monkeypatch)
    conn = sqlite3.connect(b)
    conn.execute("UPDATE patients SET family_name = 'Other' WHERE id = ?",
                 [proc["patient"]["id"]])
    conn.commit()
    with Logbook(b, readonly=True) as lb:
        rep = lb.verify()
    assert not rep["ok"]
    assert rep["problems"] == [f"pulled from room-a: patients row {proc['patient']['id']}: "
                               "family_name differs from its audit trail (changed behind "
                               "its back)"]
    conn.execute("UPDATE patients SET family_name = 'Demo' WHERE id = ?",
                 [proc["patient"]["id"]])
    conn.execute("DROP TRIGGER clinic_audit_no_update")
    conn.execute("UPDATE clinic_audit SET reason = 'x' WHERE tablet = 'room-a' AND seq = 4")
    conn.commit()
    conn.close()
    with Logbook(b, readonly=True, any_schema=True) as lb:
        problems = lb.verify()["problems"]
    assert "pulled from room-a: audit entry 4: its hash does not match its contents (the " \
           "entry was altered)" in problems
