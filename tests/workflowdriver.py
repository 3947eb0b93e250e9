"""Drives the real app through the nurse and physician workflow in a child process, as a
person would: touches at widgets' centres, text typed into fields, key presses.
`python -m tests.workflowdriver SCENARIO '{json args}'` prints `RESULT {json}`.
tests/test_ui_workflow.py starts it under Xvfb (displays :71 to :89)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from tests.uidriver import drive, find, press_key, sleep_under_faketime, tap, window

DOC_PIN, NURSE_PIN = "1357", "2468"


def seed(home: Path, history: bool = False) -> dict:
    """Users (and with `history`, an earlier signed session) in the logbook the app opens."""
    from app.logbook import Logbook

    with Logbook(home / "logbook.db") as lb:
        if lb.users():
            return {u["role"]: u["id"] for u in lb.users()}
        doc = lb.add_user({"name": "Dr Ada Reyes", "role": "physician", "pin": DOC_PIN})
        nurse = lb.add_user({"name": "Nurse Sam Lee", "role": "nurse", "pin": NURSE_PIN},
                            by=doc["id"])
        if history:
            _earlier(lb, doc["id"], nurse["id"])
        return {"physician": doc["id"], "nurse": nurse["id"]}


def _earlier(lb, doc: str, nurse: str) -> None:
    import datetime

    pt = lb.add_patient({"mrn": "MRN1001", "family_name": "Okafor", "given_name": "Grace",
                         "birth_date": "1958-03-02", "weight_kg": 71}, by=nurse)
    for n, days in enumerate((200, 110)):
        at = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=days)
        proc = lb.start_procedure({"patient_id": pt["id"], "kind": "botulinum",
                                   "indication": "upper limb spasticity", "physician_id": doc,
                                   "nurse_id": nurse, "pain_before": 7 - n,
                                   "started_at": at, "timeout": {"identity": True,
                                                                 "consent": True,
                                                                 "side": True}}, by=nurse)
        vial = lb.add_vial(proc["id"], {"product": "onabotulinumtoxinA", "vial_units": 100,
                                        "diluent_ml": 2, "lot": "C4411", "expiry": "2030-01",
                                        "reconstituted_at": at}, by=nurse)
        for muscle, units in (("biceps_brachii", 40 - 10 * n), ("brachialis", 30)):
            lb.log_injection(proc["id"], {"vial_id": vial["id"], "muscle": muscle,
                                          "side": "left", "site": 1, "units": units,
                                          "at": at, "guidance": "emg",
                                          "emg_findings": {"rms_uv": 60.0 - 20 * n,
                                                           "end_plate_noise_per_s": 30 - 5 * n,
                                                           "tonic_activity": n == 0}}, nurse)
        lb.end_procedure(proc["id"], nurse, pain_after=4 - n, at=at)
        lb.sign_off(proc["id"], doc)


# -- touching and typing ---------------------------------------------------------------------

def until(ready, limit: float = 60.0, step: float = 0.1):
    """Wait until `ready()` (device time, a mark's completion: never a wall-clock guess of
    them, which a loaded machine breaks); `limit` only guards against a hang."""
    waited = 0.0
    while not ready() and waited < limit:
        yield step
        waited += step


def emg_seconds(app) -> float:
    """Seconds of EMG the live session has taken from its device."""
    session = app.session
    return session.display.written / session.info.fs if session is not None else 0.0


def type_into(field, text: str):
    """Focus the field's input and set its text, as the on-screen keyboard would."""
    from kivy.uix.textinput import TextInput

    box = field if isinstance(field, TextInput) else next(
        w for w in field.walk() if isinstance(w, TextInput))
    yield from into_view(box)
    tap(box)
    yield TAP_GAP_S
    box.text = text
    box.focus = False
    yield TAP_GAP_S


def touch(widget):
    """Scroll the widget into view if it sits in a ScrollView, then tap its centre."""
    yield from into_view(widget)
    tap(widget)
    yield TAP_GAP_S


