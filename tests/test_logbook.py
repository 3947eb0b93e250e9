"""The logbook's core: schema and file, users and PINs, procedures, the audit chain, sign-off
and amendments, verify (and what it catches), backup and restore, bad files, a full disk,
and the command line. Every test runs on a throwaway database."""

from __future__ import annotations

import datetime
import json
import os
import sqlite3
import stat

import numpy as np
import pytest

from app.commands import cli
from app.logbook import DiskFull, Logbook, LogbookError, NotALogbook, backup, demo, ids
from app.logbook.migrations import names

AMPLIFIER = {"source_uri": "spikerbox:/dev/ttyACM0", "source_kind": "amplifier",
             "calibrated": True}


def _procedure(lb, staff, **kw):
    doc, nurse = staff
    patient = demo.patient(lb, nurse["id"])
    proc = lb.start_procedure({"patient_id": patient["id"], "kind": "botulinum",
                               "physician_id": doc["id"], "nurse_id": nurse["id"], **kw},
                              by=nurse["id"])
    vial = lb.add_vial(proc["id"], {"product": "onabotulinumtoxinA", "vial_units": 100,
                                    "diluent_ml": 2.0, "lot": "L1", "expiry": "2099-01",
                                    "reconstituted_at": ids.now()}, by=nurse["id"])
    return proc, vial


# the file ---------------------------------------------------------------------------------

def test_new_logbook_is_owner_only_wal_with_foreign_keys_and_every_migration(tmp_path):
    path = tmp_path / "sub" / "lb.db"
    with Logbook(path) as book:
        demo.procedure(book, snippets=False)
        assert book.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert book.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert book.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert book.schema_version() == names()
        for p in (path, tmp_path / "sub" / "lb.db-wal"):
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p


