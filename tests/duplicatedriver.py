"""A possible duplicate patient in the real app (tests/test_ui_duplicates.py): this tablet's
patient and another room's (pulled: taken into the logbook as a pull takes them, no server
needed) with one name and birth date under two MRNs. Signed in as the nurse, the patient is
found and tapped in set-up: the "Possible duplicate" line names the other MRN and its room;
the history's patient page says the same; a reason and the nurse's PIN typed, "Same person"
tapped: the decision is recorded and the line goes. A screenshot of history, and of set-up
before and after.
`python -m tests.duplicatedriver duplicate '{json args}'` prints `RESULT {json}`."""

from __future__ import annotations

from pathlib import Path

from tests.workflowdriver import (
    NURSE_PIN,
    TAP_GAP_S,
    button,
    choose_user,
    pin,
    pin_checked,
    run,
    seed,
    shot,
    touch,
    type_into,
)

ANA = {"family_name": "Lima", "given_name": "Ana", "birth_date": "1970-01-02"}


def seeded(home: Path, args: dict) -> dict:
    """The app's users, its own Ana Lima (A1) and room-2's (B7), pulled."""
    from app.logbook import Logbook, demo

    ids = seed(home)
    other = Path(args["other"])
    with Logbook(other) as lb:
        _, nurse = demo.users(lb)
        lb.add_patient({"mrn": "B7", **ANA}, by=nurse["id"])
        cur = lb.db.execute("SELECT seq, id, at, user_id, action, tbl, row_id, old, new, "
                            "reason, prev_hash, hash FROM audit ORDER BY seq")
        keys = [d[0] for d in cur.description]
        entries = [dict(zip(keys, r, strict=True)) for r in cur]
    with Logbook(home / "logbook.db") as lb:
        if lb.find_patient("A1") is None:
            lb.add_patient({"mrn": "A1", **ANA}, by=ids["nurse"])
            lb.take_pulled("room-2", entries)
        ids["patient"] = lb.find_patient("A1")["id"]
    return ids


def duplicate(app, args):
    out = {}
    shots = Path(args["shots"])
    app.root.current = "procedure"
    yield 0.3
    choose_user(app, "nurse")
    yield TAP_GAP_S
    yield from pin(app, NURSE_PIN)
    app.root.current = "history"
    yield 0.3
    history = app.root.get_screen("history")
    history.open_patient(args["ids"]["patient"])
    yield 0.3
    out["history"] = history.duplicate_text
    shot(app, str(shots / "duplicate_history.png"))
    app.root.current = "procedure"
    yield 0.3
    setup = app.root.get_screen("procedure").ids.steps.get_screen("setup")
    yield from type_into(setup.ids.search, "Lima")
    yield 0.3
    out["results"] = [b.text for b in reversed(setup.ids.results.children)]
    a1 = next(b for b in setup.ids.results.children if b.text.startswith("A1"))
    yield from touch(a1)
    yield 0.3
    out["before"] = setup.duplicate_text
    yield from type_into(setup.ids.dup_reason, "same passport seen in both rooms")
    shot(app, str(shots / "duplicate_before.png"))
    yield from type_into(setup.ids.dup_pin, NURSE_PIN)
    yield from touch(button(setup, "Same person"))
    yield from pin_checked(lambda: setup.duplicate_message)
    yield 0.3
    out["message"] = setup.duplicate_message
    out["after"] = setup.duplicate_text
    shot(app, str(shots / "duplicate_after.png"))
    return out


if __name__ == "__main__":
    run({"duplicate": duplicate}, seeded)