def into_view(widget):
    node = widget.parent
    while node is not None and node is not node.parent:
        if type(node).__name__ == "ScrollView":
            node.scroll_to(widget, padding=10, animate=False)
            yield TAP_GAP_S
            return
        node = node.parent


TAP_GAP_S = 0.06  # a person's taps are frames apart; two in one frame can be lost


def pin(app, digits: str):
    pad = app.lock.ids.pad
    for d in digits:
        tap(find(pad, "Button", d))
        yield TAP_GAP_S
    tap(find(pad, "Button", "OK"))
    yield from pin_checked(lambda: pad.message)


def choose_user(app, role: str) -> None:
    pad = app.lock.ids.pad
    for b in pad.ids.who.children:
        if f"({role})" in b.text:
            tap(b)
            return
    raise LookupError(role)


def pin_checked(said):
    """Wait out a PIN's check (on a thread of its own: Access.check_later) until `said()`,
    the words it leaves on screen, are its verdict."""
    from app.ui.forms import PinGate

    yield TAP_GAP_S
    yield from until(lambda: said() != PinGate.CHECKING)


def start_for_okafor(app, setup):
    """As the nurse: sign in, pick the seeded patient with a signed history (Okafor), and
    start a botulinum procedure with the time-out done; no vial yet."""
    choose_user(app, "nurse")
    yield TAP_GAP_S
    yield from pin(app, NURSE_PIN)
    yield from type_into(setup.ids.search, "Oka")
    yield 0.3
    yield from touch(setup.ids.results.children[-1])
    yield from touch(button(setup, "Botulinum"))
    yield from type_into(setup.ids.indication, "upper limb spasticity")
    yield from type_into(setup.ids.pain, "6")
    for b in setup.ids.physicians.children:
        yield from touch(b)
    for t in ("Identity", "Consent", "Side & site", "Start procedure"):
        yield from touch(button(setup, t))
    yield 0.3


def new_patient(setup, mrn: str, family: str, given: str, born: str, weight: str):
    ids = setup.ids
    for field, text in ((ids.mrn, mrn), (ids.family, family), (ids.given, given),
                        (ids.born, born), (ids.new_weight, weight)):
        yield from type_into(field, text)
    yield from touch(button(setup, "Add patient"))


def button(root, text: str):
    for w in root.walk():
        if getattr(w, "text", None) == text and hasattr(w, "trigger_action"):
            return w
    raise LookupError(f"no button {text!r}")


def shot(app, path: str) -> None:
    from kivy.core.window import Window

    written = Window.screenshot(path)  # writes name0001.png: give it the name asked for
    if written:
        os.replace(written, path)


# -- scenarios -----------------------------------------------------------------------------

