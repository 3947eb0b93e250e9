"""The clinic sync's line in the real app (tests/test_ui_sync.py): a tablet joined to a
throwaway PostgreSQL, its syncer started with the app; the procedure and history screens
read once its first round got through, and again once the server cannot be reached (its
clinic.json pointed at a folder with no server, then a signature-like kick). A screenshot
of each. The `away` scenario: a tablet holding another room's procedure pulled without its
EMG, its server out of reach and its last pull two hours old (the app's clock moved on by
libfaketime): a new procedure for that room's patient shows the dose check's note on the
entry screen, and the pulled snippet reads "EMG on the clinic server" in history.
`python -m tests.syncdriver sync|away '{json args}'` prints `RESULT {json}`."""

from __future__ import annotations

import datetime
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
    yield from signed_in_on_procedure(app)
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


def signed_in_on_procedure(app):
    app.root.current = "procedure"
    yield 0.3
    choose_user(app, "nurse")
    yield 0.1
    yield from pin(app, NURSE_PIN)


def away(app, args):
    out = {}
    shots = Path(args["shots"])
    yield from signed_in_on_procedure(app)
    yield from until(lambda: "not reachable" in app.clinic_text, WAIT_S)
    screen = app.root.get_screen("procedure")
    flow, ids = screen.flow, args["ids"]
    flow.patient = app.lb.patient(args["patient_id"])  # pulled from the other room
    flow.start({"kind": "botulinum", "indication": "cervical dystonia",
                "physician_id": ids["physician"], "pain_before": "5", "timeout_identity": 1,
                "timeout_consent": 1, "timeout_side": 1}, ids["nurse"])
    made = datetime.datetime.now().astimezone() - datetime.timedelta(minutes=10)
    flow.add_vial({"product": "onabotulinumtoxinA", "vial_units": "100", "diluent_ml": "2",
                   "lot": "C7731", "expiry": "2030-06",
                   "reconstituted_at": made.strftime("%H:%M")}, ids["nurse"])
    entry = flow.new_entry(ids["nurse"])
    flow.set_field(entry, "muscle", "sternocleidomastoid", ids["nurse"])
    flow.set_field(entry, "side", "left", ids["nurse"])
    flow.set_field(entry, "units", "25", ids["nurse"])  # hours after the other room's
    screen.show("entry")
    panel = screen.ids.steps.get_screen("entry")
    panel.open(entry)
    yield 0.5
    out["dose_note"] = panel.dose_note
    out["warnings"] = [w["rule"] for w in flow.warnings(entry)]
    out["clinic_line"] = line_on(app, "procedure")
    shot(app, str(shots / "sync_dose_note.png"))
    app.root.current = "history"
    yield 0.3
    history = app.root.get_screen("history")
    history.open_procedure(args["procedure_id"])
    yield 0.3
    history.open_snippet(args["injection_id"])
    yield 0.5
    out["away"] = history.snippet_away
    out["snippet_text"] = history.snippet_text
    history.play()
    out["play"] = history.sound_text
    shot(app, str(shots / "sync_away.png"))
    return out


def syncer(home: Path) -> dict:
    from app.clinic.background import Syncer

    return {"syncer": Syncer(home / "logbook.db", every_s=3600, first_s=0)}


if __name__ == "__main__":
    run({"sync": sync, "away": away}, lambda home, args: seed(home, history=True), syncer)
