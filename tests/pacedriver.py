"""The nurse's pace, by taps in the real app: after each mark, the taps from the entry
opening to a complete injection (muscle, side, units) with the vial in use, counted, with
no keyboard: a muscle in last time's plan ("as last time"), one that is not (region,
muscle, side, a quick-pick dose), and a plan muscle picked from the list.
`python -m tests.pacedriver pace '{json args}'` prints `RESULT {json}`;
tests/test_ui_pace.py starts it under Xvfb."""

from __future__ import annotations

from pathlib import Path

from tests.uidriver import find, press_key
from tests.workflowdriver import (
    button,
    emg_seconds,
    run,
    seed,
    shot,
    start_for_okafor,
    touch,
    type_into,
    until,
)


class Taps:
    """Counts the person's taps on the entry screen."""

    def __init__(self):
        self.n = 0

    def __call__(self, widget):
        self.n += 1
        yield from touch(widget)


def _set_up(app, setup):
    """The procedure for the patient with a signed history, and a BOTOX vial."""
    yield from start_for_okafor(app, setup)
    yield from touch(button(setup, "BOTOX"))
    yield from type_into(setup.ids.diluent, "2")
    yield from type_into(setup.ids.lot, "C77")
    yield from type_into(setup.ids.expiry, "2030-06")
    yield from touch(button(setup, "Add vial"))


def _clear_of_keyboard(field, name: str, out: dict, shots):
    """Tap a text field as a person would: where it ends up, in the window's upper half
    (an on-screen keyboard covers at most the lower half)."""
    from kivy.core.window import Window

    box = field.ids.input if hasattr(field, "ids") and "input" in field.ids else field
    yield from touch(box)
    yield 0.3
    bottom = box.to_window(box.x, box.y)[1]
    out.setdefault("text_fields", {})[name] = {
        "focus": box.focus, "bottom_share": round(bottom / Window.height, 2),
        "top_share": round(box.to_window(box.x, box.top)[1] / Window.height, 2)}
    if shots:
        shot(None, str(shots / f"pace_typing_{name}.png"))
    box.focus = False
    yield 0.3


def _mark(app, flow, n: int):
    """The physician's pedal: a mark whose entry opens by itself once its 2 s are in."""
    press_key(32)
    yield from until(lambda: len(flow.entries) >= n)
    yield 0.3


def _keyboard_used(root) -> bool:
    from kivy.uix.textinput import TextInput

    return any(w.focus for w in root.walk() if isinstance(w, TextInput))


def _record(flow, entry) -> dict:
    inj = flow.lb.row("injections", entry.injection_id)
    return {k: inj[k] for k in ("muscle", "side", "units", "volume_ml", "vial_id",
                                "needle_gauge", "needle_length_mm")}