def shots(app, args):
    """Every workflow screen in this orientation, as PNGs, with what is cut off or small."""
    from kivy.core.window import Window

    out, tag = Path(args["out"]), args["tag"]
    sm = app.root
    yield 1.0
    sm.current = "procedure"
    yield 0.5
    shot(app, str(out / f"workflow_lock_{tag}.png"))
    choose_user(app, "nurse")
    yield TAP_GAP_S
    yield from pin(app, NURSE_PIN)
    yield 0.5
    assert app.lock.parent is None, (app.access.user, app.lock.ids.pad.message,
                                     app.lock.ids.pad.chosen)
    proc = sm.get_screen("procedure")
    setup = proc.ids.steps.get_screen("setup")
    yield from type_into(setup.ids.search, "Oka")
    yield 0.3
    yield from touch(setup.ids.results.children[-1])
    yield 0.3
    yield from type_into(setup.ids.indication, "upper limb spasticity")
    yield from type_into(setup.ids.pain, "six")
    yield from touch(button(setup, "Botulinum"))
    for b in setup.ids.physicians.children:
        yield from touch(b)
    yield from touch(button(setup, "Identity"))
    yield from touch(button(setup, "Start procedure"))
    yield 0.5
    shot(app, str(out / f"workflow_setup_{tag}.png"))
    problems = {"setup": check_tree(proc)}
    yield from type_into(setup.ids.pain, "6")
    yield from touch(button(setup, "Consent"))
    yield from touch(button(setup, "Side & site"))
    yield from touch(button(setup, "Start procedure"))
    yield 0.3
    yield from touch(button(setup, "BOTOX"))
    yield from type_into(setup.ids.diluent, "2")
    yield from type_into(setup.ids.lot, "C77")
    yield from type_into(setup.ids.expiry, "2020-01")
    yield 0.3
    shot(app, str(out / f"workflow_vials_{tag}.png"))
    yield from type_into(setup.ids.expiry, "2030-06")
    yield from touch(button(setup, "Add vial"))
    sm.current = "live"
    yield from until(lambda: emg_seconds(app) > 5.5)  # 5 s of EMG before the press
    press_key(32)
    yield from until(lambda: len(proc.flow.entries) >= 1)  # its 2 s after, then kept
    sm.current = "procedure"
    yield 0.5
    entry = proc.ids.steps.get_screen("entry")
    yield from touch(entry.ids.muscles.children[-1])
    yield from touch(button(entry, "Left"))
    yield from type_into(entry.ids.units, "-5x")
    yield 0.3
    yield from type_into(entry.ids.volume, "-1")
    yield from type_into(entry.ids.units, "60")
    yield 0.5
    shot(app, str(out / f"workflow_entry_{tag}.png"))
    problems["entry"] = check_tree(proc)
    yield from touch(button(entry, "Close"))
    yield 0.5
    shot(app, str(out / f"workflow_close_{tag}.png"))
    problems["close"] = check_tree(proc)
    sm.current = "history"
    yield 0.5
    hist = sm.get_screen("history")
    shot(app, str(out / f"workflow_history_{tag}.png"))
    problems["history"] = check_tree(hist)
    hist.open_patient(hist.rows[0]["row_id"])
    yield 0.5
    shot(app, str(out / f"workflow_patient_{tag}.png"))
    problems["patient"] = check_tree(hist)
    tl = hist.ids.timeline.children
    yield from touch(tl[0])
    yield 0.3
    hist.open_procedure(proc.flow.procedure["id"])
    yield 0.3
    inj = [b for b in hist.ids.injections.children
           if hasattr(b, "injection_id") and "EMG" in b.text]
    if inj:
        yield from touch(inj[-1])
    yield 0.3
    yield from touch(button(hist, "Play"))
    yield 1.0
    shot(app, str(out / f"workflow_detail_{tag}.png"))
    problems["detail"] = check_tree(hist)
    return {"problems": problems, "size": [Window.width, Window.height],
            "sound": hist.sound_text}


def check_tree(screen) -> dict:
    """Buttons and inputs under 48 dp, and shown widgets outside the window."""
    from kivy.core.window import Window
    from kivy.metrics import dp
    from kivy.uix.button import Button
    from kivy.uix.textinput import TextInput

    from tests.uidriver import _shown

    small, outside = [], []
    for w in screen.walk(restrict=True):
        if not _shown(w):
            continue
        if isinstance(w, Button | TextInput) and (w.width < dp(48) - 0.5
                                                  or w.height < dp(48) - 0.5):
            small.append(f"{type(w).__name__} {getattr(w, 'text', '')[:30]!r} "
                         f"{w.width:.0f}x{w.height:.0f}")
        x0, y0 = w.to_window(w.x, w.y)
        if _in_scroll(w):
            continue
        if (x0 < -0.5 or y0 < -0.5 or x0 + w.width > Window.width + 0.5
                or y0 + w.height > Window.height + 0.5):
            outside.append(f"{type(w).__name__} {getattr(w, 'text', '')[:30]!r} at "
                           f"{x0:.0f},{y0:.0f} {w.width:.0f}x{w.height:.0f}")
    return {"small": small, "outside": outside}


