"""The clinic sync's line in the real app (tests/test_ui_sync.py): a tablet joined to a
throwaway PostgreSQL, its syncer started with the app; the procedure and history screens
read once its first round got through, and again once the server cannot be reached (its
clinic.json pointed at a folder with no server, then a signature-like kick). A screenshot
of each. `python -m tests.syncdriver sync '{json args}'` prints `RESULT {json}`."""

from __future__ import annotations

import json
from pathlib import Path

from tests.workflowdriver import NURSE_PIN, choose_user, pin, run, seed, shot, until

WAIT_S = 120.0  # a round: a Python start-up and a push, on a shared machine


def line_on(app, screen: str) -> str:
    from app.ui.widgets import ClinicLine

    found = [w for w in app.root.get_screen(screen).walk() if isinstance(w, ClinicLine)]
    return found[0].text if found and found[0].height > 0 else ""


def sync(app, args):
    out = {}
    shots = Path(args["shots"])
    app.root.current = "procedure"
    yield 0.3
    choose_user(app, "nurse")
    yield 0.1
    yield from pin(app, NURSE_PIN)
    yield from until(lambda: app.clinic_text.startswith("Clinic: synced"), WAIT_S)
    yield 0.3  # (drawn)
    out["procedure_synced"] = line_on(app, "procedure")
    shot(app, str(shots / "sync_procedure.png"))
    app.root.current = "history"
    yield 0.5
    out["history_synced"] = line_on(app, "history")
    shot(app, str(shots / "sync_history.png"))
    creds = Path(args["home"]) / "clinic.json"
    data = json.loads(creds.read_text())
    creds.write_text(json.dumps({**data, "dsn": f"host={args['nowhere']} dbname=clinic "
                                 "user=x"}))
    app.syncer.kick()
    yield from until(lambda: "not reachable" in app.clinic_text, WAIT_S)
    app.root.current = "procedure"
    yield 0.5
    out["procedure_unreachable"] = line_on(app, "procedure")
    shot(app, str(shots / "sync_unreachable.png"))
    return out


def syncer(home: Path) -> dict:
    from app.clinic.background import Syncer

    return {"syncer": Syncer(home / "logbook.db", every_s=3600)}


if __name__ == "__main__":
    run({"sync": sync}, lambda home, args: seed(home, history=True), syncer)