def test_an_existing_file_with_loose_permissions_is_tightened(tmp_path):
    path = tmp_path / "lb.db"
    Logbook(path).close()
    os.chmod(path, 0o644)
    Logbook(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_default_path_is_under_needlepoint_home(tmp_path, monkeypatch):
    monkeypatch.setenv("NEEDLEPOINT_HOME", str(tmp_path / "home"))
    with Logbook() as book:
        assert book.path == tmp_path / "home" / "logbook.db"


def test_foreign_and_corrupt_files_are_refused_and_left_untouched(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_bytes(b"not a database at all" * 100)
    with pytest.raises(NotALogbook, match="not an SQLite database"):
        Logbook(text)
    assert text.read_bytes() == b"not a database at all" * 100
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE accounts (id INTEGER)")
    conn.commit()
    conn.close()
    before = other.read_bytes()
    with pytest.raises(NotALogbook, match="not a Needlepoint logbook"):
        Logbook(other)
    assert other.read_bytes() == before
    damaged = tmp_path / "damaged.db"
    Logbook(damaged).close()
    data = bytearray(damaged.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # the schema page
    damaged.write_bytes(bytes(data))
    with pytest.raises(NotALogbook):
        Logbook(damaged)


def test_a_logbook_from_a_newer_needlepoint_is_refused(tmp_path):
    path = tmp_path / "lb.db"
    with Logbook(path) as book:
        book.db["_sqlite_migrations"].insert({"migration_set": "needlepoint.logbook",
                                              "name": "0099_future", "applied_at": "x"})
    with pytest.raises(NotALogbook, match="newer Needlepoint"):
        Logbook(path)


# users --------------------------------------------------------------------------------

def test_pins_are_salted_slow_hashes_and_never_returned(lb):
    doc = lb.add_user({"name": "Dr A", "role": "physician", "pin": "1234"})
    nurse = lb.add_user({"name": "N B", "role": "nurse", "pin": "1234"}, by=doc["id"])
    assert "pin_hash" not in doc and "pin" not in doc
    hashes = [r[0] for r in lb.db.execute("SELECT pin_hash FROM users")]
    assert all(h.startswith("scrypt$") for h in hashes)  # the cost: test_logbook_pins.py
    assert hashes[0] != hashes[1]  # same PIN, different salt
    assert lb.check_pin(doc["id"], "1234") and not lb.check_pin(doc["id"], "4321")
    assert lb.check_pin(nurse["id"], "1234")
    with pytest.raises(LogbookError, match="role"):
        lb.add_user({"name": "X", "role": "janitor", "pin": "1234"}, by=doc["id"])
    with pytest.raises(LogbookError, match="admin"):
        lb.add_user({"name": "X", "role": "admin", "pin": "1234"}, by=nurse["id"])


# records, audit, sign-off, amendments -----------------------------------------------------

def test_every_change_before_sign_off_is_in_the_audit_trail_with_old_and_new(lb, staff):
    doc, nurse = staff
    proc, vial = _procedure(lb, staff)
    inj = lb.log_injection(proc["id"], {"vial_id": vial["id"], "muscle": "splenius_capitis",
                                        "side": "left", "volume_ml": 0.4}, nurse["id"])
    assert inj["units"] == pytest.approx(20.0)  # 0.4 mL of 100 U in 2 mL
    lb.update_injection(inj["id"], {"units": 15, "volume_ml": 0.3}, nurse["id"],
                        reason="misread syringe")
    entry = lb.db.execute("SELECT action, old, new, reason, user_id FROM audit WHERE "
                          "tbl = 'injections' ORDER BY seq DESC LIMIT 1").fetchone()
    assert entry[0] == "update" and entry[3] == "misread syringe" and entry[4] == nurse["id"]
    assert json.loads(entry[1]) == {"units": 20.0, "volume_ml": 0.4}
    assert json.loads(entry[2]) == {"units": 15, "volume_ml": 0.3}
    assert lb.verify()["ok"]


def test_after_sign_off_a_correction_is_an_amendment_that_never_overwrites(lb, staff):
    doc, nurse = staff
    proc, vial = _procedure(lb, staff)
    inj = lb.log_injection(proc["id"], {"vial_id": vial["id"], "muscle": "splenius_capitis",
                                        "side": "left", "units": 30}, nurse["id"])
    with pytest.raises(LogbookError, match="physician"):
        lb.sign_off(proc["id"], nurse["id"])
    lb.sign_off(proc["id"], doc["id"])
    with pytest.raises(LogbookError, match="amendment"):
        lb.update_injection(inj["id"], {"units": 20}, nurse["id"])
    with pytest.raises(LogbookError, match="amendment"):
        lb.log_injection(proc["id"], {"vial_id": vial["id"], "units": 5}, nurse["id"])
    # the database itself refuses, whoever writes to it
    with pytest.raises(sqlite3.IntegrityError, match="signed"):
        lb.db.execute("UPDATE injections SET units = 1 WHERE id = ?", [inj["id"]])
    with pytest.raises(LogbookError, match="reason"):
        lb.amend(proc["id"], "injections", inj["id"], {"units": 20}, " ", doc["id"])
    lb.amend(proc["id"], "injections", inj["id"], {"units": 20}, "dose was 20 U", doc["id"])
    stored = lb.db.execute("SELECT units FROM injections WHERE id = ?", [inj["id"]]).fetchone()
    assert stored[0] == 30  # the original stays as it was signed
    rec = lb.procedure(proc["id"])
    assert rec["injections"][0]["units"] == 20 and rec["injections"][0]["amended"]
    assert rec["totals"]["onabotulinumtoxinA"]["units"] == 20
    # The volume follows the units from the injection's own vial (5 U per 0.1 mL).
    assert rec["amendments"][0]["changes"] == {"units": {"old": 30, "new": 20},
                                               "volume_ml": {"old": 0.6, "new": 0.4}}
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        lb.db.execute("DELETE FROM amendments")
    # follow-up findings are additions, allowed after sign-off
    lb.add_observation(proc["id"], {"scale": "pain_nrs", "timepoint": "followup", "value": 2},
                       nurse["id"])
    lb.add_observation(proc["id"], {"scale": "modified_ashworth", "timepoint": "followup",
                                    "muscle": "biceps_brachii", "side": "left", "grade": "1+"},
                       nurse["id"])
    with pytest.raises(LogbookError, match="whole number from 0 to 10"):
        lb.add_observation(proc["id"], {"scale": "pain_nrs", "timepoint": "followup",
                                        "value": 11}, nurse["id"])
    assert len(lb.procedure(proc["id"])["observations"]) == 2
    assert lb.verify()["ok"]


def test_records_are_never_deleted_and_voiding_needs_a_reason(lb, staff):
    doc, nurse = staff
    proc, vial = _procedure(lb, staff)
    inj = lb.log_injection(proc["id"], {"vial_id": vial["id"], "units": 10}, nurse["id"])
    for table in ("injections", "procedures", "patients", "vials", "audit"):
        with pytest.raises(sqlite3.IntegrityError):
            lb.db.execute(f"DELETE FROM {table}")
    with pytest.raises(LogbookError, match="reason"):
        lb.void_injection(inj["id"], "", nurse["id"])
    lb.void_injection(inj["id"], "logged twice", nurse["id"])
    assert lb.procedure(proc["id"])["totals"] == {}
    assert lb.verify()["ok"]


def test_pain_scores_and_kinds_are_checked_by_the_api_and_the_database(lb, staff):
    doc, nurse = staff
    patient = demo.patient(lb, nurse["id"])
    for bad, field in (({"pain_before": 11}, "pain_before"), ({"pain_before": -1}, "pain_before"),
                       ({"kind": "acupuncture"}, "kind")):
        with pytest.raises(LogbookError, match=f"^{field}: "):
            lb.start_procedure({"patient_id": patient["id"], "kind": "botulinum", **bad},
                               by=nurse["id"])
    assert lb.db.execute("SELECT count(*) FROM procedures").fetchone()[0] == 0
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):  # and beneath, the schema
        lb.db.execute("INSERT INTO procedures (id, patient_id, kind, started_at, created_at, "
                      "pain_before) VALUES ('x', ?, 'botulinum', 'now', 'now', 11)",
                      [patient["id"]])


def test_snippet_round_trips_exactly_with_its_scale(lb, staff):
    doc, nurse = staff
    proc, vial = _procedure(lb, staff)
    rng = np.random.default_rng(3)
    x = rng.integers(-32768, 32767, size=(14000, 2), endpoint=True).astype(np.int16)
    inj = lb.log_injection(proc["id"], {"vial_id": vial["id"], "units": 10}, nurse["id"],
                           snippet={"samples": x, "uv_per_count": 0.4882813, "fs": 2000.0,
                                    "injection_index": 10000,
                                    "findings": {"fibrillation": np.bool_(True),
                                                 "rms_uv": np.float32(12.5)}, **AMPLIFIER})
    s = lb.snippet(inj["id"])
    assert s["samples"].dtype == np.int16 and np.array_equal(s["samples"], x)
    assert (s["uv_per_count"], s["fs"], s["injection_index"]) == (0.4882813, 2000.0, 10000)
    assert lb.procedure(proc["id"])["injections"][0]["emg_findings"] == {
        "fibrillation": True, "rms_uv": 12.5}
    with pytest.raises(LogbookError, match="int16"):
        lb.log_injection(proc["id"], {"vial_id": vial["id"]}, nurse["id"],
                         snippet={"samples": x.astype(float), "uv_per_count": 1, "fs": 1,
                                  "injection_index": 0})
    assert len(lb.procedure(proc["id"])["injections"]) == 1  # the refused one wrote nothing


def test_patient_history_is_every_procedure_oldest_first(lb, staff):
    doc, nurse = staff
    patient = demo.patient(lb, nurse["id"])
    t0 = datetime.datetime(2025, 1, 6, 9, tzinfo=datetime.UTC)
    for k in (2, 0, 1):
        demo.procedure(lb, patient_id=patient["id"], snippets=False,
                       started=t0 + datetime.timedelta(days=100 * k))
    demo.procedure(lb, snippets=False)  # someone else
    hist = lb.patient_history(patient["id"])
    starts = [p["started_at"] for p in hist["procedures"]]
    assert len(starts) == 3 and starts == sorted(starts)
    assert all(len(p["injections"]) == 4 for p in hist["procedures"])
    assert hist["patient"]["mrn"] == patient["mrn"]


# verify catches tampering -----------------------------------------------------------------

def _tamper(path, *sql):
    """Another tool editing the file behind the logbook's back (triggers dropped first)."""
    conn = sqlite3.connect(path)
    for s in sql:
        conn.execute(s)
    conn.commit()
    conn.close()


@pytest.mark.parametrize("what, sql, expect", [
    ("an edited injection", ["DROP TRIGGER injections_signed_update",
                             "UPDATE injections SET units = 99 WHERE seq = 2"],
     "units differs from its audit trail"),
    ("an edited audit entry", ["DROP TRIGGER audit_no_update",
                               "UPDATE audit SET reason = 'x' WHERE seq = 3"],
     "hash does not match"),
    ("a removed audit entry", ["DROP TRIGGER audit_no_delete", "DELETE FROM audit WHERE seq = 4"],
     "does not follow"),
    ("an inserted row", ["INSERT INTO users VALUES ('u1', 'Eve', 'admin', 'x', 1, 'now', NULL)"],
     "not in the audit trail"),
    ("a changed sample", ["DROP TRIGGER snippets_no_update",
                          "UPDATE snippets SET samples = zeroblob(10)"], "do not match"),
])
def test_verify_detects_tampering(tmp_path, what, sql, expect):
    path = tmp_path / "lb.db"
    with Logbook(path) as book:
        demo.procedure(book)
        assert book.verify()["ok"]
    _tamper(path, *sql)
    with Logbook(path) as book:
        rep = book.verify()
    assert not rep["ok"], what
    assert any(expect in p for p in rep["problems"]), rep["problems"]
    assert cli.main(["logbook", "verify", "--db", str(path)]) == 1


def test_errors_name_no_patient_data(lb, staff):
    doc, nurse = staff
    lb.add_patient({"mrn": "MRN-778899", "family_name": "Zebedee", "birth_date": "1950-01-01"},
                   by=nurse["id"])
    with pytest.raises(LogbookError) as e:
        lb.add_patient({"mrn": "MRN-778899", "family_name": "Zebedee"}, by=nurse["id"])
    assert "already exists" in str(e.value)
    assert "778899" not in str(e.value) and "Zebedee" not in str(e.value)


# durability -------------------------------------------------------------------------------

def test_a_full_disk_loses_nothing_already_saved_and_says_so(lb, staff):
    doc, nurse = staff
    proc, vial = _procedure(lb, staff)
    kept = lb.log_injection(proc["id"], {"vial_id": vial["id"], "units": 5}, nurse["id"])
    pages = lb.db.execute("PRAGMA page_count").fetchone()[0]
    lb.db.execute(f"PRAGMA max_page_count = {pages + 1}")  # SQLite's own "disk is full"
    x = np.random.default_rng(1).integers(-30000, 30000, 140000).astype(np.int16)
    with pytest.raises(DiskFull, match="disk is full"):
        lb.log_injection(proc["id"], {"vial_id": vial["id"], "units": 5}, nurse["id"],
                         snippet={"samples": x, "uv_per_count": 0.5, "fs": 20000,
                                  "injection_index": 100000, **AMPLIFIER})
    lb.db.execute("PRAGMA max_page_count = 1073741823")
    rec = lb.procedure(proc["id"])
    assert [i["id"] for i in rec["injections"]] == [kept["id"]]
    again = lb.log_injection(proc["id"], {"vial_id": vial["id"], "units": 5}, nurse["id"],
                             snippet={"samples": x, "uv_per_count": 0.5, "fs": 20000,
                                      "injection_index": 100000, **AMPLIFIER})
    assert again["seq"] == 2 and lb.verify()["ok"]


# backup and restore -----------------------------------------------------------------------

def test_backup_then_restore_brings_back_the_records_and_keeps_the_replaced_one(tmp_path):
    path, copy = tmp_path / "lb.db", tmp_path / "backup.db"
    with Logbook(path) as book:
        first = demo.procedure(book)
    rep = backup.backup(path, copy)
    assert rep["ok"] and stat.S_IMODE(copy.stat().st_mode) == 0o600
    with Logbook(path) as book:
        demo.procedure(book)
        assert len(book.procedures()) == 2
    out = backup.restore(copy, path)
    assert out["ok"] and out["previous_kept_as"]
    with Logbook(path) as book:
        assert [p["id"] for p in book.procedures()] == [first["id"]]
    with Logbook(out["previous_kept_as"]) as old:
        assert len(old.procedures()) == 2


def test_restore_refuses_a_file_that_fails_verify(tmp_path):
    path, copy = tmp_path / "lb.db", tmp_path / "backup.db"
    with Logbook(path) as book:
        demo.procedure(book, snippets=False)
    backup.backup(path, copy)
    _tamper(copy, "DROP TRIGGER audit_no_update", "UPDATE audit SET user_id = NULL")
    before = path.read_bytes()
    with pytest.raises(NotALogbook, match="fails verify"):
        backup.restore(copy, path)
    assert path.read_bytes() == before
    assert cli.main(["logbook", "restore", str(copy), "--db", str(path)]) == 2


# the command line -------------------------------------------------------------------------

def test_cli_demo_list_show_verify(tmp_path, capsys):
    db = str(tmp_path / "lb.db")
    assert cli.main(["logbook", "demo", "--db", db]) == 0
    assert cli.main(["logbook", "list", "--db", db, "--json"]) == 0
    out = capsys.readouterr().out
    rows = json.loads(out[out.index("["):])
    assert len(rows) == 1 and rows[0]["injections"] == 4
    assert cli.main(["logbook", "show", rows[0]["id"][:8], "--db", db]) == 0
    shown = capsys.readouterr().out
    assert "sternocleidomastoid" in shown and "115 U" in shown
    assert cli.main(["logbook", "verify", "--db", db]) == 0
    assert ": OK" in capsys.readouterr().out
    assert cli.main(["logbook", "show", "ffffffff", "--db", db]) == 2
    assert "no procedure with id" in capsys.readouterr().err
    assert cli.main(["logbook", "list", "--db", str(tmp_path / "missing.db")]) == 2


def test_two_writers_at_once_keep_one_chain_and_one_numbering(tmp_path):
    """The app and a command-line job writing to the same file at the same time."""
    import threading

    path = tmp_path / "lb.db"
    with Logbook(path) as book:
        doc, nurse = demo.users(book)
        proc, vial = _procedure(book, (doc, nurse))
    errors = []

    def writer():
        try:
            with Logbook(path) as own:
                for _ in range(25):
                    own.log_injection(proc["id"], {"vial_id": vial["id"], "units": 1},
                                      nurse["id"])
        except Exception as e:  # reported below, with the other thread's
            errors.append(e)

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    with Logbook(path) as book:
        seqs = [i["seq"] for i in book.procedure(proc["id"])["injections"]]
        assert seqs == list(range(1, 51))
        assert book.verify()["ok"]


def test_restore_over_a_damaged_logbook_keeps_the_damaged_file_aside(tmp_path, capsys):
    path, copy = tmp_path / "lb.db", tmp_path / "backup.db"
    assert cli.main(["logbook", "demo", "--db", str(path), "--no-snippets"]) == 0
    assert cli.main(["logbook", "backup", "--db", str(path), "--out", str(copy)]) == 0
    assert "verified" in capsys.readouterr().out
    path.write_bytes(b"\x00" * 8192)  # the logbook is destroyed
    assert cli.main(["logbook", "verify", "--db", str(path)]) == 2
    assert cli.main(["logbook", "restore", str(copy), "--db", str(path)]) == 0
    out = capsys.readouterr().out
    assert "verify passed" in out and "kept as" in out
    with Logbook(path) as book:
        assert book.verify()["ok"] and len(book.procedures()) == 1
    # (its -wal and -shm, which SQLite makes beside it for a reader too, go aside with it)
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("lb.db.before-restore-")
            and not p.name.endswith(("-wal", "-shm"))]
    assert len(kept) == 1 and kept[0].read_bytes() == b"\x00" * 8192


def test_rows_are_read_only_through_the_public_api(tmp_path):
    from app.logbook import Logbook
    from app.logbook.errors import LogbookError

    lb = Logbook(tmp_path / "l.db")
    try:
        assert lb.row("patients", "no-such-id") is None
        with pytest.raises(LogbookError, match="no table 'audit'"):
            lb.row("audit", "x")
    finally:
        lb.close()
