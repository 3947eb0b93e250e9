"""The clinic sync's line on the screens of the real app under Xvfb (tests/syncdriver.py),
a tablet joined to a throwaway PostgreSQL (tests/pgserver.py): "Clinic: synced ... · 0
waiting" on the procedure and history screens once the first round got through; "server
not reachable since ..." once it cannot be; nothing on a tablet that has not joined (every
other UI test). Shots into $SYNC_SHOTS when set."""

from __future__ import annotations

import os
import re
from pathlib import Path

from app.clinic import server
from tests.clinicutil import admin
from tests.uiutil import display, result, start

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
