"""A clinic session through the real app, tapped and typed as a nurse and a physician would
(keys one at a time, Enter to confirm): a mark pressed before anyone signs in, two BOTOX
vials of different dilutions, six injections over four muscles switching vials, an
over-limit dose overridden with the physician's PIN, a dose typed in error and corrected,
a void, a lock and sign-in in the middle, close, signature, an amendment of units after it,
and the note exported as PDF, CSV and FHIR. A screenshot at each step.
`python -m tests.clinicdriver clinic '{json args}'` prints `RESULT {json}`;
tests/test_ui_clinic.py starts it under Xvfb and checks the record and the exports."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from tests.uidriver import drive, find, press_key, tap, window
from tests.workflowdriver import (
    DOC_PIN,
    NURSE_PIN,
    TAP_GAP_S,
    button,
    choose_user,
    emg_seconds,
    into_view,
    new_patient,
    pin,
    pin_checked,
    seed,
    shot,
    touch,
    type_into,
    until,
)

ENTER = 13
KEY_GAP_S = 0.05


def keys(field, text: str, *, enter: bool = True, clear: bool = False):
    """Tap the field's input, type `text` a key at a time, then Enter: what a person does."""
    from kivy.core.window import Window
    from kivy.uix.textinput import TextInput

    box = field if isinstance(field, TextInput) else next(
        w for w in field.walk() if isinstance(w, TextInput))
    yield from into_view(box)
    tap(box)
    yield TAP_GAP_S
    if clear:
        box.select_all()
        box.delete_selection()
        yield KEY_GAP_S
    for ch in text:
        Window.dispatch("on_textinput", ch)
        yield KEY_GAP_S
    if enter:
        Window.dispatch("on_key_down", ENTER, 0, None, [])
        Window.dispatch("on_key_up", ENTER, 0)
        yield TAP_GAP_S


def mark_on_live(app, after_s: float, entries: int, pedal: bool = True):
    """To the live screen; once `after_s` of EMG have come, a mark by the pedal (or the big
    button); back on the Procedure screen when it is the record's `entries`-th injection."""
    sm = app.root
    live, proc = sm.get_screen("live"), sm.get_screen("procedure")
    yield from touch(find(proc, "Choice", "Live"))
    yield from until(lambda: emg_seconds(app) > after_s)
    if pedal:
        press_key(32)
    else:
        yield from touch(find(live, "MarkButton"))
    yield from until(lambda: len(proc.flow.entries) >= entries)
    yield 0.3
    mark_text = live.mark_text
    yield from touch(find(live, "Choice", "Procedure"))
    yield 0.3
    return mark_text


def muscle(entry, name: str, side: str):
    yield from touch(button(entry, "Arm"))
    yield from touch(button(entry, name))
    yield from touch(button(entry, side))


def vial_button(entry, lot: str):
    return next(b for b in entry.ids.vials.children if f"lot {lot}:" in b.text)


class Timed:
    """How long each commit held the UI thread (the frame it ran in waited as long)."""

    def __init__(self):
        self.ms: list[tuple[str, float]] = []

    def wrap(self, cls, name: str) -> None:
        original = getattr(cls, name)

        def timed(panel, *a, **kw):
            t0 = time.perf_counter()
            try:
                return original(panel, *a, **kw)
            finally:
                self.ms.append((name, round((time.perf_counter() - t0) * 1000, 2)))

        setattr(cls, name, timed)