def pace(app, args):
    sm = app.root
    out: dict = {"paths": {}}
    shots = Path(args["shots"]) if args.get("shots") else None
    yield 1.0
    sm.current = "procedure"
    yield 0.3
    proc = sm.get_screen("procedure")
    setup = proc.ids.steps.get_screen("setup")
    yield from _set_up(app, setup)
    flow = proc.flow
    out["procedure_text"] = setup.procedure_text
    yield from _clear_of_keyboard(setup.ids.lot, "lot", out, shots)
    out["plan"] = [(p.muscle, p.side, p.per_site) for p in flow.plan]
    sm.current = "live"
    yield from until(lambda: emg_seconds(app) > 5.5)  # 5 s of EMG before the first mark
    entry = proc.ids.steps.get_screen("entry")

    def complete(name, taps, e):
        rec = _record(flow, e)
        out["paths"][name] = {"taps": taps.n, "keyboard": _keyboard_used(sm), "record": rec,
                              "complete": all(rec[k] is not None for k in
                                              ("muscle", "side", "units", "vial_id"))}

    # 1. In last time's plan: one tap on "as last time".
    yield from _mark(app, flow, 1)
    yield from touch(find(sm.get_screen("live"), "Choice", "Procedure"))
    yield 0.3
    out["opened_itself"] = entry.entry is flow.entries[-1]
    if shots:
        shot(app, str(shots / "pace_entry_plan.png"))
    # The needle, asked once: the kind's default shown; a longer one chosen for the day.
    out["needle_default"] = entry.needle_text
    yield from touch(button(entry, f"Needle {entry.needle_text}  (change)"))
    if shots:
        shot(app, str(shots / "pace_entry_needle.png"))
    yield from touch(button(entry, "50 mm"))
    yield from touch(button(entry, f"Needle {entry.needle_text}  (close)"))
    taps = Taps()
    chip = next(b for b in entry.ids.plan.children if b.item.muscle == "biceps_brachii")
    yield from taps(chip)
    complete("as last time", taps, flow.entries[-1])
    if shots:
        shot(app, str(shots / "pace_entry_as_last_time.png"))
    yield from _clear_of_keyboard(entry.ids.adverse, "adverse event", out, shots)
    # 2. Not in the plan: region, muscle, side, a quick-pick dose.
    yield from _mark(app, flow, 2)
    taps = Taps()
    yield from taps(button(entry, "Arm"))
    out["arm_muscles"] = [b.text for b in entry.ids.muscles.children[::-1]]
    out["muscles_cue"] = entry.muscles_cue
    if shots:
        shot(app, str(shots / "pace_entry_arm.png"))
    yield from taps(button(entry, "Brachioradialis"))
    yield from taps(button(entry, "Left"))
    out["quick_units"] = [b.text for b in entry.ids.quick_units.children[::-1]]
    yield from taps(entry.ids.quick_units.children[-1])
    complete("not in the plan", taps, flow.entries[-1])
    if shots:
        shot(app, str(shots / "pace_entry_quick_units.png"))
    # 3. A plan muscle picked from the list: its side comes from the plan, a dose tapped.
    yield from _mark(app, flow, 3)
    taps = Taps()
    yield from taps(button(entry, "Usual"))
    yield from taps(button(entry, "Brachialis"))
    pick = next(b for b in entry.ids.quick_units.children if b.text == "30 U")
    yield from taps(pick)
    complete("plan muscle from the list", taps, flow.entries[-1])
    out["plan_chips"] = [b.text for b in entry.ids.plan.children[::-1]]
    # 4. A dose no button offers, typed on the field's own keypad (no QWERTY keyboard).
    yield from _mark(app, flow, 4)
    taps = Taps()
    yield from taps(button(entry, "Arm"))
    yield from taps(button(entry, "Pronator teres"))
    yield from taps(button(entry, "Right"))
    units = entry.ids.units
    yield from taps(units.ids.input)
    pad = next(w for w in units.walk() if type(w).__name__ == "Keypad")
    yield 0.5  # the keypad opens and is scrolled whole into view
    out["keypad_shown"] = pad.shown and pad.height > 0
    ok = find(pad, "KeyButton", "OK")
    out["keypad_in_window"] = pad.to_window(pad.x, pad.y)[1] >= 0 and \
        ok.to_window(ok.x, ok.y)[1] >= 0
    out["keyboard_mode"] = units.ids.input.keyboard_mode
    if shots:
        shot(app, str(shots / "pace_entry_keypad.png"))
    for key in ("1", "7", ".", "5"):
        yield from taps(find(pad, "KeyButton", key))
    out["typed_before_ok"] = _record(flow, flow.entries[-1])["units"]  # nothing saved yet
    yield from taps(find(pad, "KeyButton", "OK"))
    complete("typed on the keypad", taps, flow.entries[-1])
    out["keypad_after_ok"] = pad.shown
    return out


SCENARIOS = {"pace": pace}


def main() -> None:
    run(SCENARIOS, lambda home, args: seed(home, history=True))


if __name__ == "__main__":
    main()
