"""Dose warnings recorded the moment a value is confirmed (update_injection), withdrawn
with a note when a corrected value makes them moot, and decided once: overridden by a
physician or withdrawn, never both; the database itself refuses anything else."""

from __future__ import annotations

import sqlite3

import pytest

from app.logbook import LogbookError, ids


def _session(lb, staff, units=None):
    doc, nurse = staff
    pt = lb.add_patient({"mrn": ids.new_id()[:8], "family_name": "Test",
                         "birth_date": "1970-01-01", "weight_kg": 70}, by=nurse["id"])
    proc = lb.start_procedure({"patient_id": pt["id"], "kind": "botulinum",
                               "physician_id": doc["id"]}, by=nurse["id"])
    vial = lb.add_vial(proc["id"], {"product": "onabotulinumtoxinA", "vial_units": 100,
                                    "diluent_ml": 2.0, "expiry": "2099-12",
                                    "reconstituted_at": ids.now()}, by=nurse["id"])
    inj = lb.log_injection(proc["id"], {"vial_id": vial["id"], "guidance": "emg"},
                           nurse["id"])
    return proc, vial, inj


def _warnings(lb, proc):
    return list(lb.db.query("SELECT * FROM dose_warnings WHERE procedure_id = ? "
                            "ORDER BY created_at", [proc["id"]]))


def test_a_confirmed_dose_over_a_limit_records_its_warning_at_once(lb, staff):
    proc, _vial, inj = _session(lb, staff)
    nurse = staff[1]["id"]
    lb.update_injection(inj["id"], {"muscle": "biceps_brachii", "side": "left"}, nurse)
    assert _warnings(lb, proc) == []
    lb.update_injection(inj["id"], {"units": 90}, nurse)
    rows = _warnings(lb, proc)
    assert {w["rule"] for w in rows} == {"per_site_max"}
    assert [w["rule"] for w in lb.open_warnings(proc["id"])] == ["per_site_max"]
    # nothing else is needed for the signature to see it: the app may die right here
    with pytest.raises(LogbookError, match="still open"):
        lb.sign_off(proc["id"], staff[0]["id"])


def test_a_corrected_dose_withdraws_the_warning_with_a_note_and_keeps_it(lb, staff):
    proc, _vial, inj = _session(lb, staff)
    nurse = staff[1]["id"]
    lb.update_injection(inj["id"], {"muscle": "biceps_brachii", "side": "left",
                                    "units": 90}, nurse)
    lb.update_injection(inj["id"], {"units": 30}, nurse)
    rows = _warnings(lb, proc)
    assert len(rows) == 1 and rows[0]["withdrawn_by"] == nurse
    assert rows[0]["withdrawn_note"] == "no longer raised once units became 30 and " \
                                        "volume_ml became 0.6"
    assert lb.open_warnings(proc["id"]) == []
    trail = list(lb.db.query("SELECT action FROM audit WHERE row_id = ?", [rows[0]["id"]]))
    assert [t["action"] for t in trail] == ["insert", "withdraw"]
    with pytest.raises(LogbookError, match="withdrawn"):
        lb.override_warning(rows[0]["id"], "large muscle", staff[0]["id"])
    assert lb.verify()["ok"]


def test_another_dose_over_the_limit_replaces_the_warning_that_named_the_old_one(lb, staff):
    proc, _vial, inj = _session(lb, staff)
    nurse = staff[1]["id"]
    lb.update_injection(inj["id"], {"muscle": "biceps_brachii", "side": "left",
                                    "units": 90}, nurse)
    lb.update_injection(inj["id"], {"units": 80}, nurse)
    rows = _warnings(lb, proc)
    assert [bool(w["withdrawn_at"]) for w in rows] == [True, False]
    assert "90" in rows[0]["message"] and "80" in rows[1]["message"]


def test_an_overridden_warning_stays_as_the_physician_decided_it(lb, staff):
    proc, _vial, inj = _session(lb, staff)
    doc, nurse = staff[0]["id"], staff[1]["id"]
    lb.update_injection(inj["id"], {"muscle": "biceps_brachii", "side": "left",
                                    "units": 90}, nurse)
    w = _warnings(lb, proc)[0]
    lb.override_warning(w["id"], "large muscle, deliberate dose", doc)
    lb.update_injection(inj["id"], {"units": 30}, nurse)
    lb.update_injection(inj["id"], {"units": 95}, nurse)
    rows = _warnings(lb, proc)
    assert len(rows) == 1 and rows[0]["override_reason"] and not rows[0]["withdrawn_at"]


def test_a_session_total_on_another_injection_is_withdrawn_when_an_earlier_dose_drops(
        lb, staff):
    proc, vial, first = _session(lb, staff)
    nurse = staff[1]["id"]
    lb.update_injection(first["id"], {"muscle": "splenius_capitis", "side": "left",
                                      "units": 250}, nurse)
    second = lb.log_injection(proc["id"], {"vial_id": vial["id"]}, nurse)
    lb.update_injection(second["id"], {"muscle": "splenius_capitis", "side": "right",
                                       "units": 200}, nurse)
    session = [w for w in lb.open_warnings(proc["id"]) if w["rule"] == "per_session_max"]
    assert [w["injection_id"] for w in session] == [second["id"]]
    lb.update_injection(first["id"], {"units": 100}, nurse)
    assert not [w for w in lb.open_warnings(proc["id"]) if w["rule"] == "per_session_max"]


def test_the_database_refuses_a_warning_decided_twice_or_both_ways(lb, staff):
    proc, _vial, inj = _session(lb, staff)
    doc, nurse = staff[0]["id"], staff[1]["id"]
    lb.update_injection(inj["id"], {"muscle": "biceps_brachii", "side": "left",
                                    "units": 90}, nurse)
    wid = _warnings(lb, proc)[0]["id"]
    conn = lb.db.conn
    for sql, args in (
            ("UPDATE dose_warnings SET withdrawn_at = ?, withdrawn_by = ? WHERE id = ?",
             [ids.now(), nurse, wid]),  # no note
            ("UPDATE dose_warnings SET override_reason = 'x y z', override_by = ?, "
             "withdrawn_at = ?, withdrawn_by = ?, withdrawn_note = 'n o t e' WHERE id = ?",
             [doc, ids.now(), nurse, wid]),  # both at once
            ("UPDATE dose_warnings SET message = 'other' WHERE id = ?", [wid])):
        with pytest.raises(sqlite3.IntegrityError, match="decided once"):
            conn.execute(sql, args)
    conn.execute("UPDATE dose_warnings SET withdrawn_at = ?, withdrawn_by = ?, "
                 "withdrawn_note = 'by hand' WHERE id = ?", [ids.now(), nurse, wid])
    with pytest.raises(sqlite3.IntegrityError, match="decided once"):
        conn.execute("UPDATE dose_warnings SET override_reason = 'x y z', override_by = ? "
                     "WHERE id = ?", [doc, wid])
    conn.rollback()