def clinic(app, args):
    from app.ui.close import ClosePanel
    from app.ui.entry import EntryPanel

    timed = Timed()
    for name in ("edit", "choose_vial", "override", "_update_dose", "void"):
        timed.wrap(EntryPanel, name)
    for name in ("end", "sign", "_sign", "amend", "_amend", "amend_preview", "refresh",
                 "_fill_wasted", "_fill_warnings", "_fill_amend_who"):
        timed.wrap(ClosePanel, name)
    out_dir = Path(args["out"])
    out_dir.mkdir(parents=True, exist_ok=True)
    sm = app.root
    live = sm.get_screen("live")
    proc = sm.get_screen("procedure")
    flow = proc.flow
    res: dict = {"steps": []}

    def step(name: str) -> None:
        shot(app, str(out_dir / f"{len(res['steps']) + 1:02d}-{name}.png"))
        res["steps"].append(name)

    yield 1.0
    # 1. A mark pressed before anyone signed in and before any procedure: kept, unassigned.
    yield from until(lambda: emg_seconds(app) > 5.5)
    press_key(32)
    yield from until(lambda: len(flow.lb.pending_marks()) >= 1)
    yield 0.3
    res["early_mark_text"] = live.mark_text
    step("live-mark-before-procedure")
    # 2. The nurse signs in on the Procedure screen; the unassigned mark is shown there.
    yield from touch(find(live, "Choice", "Procedure"))
    yield 0.3
    choose_user(app, "nurse")
    yield TAP_GAP_S
    yield from pin(app, NURSE_PIN)
    yield 0.3
    res["unassigned_text"] = proc.unassigned_text
    res["unassigned_emg_s"] = len(proc.unassigned_samples) / flow.lb.pending_snippet(
        flow.unassigned()[0]["id"])["fs"]
    setup = proc.ids.steps.get_screen("setup")
    ids = setup.ids
    yield from new_patient(setup, "MRN-7731", "Haddad", "Rana", "1966-11-20", "68")
    yield from touch(button(setup, "Botulinum"))
    yield from type_into(ids.indication, "post-stroke upper limb spasticity")
    for b in ids.physicians.children:
        if "Ada" in b.text:
            yield from touch(b)
    yield from type_into(ids.pain, "6")
    for t in ("Identity", "Consent", "Side & site"):
        yield from touch(button(setup, t))
    yield from touch(button(setup, "Start procedure"))
    res["started_at"] = flow.procedure["started_at"]
    # 3. Two vials of BOTOX: 100 U in 2 mL (5 U / 0.1 mL) and 100 U in 1 mL (10 U / 0.1 mL).
    for lot, diluent in (("C4471", "2"), ("C5512", "1")):
        yield from touch(button(setup, "BOTOX"))
        yield from type_into(ids.diluent, diluent)
        yield from type_into(ids.lot, lot)
        yield from type_into(ids.expiry, "2030-06")
        yield from touch(button(setup, "Add vial"))
    res["vials_text"] = setup.vials_text
    step("setup-two-vials")
    # 4. Injection 1: the early mark, assigned here by the nurse's choice.
    yield from touch(button(proc, "Assign here"))
    yield 0.3
    entry = proc.ids.steps.get_screen("entry")
    res["entry1"] = {"number": entry.number, "findings": entry.findings_text,
                     "vial_message": entry.vial_message}
    yield from touch(vial_button(entry, "C4471"))
    yield from muscle(entry, "Biceps brachii", "Left")
    yield from keys(entry.ids.units, "20", enter=False)
    res["entry1"]["preview"] = entry.ids.units.note
    res["entry1"]["saved_before_enter"] = flow.injection(entry.entry)["units"]
    yield from keys(entry.ids.units, "", enter=True)
    yield from keys(entry.ids.site, "1")
    res["entry1"]["volume"] = entry.ids.volume.text
    res["entry1"]["vials"] = [b.text for b in entry.ids.vials.children[::-1]]
    step("entry1-assigned-mark-vial-C4471")
    # 5. Injection 2: the pedal on the live screen; brachialis by volume.
    res["mark2_text"] = yield from mark_on_live(app, 14, 2)
    yield from muscle(entry, "Brachialis", "Left")
    yield from keys(entry.ids.volume, "0.4")
    yield from keys(entry.ids.site, "1")
    res["entry2"] = {"units": entry.ids.units.text, "number": entry.number}
    step("entry2-by-volume")
    # 6. Injection 3: the big button; the stronger vial; 60 U in a biceps, over the per-site
    # limit, overridden by the physician's PIN with a reason.
    yield from mark_on_live(app, 22, 3, pedal=False)
    yield from touch(vial_button(entry, "C5512"))
    yield from muscle(entry, "Biceps brachii", "Left")
    yield from keys(entry.ids.units, "60")
    yield from keys(entry.ids.site, "2")
    res["entry3"] = {"volume": entry.ids.volume.text,
                     "warnings": [c.message for c in entry.ids.warnings.children],
                     "open_on_record": len(flow.open_warnings())}
    step("entry3-over-limit-warning")
    row = entry.ids.warnings.children[0]
    yield from type_into(row.ids.reason, "large muscle, deliberate dose")
    yield from type_into(row.ids.pin, DOC_PIN)
    yield from touch(button(row, "Override"))
    yield from pin_checked(lambda: row.error)
    res["entry3"]["overridden"] = [c.done for c in entry.ids.warnings.children]
    step("entry3-overridden")
    # 7. The nurse hands the tablet over and takes it back: lock, sign in.
    yield from touch(button(proc, "Lock  Nurse Sam Lee"))
    yield 0.3
    res["locked"] = app.access.locked
    step("locked")
    choose_user(app, "nurse")
    yield TAP_GAP_S
    yield from pin(app, NURSE_PIN)
    yield 0.3
    # 8. Injection 4: no mark; the vial in use is the last one chosen.
    yield from touch(button(entry, "+ Injection"))
    yield from muscle(entry, "Flexor carpi radialis", "Right")
    yield from keys(entry.ids.units, "30")
    yield from keys(entry.ids.site, "1")
    res["entry4"] = {"vial_chosen": [b.text for b in entry.ids.vials.children if b.chosen],
                     "volume": entry.ids.volume.text}
    step("entry4-no-mark")
    # 9. Injection 5: marked by mistake, voided.
    yield from mark_on_live(app, 30, 5)
    yield from type_into(entry.ids.void_reason, "pedal pressed by mistake")
    yield from touch(button(entry, "Void"))
    yield from touch(button(entry, "Arm"))
    yield from touch(button(entry, "Pronator teres"))
    res["entry5"] = {"voided": entry.voided, "message": entry.void_message}
    step("entry5-voided")
    # 10. Injection 6: back to the first vial; 90 U typed in error raises its warning at
    # once, and the corrected 25 U withdraws it.
    yield from mark_on_live(app, 38, 6)
    yield from touch(vial_button(entry, "C4471"))
    yield from muscle(entry, "Brachioradialis", "Left")
    yield from keys(entry.ids.units, "90")
    res["entry6"] = {"warnings_at_90": [c.message for c in entry.ids.warnings.children],
                     "open_at_90": len(flow.open_warnings())}
    step("entry6-typed-in-error")
    yield from keys(entry.ids.units, "25", clear=True)
    yield from keys(entry.ids.site, "1")
    res["entry6"]["warnings_at_25"] = [c.message for c in entry.ids.warnings.children]
    res["entry6"]["volume"] = entry.ids.volume.text
    res["totals"] = [t for t, _c in entry.totals]
    step("entry6-corrected")
    # 11. Close and sign: the nurse ends it, the physician's PIN signs.
    yield from touch(button(entry, "Close"))
    close = proc.ids.steps.get_screen("close")
    yield from keys(close.ids.pain_after, "3")
    yield from touch(button(close, "End procedure"))
    res["end_message"] = close.end_message
    yield from type_into(close.ids.sign_pin, DOC_PIN)
    yield from touch(button(close, "Sign procedure"))
    yield from pin_checked(lambda: close.sign_message)
    res["signed"] = close.signed
    step("signed")
    # 12. An amendment after the signature: injection 1 was 25 U, not 20.
    yield from keys(close.ids.amend_n, "1")
    yield from keys(close.ids.amend_units, "25")
    res["amend_preview"] = close.amend_preview_text
    res["amend_who"] = [b.text for b in close.ids.amend_who.children[::-1]]
    yield from type_into(close.ids.amend_reason, "25 U given, 20 U written")
    yield from type_into(close.ids.amend_pin, "0000")
    yield from touch(button(close, "Save amendment"))
    yield from pin_checked(lambda: close.amend_message)
    res["amend_wrong_pin"] = close.amend_message
    step("amend-preview")
    yield from type_into(close.ids.amend_pin, DOC_PIN)
    yield from touch(button(close, "Save amendment"))
    yield from pin_checked(lambda: close.amend_message)
    res["amend_message"] = close.amend_message
    res["summary_after_amend"] = close.summary_text
    step("amended")
    # 13. The note: PDF, CSV, FHIR.
    from app.workflow.printer import SENDING

    exports = {}
    for label, kind in (("Print (PDF)", "pdf"), ("CSV", "csv"), ("FHIR", "fhir")):
        yield from touch(button(close, label))
        yield from until(lambda: close.export_message != SENDING)  # Print's thread answered
        exports[kind] = close.export_message
    res["exports"] = exports
    # 14. Lot recall on the History screen: who received lot C5512?
    yield from touch(find(proc, "Choice", "History"))
    hist = app.root.get_screen("history")
    yield from touch(button(hist, "Lot recall"))
    yield from type_into(hist.ids.search, " c5512")
    yield 0.3
    res["recall"] = {"note": hist.note, "rows": [r["text"] for r in hist.rows]}
    step("history-lot-recall")
    # 15. The procedure's detail from the recall: the whole record as it now reads.
    rows = [w for w in hist.ids.list.children[0].children if hasattr(w, "row_id")]
    yield from touch(rows[-1])
    yield 0.3
    res["detail_record"] = hist.ids.record_lines.text  # the whole record as it now reads
    step("history-procedure-detail")
    res["procedure_id"] = flow.procedure["id"]
    res["commit_ms"] = timed.ms
    return res


SCENARIOS = {"clinic": clinic}


def main() -> None:
    name, args = sys.argv[1], json.loads(sys.argv[2])
    home = Path(args["home"])
    window(home, args.get("size", "1280x800"))
    ids = seed(home, history=False)
    from app.ui.main import NeedlepointApp

    app = NeedlepointApp(args.get("device", "sim:endplate?seed=4"),
                         sound=False, remember=False)
    drive(app, SCENARIOS[name](app, {**args, "ids": ids}))


if __name__ == "__main__":
    main()
