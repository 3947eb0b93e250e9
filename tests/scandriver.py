"""Drives the real app to the vial form and scans two labels into it as a keyboard-wedge
scanner would: one character at a time into the focused field, then Enter; and a bracketed
string arriving in one piece. `python -m tests.scandriver scan '{json args}'` prints
`RESULT {json}`; tests/test_ui_scan.py starts it under Xvfb (displays :120 to :129)."""

from __future__ import annotations

from tests.uidriver import press_key, tap
from tests.workflowdriver import (
    TAP_GAP_S,
    into_view,
    run,
    seed,
    shot,
    start_for_okafor,
    type_into,
)


def scan_keys(field, text: str):
    """Focus the field, then each character as a key's text, then Enter (a scanner's
    suffix)."""
    from kivy.core.window import Window
    from kivy.uix.textinput import TextInput

    box = next(w for w in field.walk() if isinstance(w, TextInput))
    yield from into_view(box)
    tap(box)
    yield TAP_GAP_S
    for ch in text:
        Window.dispatch("on_textinput", ch)
        yield 0.01
    press_key(13)
    yield TAP_GAP_S


def form(setup) -> dict:
    from kivy.uix.textinput import TextInput

    ids = setup.ids
    lot_box = next(w for w in ids.lot.walk() if isinstance(w, TextInput))
    return {"lot": ids.lot.text, "expiry": ids.expiry.text, "recon": ids.recon.text,
            "lot_scrolled": lot_box.scroll_x, "lot_message": ids.lot.message,
            "expiry_message": ids.expiry.message,
            "product": setup.form.get("product"), "line": setup.vial_message}


def scan(app, args):
    sm = app.root
    out: dict = {}
    yield 1.0
    sm.current = "procedure"
    yield 0.3
    setup = sm.get_screen("procedure").ids.steps.get_screen("setup")
    ids = setup.ids
    yield from start_for_okafor(app, setup)
    out["started"] = setup.started
    # 1. The raw string, no brackets, no GS, typed by the scanner into Lot.
    yield from scan_keys(ids.lot, args["raw"])
    yield 0.3
    out["raw"] = form(setup)
    shot(app, args["shot"])
    # 2. A bracketed string landing in Expiry in one piece; its GTIN is in no list.
    yield from type_into(ids.expiry, args["bracketed"])
    yield 0.3
    out["bracketed"] = form(setup)
    # 3. Plain typing of a lot, a key at a time and Enter, still is a lot.
    yield from type_into(ids.lot, "")
    yield from scan_keys(ids.lot, "C5512")
    out["typed"] = form(setup)
    # 4. A scan landing in Diluent, a keypad field: its keys still arrive whole (the
    # keypad's digit filter is off there), Lot and Expiry fill, Diluent is as it was.
    yield from type_into(ids.lot, "")
    yield from type_into(ids.diluent, "2")
    yield from scan_keys(ids.diluent, args["raw"])
    out["in_diluent"] = {**form(setup), "diluent": ids.diluent.text,
                         "keypad": ids.diluent.keypad}
    return out


if __name__ == "__main__":
    run({"scan": scan}, lambda home, args: seed(home, history=True))
