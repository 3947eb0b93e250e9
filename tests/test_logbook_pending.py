"""Pending marks (issue 25, item 6): a mark's EMG is in the logbook the moment it is
complete, whoever is signed in, so a crash loses none; an injection takes it once, or a
user discards it with a reason; its EMG never changes and verify() checks it."""

from __future__ import annotations

import datetime
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.logbook import Logbook, LogbookError, ids

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime.datetime(2026, 3, 2, 10, 0, tzinfo=datetime.UTC)


def _snippet(seed=1, n=1400):
    x = np.random.default_rng(seed).integers(-3000, 3000, size=n, dtype=np.int16)
    return {"samples": x, "uv_per_count": 0.5, "fs": 20000.0, "injection_index": n // 2,
            "findings": {"rms_uv": 14.0}, "source_uri": "sim:denervated",
            "source_kind": "simulator", "calibrated": True}


def _procedure(lb, staff):
    doc, nurse = staff
    p = lb.add_patient({"mrn": "PM-1", "family_name": "Mark", "birth_date": "1960-01-01",
                        "weight_kg": 70}, by=nurse["id"])
    proc = lb.start_procedure({"patient_id": p["id"], "kind": "botulinum"}, by=nurse["id"])
    vial = lb.add_vial(proc["id"], {"product": "onabotulinumtoxinA", "vial_units": 100,
                                    "diluent_ml": 2.0, "reconstituted_at": ids.now()},
                       by=nurse["id"])
    return proc, vial


def test_a_mark_is_kept_with_nobody_signed_in_and_an_injection_takes_it_once(lb, staff):
    doc, nurse = staff
    made = lb.add_pending_mark(_snippet(), pressed_at=T0)  # no user, no procedure
    assert "samples" not in made and made["source_kind"] == "simulator"
    assert [m["id"] for m in lb.pending_marks()] == [made["id"]]
    proc, vial = _procedure(lb, staff)
    inj = lb.log_injection(proc["id"], {"vial_id": vial["id"], "units": 20,
                                        "muscle": "biceps_brachii", "side": "left"},
                           nurse["id"], pending_mark=made["id"])
    kept = lb.snippet(inj["id"])
    assert np.array_equal(kept["samples"][:, 0], _snippet()["samples"])
    assert kept["source_kind"] == "simulator" and inj["emg_findings"] == {"rms_uv": 14.0}
    assert lb.pending_marks() == []
    with pytest.raises(LogbookError, match="already taken"):
        lb.log_injection(proc["id"], {"vial_id": vial["id"], "units": 5}, nurse["id"],
                         pending_mark=made["id"])
    assert lb.verify()["ok"]


def test_a_discard_needs_a_reason_and_keeps_the_emg(lb, staff):
    doc, nurse = staff
    made = lb.add_pending_mark(_snippet(2), pressed_at=T0)
    with pytest.raises(LogbookError, match="a few words"):
        lb.discard_pending_mark(made["id"], " ", nurse["id"])
    gone = lb.discard_pending_mark(made["id"], "pressed by mistake", nurse["id"])
    assert gone["discard_reason"] == "pressed by mistake" and lb.pending_marks() == []
    with pytest.raises(Exception, match="taken or discarded once"):
        lb.db.execute("UPDATE pending_marks SET discarded_at = NULL WHERE id = ?",
                      [made["id"]])
    rep = lb.verify()
    assert rep["ok"] and rep["counts"]["pending_marks"] == 1


def test_a_damaged_pending_mark_shows_in_verify(lb, staff):
    made = lb.add_pending_mark(_snippet(3), pressed_at=T0)
    lb.db.execute("DROP TRIGGER pending_marks_settled")
    lb.db.execute("UPDATE pending_marks SET sha256 = 'x' WHERE id = ?", [made["id"]])
    problems = lb.verify()["problems"]
    assert any("pending mark" in p for p in problems)


def test_a_mark_of_another_procedure_or_a_signed_one_is_refused(lb, staff):
    doc, nurse = staff
    proc, vial = _procedure(lb, staff)
    other = lb.start_procedure({"patient_id": proc["patient_id"], "kind": "botulinum"},
                               by=nurse["id"])
    made = lb.add_pending_mark(_snippet(4), pressed_at=T0, procedure_id=other["id"])
    assert lb.pending_marks(proc["id"]) == []
    with pytest.raises(LogbookError, match="another procedure"):
        lb.log_injection(proc["id"], {"vial_id": vial["id"], "units": 5}, nurse["id"],
                         pending_mark=made["id"])
    lb.sign_off(proc["id"], doc["id"])
    with pytest.raises(LogbookError, match="signed"):
        lb.add_pending_mark(_snippet(5), pressed_at=T0, procedure_id=proc["id"])


WRITER = r"""
import sys, datetime
import numpy as np
from app.logbook import Logbook
lb = Logbook(sys.argv[1])
x = np.arange(800, dtype=np.int16)
lb.add_pending_mark({"samples": x, "uv_per_count": 1.0, "fs": 10000.0, "injection_index": 400,
                     "source_uri": "spikerbox:/dev/ttyACM0", "source_kind": "amplifier",
                     "calibrated": False}, pressed_at=datetime.datetime.now(datetime.UTC))
print("kept", flush=True)
sys.stdin.read()  # held open until killed
"""


def test_a_kept_mark_survives_the_process_being_killed(tmp_path):
    path = tmp_path / "lb.db"
    with Logbook(path):
        pass
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout.readline().strip() == b"kept"
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    with Logbook(path) as lb:
        marks = lb.pending_marks()
        assert len(marks) == 1 and marks[0]["source_kind"] == "amplifier"
        assert lb.verify()["ok"]