def _in_scroll(w) -> bool:
    node = w.parent
    while node is not None and node is not node.parent:
        if type(node).__name__ in ("ScrollView", "RecycleView"):
            return True
        node = node.parent
    return False


def workflow(app, args):
    """The whole session by touch and keys: sign in, set up (with bad input first), three
    marks from the live screen (pedal, button, pedal), each entry completed, a dose warning
    overridden with a reason and the physician's PIN, the idle lock with a mark made while
    locked, close, sign, then the procedure found in history and a snippet opened."""
    from kivy.core.window import Window

    sm = app.root
    out: dict = {"messages": {}}
    yield 1.0
    sm.current = "procedure"
    yield 0.3
    out["locked_at_start"] = app.lock.parent is not None
    choose_user(app, "nurse")
    yield TAP_GAP_S
    yield from pin(app, "0000")
    out["wrong_pin"] = app.lock.ids.pad.message
    yield from pin(app, NURSE_PIN)
    out["signed_in"] = app.access.user["role"] if app.access.user else None
    proc = sm.get_screen("procedure")
    setup = proc.ids.steps.get_screen("setup")
    ids = setup.ids
    # A new patient, bad input first: each field says what is wrong and keeps the text.
    yield from new_patient(setup, "MRN-2024", "Lindqvist", "Maja", "2099-01-01", "sixty")
    out["messages"]["patient"] = {"born": ids.born.message, "weight": ids.new_weight.message,
                                  "kept": [ids.born.text, ids.new_weight.text]}
    yield from type_into(ids.born, "1970-04-09")
    yield from type_into(ids.new_weight, "64")
    yield from touch(button(setup, "Add patient"))
    out["patient"] = setup.patient_text
    yield from touch(button(setup, "Botulinum"))
    yield from type_into(ids.indication, "post-stroke upper limb spasticity")
    for b in ids.physicians.children:
        yield from touch(b)
    yield from type_into(ids.pain, "11")
    for t in ("Identity", "Consent", "Side & site"):
        yield from touch(button(setup, t))
    yield from touch(button(setup, "Start procedure"))
    out["messages"]["pain"] = ids.pain.message
    yield from type_into(ids.pain, "6")
    yield from touch(button(setup, "[x] Identity" if False else "Start procedure"))
    out["started"] = proc.flow.procedure is not None
    yield from touch(button(setup, "BOTOX"))
    yield from type_into(ids.diluent, "-2")
    yield from type_into(ids.lot, "C4471")
    yield from type_into(ids.expiry, "(17)200131")
    out["messages"]["expiry"] = ids.expiry.message
    yield from touch(button(setup, "Add vial"))
    out["messages"]["diluent"] = ids.diluent.message
    # 130 U go into this session: a 200 U vial (a 100 U one would be overdrawn, and warn)
    yield from type_into(ids.strength, "200")
    yield from type_into(ids.diluent, "4")
    yield from type_into(ids.expiry, "2030-06")
    out["per_tenth"] = setup.per_tenth
    yield from touch(button(setup, "Add vial"))
    out["vials"] = len(proc.flow.vials)
    # Three marks from the live screen: the pedal (space), the big button, the pedal (enter).
    yield from touch(find(sm.get_screen("live"), "Choice", "Live"))
    out["on_live"] = sm.current
    yield from until(lambda: emg_seconds(app) > 5.5)  # 5 s of EMG before the first press
    press_key(32)
    yield 1.2
    yield from touch(find(sm.get_screen("live"), "MarkButton"))
    yield 1.2
    press_key(13)
    yield from until(lambda: len(proc.flow.entries) >= 3)
    out["entries_after_marks"] = len(proc.flow.entries)
    yield from touch(find(sm.get_screen("live"), "Choice", "Procedure"))
    entry = proc.ids.steps.get_screen("entry")
    out["entry_findings"] = entry.findings_text
    plan = [("Biceps brachii", "Left", "60", None), ("Brachialis", "Left", "abc", "0.4"),
            ("Biceps brachii", "Left", "", "0.5")]
    for n, (muscle, side, units, volume) in enumerate(plan):
        yield from touch(entry.ids.injections.children[::-1][n])
        yield from touch(button(entry, "Arm"))
        yield from touch(button(entry, muscle))
        yield from touch(button(entry, side))
        if units:
            yield from type_into(entry.ids.units, units)
        if volume:
            out["messages"][f"units{n}"] = entry.ids.units.message
            yield from type_into(entry.ids.volume, volume)
        yield from type_into(entry.ids.site, str(n + 1))
        if n == 0:
            out["warnings"] = [c.message for c in entry.ids.warnings.children]
            out["totals"] = [t for t, _c in entry.totals]
            row = [c for c in entry.ids.warnings.children if "per site" in c.message][0]
            yield from touch(button(row, "Override"))  # no reason: refused, said why
            out["messages"]["override"] = row.error
            yield from type_into(row.ids.reason, "large muscle, deliberate dose")
            yield from type_into(row.ids.pin, DOC_PIN)
            yield from touch(button(row, "Override"))
            yield from pin_checked(lambda r=row: r.error)
            out["overridden"] = [c.done for c in entry.ids.warnings.children]
    out["totals_end"] = [t for t, _c in entry.totals]
    # The idle lock: records hide, the live screen and marking carry on.
    yield from touch(find(sm.get_screen("live"), "Choice", "Live"))
    # Its 30 s floor is not waited out: the last touch is set back by the whole delay.
    app.access.last_activity -= app.access.lock_after_s
    yield from until(lambda: app.access.locked, limit=20.0)
    out["locked_by_idle"] = app.access.locked
    frames_before = sm.get_screen("live").session.ring.written
    press_key(32)
    yield from until(lambda: len(proc.flow.queued) >= 1)
    out["live_kept_running"] = sm.get_screen("live").session.ring.written > frames_before
    out["queued_while_locked"] = len(proc.flow.queued)
    app.access.lock_after_s = 600
    yield from touch(find(sm.get_screen("live"), "Choice", "Procedure"))
    out["lock_shown"] = app.lock.parent is not None
    out["lock_queue_text"] = app.lock.queued_text
    choose_user(app, "physician")
    yield TAP_GAP_S
    yield from pin(app, DOC_PIN)
    out["entries_after_lock"] = len(proc.flow.entries)
    yield from touch(button(entry, "Arm"))
    yield from touch(button(entry, "Brachioradialis"))
    yield from touch(button(entry, "Left"))
    yield from type_into(entry.ids.units, "25")
    # An injection logged by mistake, voided: struck through, and a tap changes nothing.
    yield from touch(button(entry, "+ Injection"))
    yield from type_into(entry.ids.void_reason, "logged by mistake")
    yield from touch(button(entry, "Void"))
    voided = entry.entry
    yield from touch(button(entry, "Arm"))
    yield from touch(button(entry, "Biceps brachii"))
    row = proc.flow.lb.row("injections", voided.injection_id)
    out["voided"] = {"struck": entry.voided, "record_voided": row["voided"],
                     "muscle": row["muscle"], "message": entry.void_message}
    # Close and sign.
    yield from touch(button(entry, "Close"))
    close = proc.ids.steps.get_screen("close")
    yield from touch(button(close, "End procedure"))
    out["messages"]["pain_after"] = close.ids.pain_after.message
    yield from type_into(close.ids.pain_after, "3")
    yield from touch(button(close, "End procedure"))
    yield from type_into(close.ids.sign_pin, NURSE_PIN)
    yield from touch(button(close, "Sign procedure"))
    yield from pin_checked(lambda: close.sign_message)
    out["messages"]["sign"] = close.sign_message
    yield from type_into(close.ids.sign_pin, DOC_PIN)
    yield from touch(button(close, "Sign procedure"))
    yield from pin_checked(lambda: close.sign_message)
    out["signed"] = close.signed
    out["summary"] = close.totals_text
    yield from touch(button(close, "Print (PDF)"))  # the PDF, then lp on a thread
    from app.workflow.printer import SENDING

    yield from until(lambda: close.export_message != SENDING)
    out["export"] = close.export_message
    # The next patient's set-up starts clean and at the top.
    yield from touch(button(close, "New procedure"))
    yield 0.3
    setup = proc.ids.steps.get_screen("setup")
    out["new_setup"] = {"typed": {k: setup.ids[k].text for k in (
        "search", "weight", "indication", "pain", "lot", "expiry", "diluent", "strength")},
        "form": dict(setup.form), "at_top": setup.children[0].scroll_y == 1,
        "patient": setup.patient_text}
    yield from touch(button(proc, "Lock  Dr Ada Reyes"))  # handing the tablet back
    out["locked_by_button"] = app.lock.parent is not None and app.access.locked
    choose_user(app, "nurse")
    yield TAP_GAP_S
    yield from pin(app, NURSE_PIN)
    out["relocked_user"] = app.access.role()
    # History: find the patient, open the procedure, open a snippet and play it.
    yield from touch(find(proc, "Choice", "History"))
    hist = sm.get_screen("history")
    yield from type_into(hist.ids.search, "Lindq")
    yield 0.3
    out["history_rows"] = [r["text"] for r in hist.rows]
    out["lock_open_in_history"] = app.lock.parent is not None
    rows = [w for w in hist.ids.list.children[0].children if hasattr(w, "row_id")]
    tap(rows[0])  # the frame after the tap: the list is gone or not drawn, never half
    page = hist.ids.pages.get_screen("list")
    out["list_drawn_under_patient"] = (hist.ids.pages.current == "patient"
                                       and page.parent is not None and page.opacity > 0)
    yield TAP_GAP_S
    out["timeline"] = [b.text for b in hist.ids.timeline.children]
    out["charts"] = [c.title for c in hist.ids.charts.children if hasattr(c, "strips")]
    yield from touch(hist.ids.timeline.children[-1])
    inj = [b for b in hist.ids.injections.children[::-1]
           if hasattr(b, "injection_id") and "EMG" in b.text]
    out["injections_with_emg"] = len(inj)
    out["emg_rows"] = [b.text for b in inj]
    yield from touch(inj[0])
    view = hist.ids.snippet
    out["snippet_drawn"] = view.samples_uv is not None and len(view.canvas.before.children) > 3
    out["snippet_text"] = hist.snippet_text
    yield from touch(button(hist, "Play"))
    yield 0.5
    out["sound"] = hist.sound_text
    out["cursor"] = view.cursor
    out["size"] = [Window.width, Window.height]
    return out


SCENARIOS = {"shots": shots, "workflow": workflow}


def main() -> None:
    run(SCENARIOS, lambda home, args: seed(home, history=args.get("history", True)))


def run(scenarios: dict, seeding, app_kw=None) -> None:
    """A driver's entry point: the window, the logbook seeded (`seeding(home, args)` gives
    the ids a scenario needs), the real app (with `app_kw(home)`'s arguments more), and the
    scenario named on the command line."""
    sleep_under_faketime()
    name, args = sys.argv[1], json.loads(sys.argv[2])
    home = Path(args["home"])
    window(home, args.get("size", "1280x800"))
    ids = seeding(home, args)
    from app.ui.main import NeedlepointApp

    app = NeedlepointApp(args.get("device", "sim:endplate?seed=4"),
                         sound=args.get("sound", False), remember=False,
                         **(app_kw(home) if app_kw else {}))
    drive(app, scenarios[name](app, {**args, "ids": ids}))


if __name__ == "__main__":
    main()
