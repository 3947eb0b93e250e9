"""Shared by the pull's tests (tests/test_clinic_pull.py, tests/test_clinic_dose.py): tablets
joined to a clinic on the throwaway PostgreSQL, each with its own NEEDLEPOINT_HOME and
logbook, and one push or pull run as one of them by the functions the app calls."""

from __future__ import annotations

import datetime

import pytest

from app.clinic import credentials, pull, sync
from app.logbook import Logbook, demo, ids
from tests.clinicutil import admin, joined

__all__ = ["admin", "push", "pull_into", "rooms", "toxin_session"]


@pytest.fixture
def rooms(admin, tmp_path, monkeypatch):
    """Tablets room-a, room-b and room-c joined, each with its own home and a logbook
    holding the demo's physician and nurse (and nothing else); {name: logbook path}."""
    return joined(admin, tmp_path, monkeypatch, ("room-a", "room-b", "room-c"), demo.users)


def creds(path) -> dict:
    return credentials.read(path.parent / credentials.NAME)


def push(path, monkeypatch) -> sync.Pushed:
    monkeypatch.setenv("NEEDLEPOINT_HOME", str(path.parent))
    with Logbook(path) as lb:
        return sync.push(lb, creds(path))


def pull_into(path, monkeypatch, emg: bool = False) -> pull.Pulled:
    monkeypatch.setenv("NEEDLEPOINT_HOME", str(path.parent))
    with Logbook(path) as lb:
        got = pull.pull(lb, creds(path))
        if emg:
            got.emg = pull.pull_emg(lb, creds(path))
        return got


def toxin_session(lb: Logbook, mrn: str, doses: list[float], *, days_ago: float = 0,
                  sign: bool = True) -> dict:
    """A procedure for the patient of `mrn` (this tablet's row, made if it has none):
    onabotulinumtoxinA, one injection of each dose into the left sternocleidomastoid, at
    most 50 U each; the procedure as it reads."""
    doc, nurse = demo.users(lb)
    pt = lb.find_patient(mrn) or lb.add_patient(
        {"mrn": mrn, "family_name": "Okafor", "given_name": "Ada",
         "birth_date": "1961-05-17", "weight_kg": 68.0}, by=nurse["id"])
    start = datetime.datetime.now(ids.UTC) - datetime.timedelta(days=days_ago)
    proc = lb.start_procedure({"patient_id": pt["id"], "kind": "botulinum",
                               "physician_id": doc["id"], "started_at": start},
                              by=nurse["id"])
    vial = lb.add_vial(proc["id"], {"product": "onabotulinumtoxinA", "vial_units": 200,
                                    "lot": "C1234C3", "diluent_ml": 4.0}, by=nurse["id"])
    for k, units in enumerate(doses):
        lb.log_injection(proc["id"], {"vial_id": vial["id"], "muscle": "sternocleidomastoid",
                                      "side": "left", "site": k + 1, "units": units,
                                      "at": start + datetime.timedelta(minutes=k)},
                         nurse["id"], overrides={"vial_overdrawn": "a second vial, same lot",
                                                 "muscle_typical_max": "as planned",
                                                 "per_muscle_max": "as planned"},
                         override_by=doc["id"])
    if sign:
        lb.end_procedure(proc["id"], nurse["id"])
        lb.sign_off(proc["id"], doc["id"])
    return lb.procedure(proc["id"])
