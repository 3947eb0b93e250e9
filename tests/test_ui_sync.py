"""The clinic sync's line on the screens of the real app under Xvfb (tests/syncdriver.py),
a tablet joined to a throwaway PostgreSQL (tests/pgserver.py): "Clinic: synced ... · 0
waiting" on the procedure and history screens once the first round got through; "server
not reachable since ..." once it cannot be; nothing on a tablet that has not joined (every
other UI test). And on a tablet holding another room's procedure pulled without its EMG,
its last pull two hours old: the dose check's note beside the entry's warnings, and "EMG on
the clinic server" where the pulled snippet's trace would be. Shots into $SYNC_SHOTS when
set."""

from __future__ import annotations

import datetime
import json
import os
import re
from pathlib import Path

from app.clinic import credentials, pull, server, sync
from app.logbook import Logbook, demo
from tests.clinicutil import admin
from tests.uiutil import display, result, start
from tests.workflowdriver import seed

__all__ = ["admin"]  # a fixture

DISPLAYS = range(130, 140)  # ours on this shared machine
TIME = r"\d\d:\d\d \(UTC[+-]\d\d:\d\d\)"


def test_the_clinic_line_says_synced_then_not_reachable(admin, tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("NEEDLEPOINT_HOME", str(home))
    server.join(admin, "room-4")
    shots = Path(os.environ.get("SYNC_SHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    with display(DISPLAYS) as disp:
        res = result(start("sync", {"shots": str(shots), "nowhere": str(tmp_path)}, home,
                           disp, driver="tests.syncdriver"), 300)
    assert re.fullmatch(f"Clinic: synced {TIME} · 0 waiting", res["procedure_synced"]), res
    assert res["history_synced"] == res["procedure_synced"]
    assert re.fullmatch(f"Clinic: \\d+ waiting · server not reachable since {TIME}",
                        res["procedure_unreachable"]), res
    for name in ("sync_procedure", "sync_history", "sync_unreachable"):
        assert (shots / f"{name}.png").stat().st_size > 10_000


def test_a_stale_pull_notes_the_dose_check_and_missing_emg_is_on_the_server(
        admin, tmp_path, monkeypatch):
    other, home = tmp_path / "room-5", tmp_path / "home"
    monkeypatch.setenv("NEEDLEPOINT_HOME", str(other))
    server.join(admin, "room-5")
    with Logbook(other / "logbook.db") as lb:
        done = demo.procedure(lb)  # with its snippets' EMG
        sync.push(lb, credentials.read(credentials.path()))
    monkeypatch.setenv("NEEDLEPOINT_HOME", str(home))
    server.join(admin, "room-4")
    seed(home, history=True)
    creds = credentials.read(credentials.path())
    with Logbook(home / "logbook.db") as lb:
        pull.pull(lb, creds)  # the rows, not their EMG
    (home / credentials.NAME).write_text(json.dumps({**creds, "dsn": f"host={tmp_path} "
                                                     "dbname=clinic user=x"}))
    shots = Path(os.environ.get("SYNC_SHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    later = (datetime.datetime.now() + datetime.timedelta(hours=2)).strftime(
        "%Y-%m-%d %H:%M:%S")
    args = {"shots": str(shots), "patient_id": done["patient_id"],
            "procedure_id": done["id"], "injection_id": done["injections"][0]["id"]}
    with display(DISPLAYS) as disp:
        res = result(start("away", args, home, disp, driver="tests.syncdriver",
                           clock=later), 300)
    assert re.fullmatch(f"other rooms last seen {TIME}", res["dose_note"]), res
    assert "min_interval" in res["warnings"]  # the other room's session, hours before
    assert "server not reachable since" in res["clinic_line"]
    assert res["away"] == res["play"] == "EMG on the clinic server"
    assert "The EMG of this injection is on the clinic server" in res["snippet_text"]
    for name in ("sync_dose_note", "sync_away"):
        assert (shots / f"{name}.png").stat().st_size > 10_000
