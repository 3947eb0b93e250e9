"""Five sessions over eight months for one patient (issue 29, "how it is checked"), every
one of them made through the real app by taps and keys, one app run per visit on the same
logbook: BOTOX three times then DYSPORT twice, biceps, brachialis and flexor digitorum
superficialis, Modified Ashworth at each visit, one amendment. The app stamps the present
time, so tests/test_ui_outcomes.py starts the four earlier visits under libfaketime (Debian's
`faketime`, the realtime clock only) at their past dates; the app's code is not told.

A visit (`visit`, and the start of `outcomes`): the physician signs in, sets up (the patient
added on screen at the first visit, found by name after), a vial, three marks from the live
screen and their entries, pain before and after tapped, End, the warnings overridden with a
reason, the signature, Ashworth per muscle tapped on the close step; at the second visit an
amendment after the signature (70 U recorded, 60 U given) on the close step's amendment
panel. Today's (`outcomes`, at the real time) also corrects a grade and sets a goal, then in
History taps the fourth session's follow-up pain (4, then 3: a correction) and Ashworth,
rates today's goal, and reads the patient's charts and change lines; then, with
`read_tag`, reads the history back as `read` does (in its own run, the other orientation).
`python -m tests.outcomesdriver visit|outcomes '{json args}'` prints `RESULT {json}`."""

from __future__ import annotations

from pathlib import Path

from tests.uidriver import find
from tests.workflowdriver import (
    DOC_PIN,
    TAP_GAP_S,
    button,
    choose_user,
    into_view,
    new_patient,
    pin,
    pin_checked,
    run,
    seed,
    touch,
    type_into,
)

# (days ago, product button, vial units, diluent mL, lot, [(muscle, units, Ashworth at the
# visit)]); the fifth is today's, its biceps grade tapped 3 then corrected to 2
SESSIONS = [
    (240, "BOTOX", "200", "4", "L240", [("Biceps brachii", "60", "3"), ("Brachialis", "40", "3"),
                                        ("Flexor digitorum superficialis", "30", "2")]),
    (180, "BOTOX", "200", "4", "L180", [("Biceps brachii", "70", "2"), ("Brachialis", "40", "2"),
                                        ("Flexor digitorum superficialis", "30", "2")]),
    (120, "BOTOX", "200", "4", "L120", [("Biceps brachii", "80", "2"), ("Brachialis", "50", "2"),
                                        ("Flexor digitorum superficialis", "30", "1+")]),
    (60, "DYSPORT", "500", "2.5", "L060", [("Biceps brachii", "250", "3"),
                                           ("Brachialis", "150", "2"),
                                           ("Flexor digitorum superficialis", "100", "1+")]),
    (0, "DYSPORT", "500", "2.5", "D7741", [("Biceps brachii", "200", "3"),
                                           ("Brachialis", "150", "1+"),
                                           ("Flexor digitorum superficialis", "100", "1")]),
]
AMENDED = 1  # the second visit: 70 U recorded in the biceps, 60 U given
REASON = "eight-week cycle agreed"


def _sign_in(app):
    """The physician signs in on the Procedure screen, by PIN."""
    yield 1.0
    app.root.current = "procedure"
    yield 0.3
    choose_user(app, "physician")
    yield TAP_GAP_S
    yield from pin(app, DOC_PIN)
    yield 0.3


def _patient_page(app):
    """From the Procedure screen to History and the patient's page; gives the screen."""
    yield from touch(find(app.root.get_screen("procedure"), "Choice", "History"))
    yield 0.3
    hist = app.root.get_screen("history")
    hist.reload()
    yield 0.2
    yield from touch(next(w for w in hist.ids.list.walk()
                          if type(w).__name__ == "HistRow" and w.row_kind == "patient"))
    yield 0.5
    return hist


def _visit(app, k: int, out: dict):
    """Visit `k` of SESSIONS made on screen, as the physician; leaves the close step shown."""
    from tests.clinicdriver import keys, mark_on_live, muscle

    _days, product, strength, diluent, lot, plan = SESSIONS[k]
    sm = app.root
    yield from _sign_in(app)
    proc = sm.get_screen("procedure")
    flow = proc.flow
    setup = proc.ids.steps.get_screen("setup")
    if k == 0:
        yield from new_patient(setup, "MRN-5005", "Moreau", "Ines", "1956-02-11", "66")
    else:
        yield from type_into(setup.ids.search, "Moreau")
        yield 0.3
        yield from touch(setup.ids.results.children[-1])
    yield from touch(button(setup, "Botulinum"))
    yield from type_into(setup.ids.indication, "post-stroke upper limb spasticity")
    for b in setup.ids.physicians.children:
        yield from touch(b)
    taps = next(w for w in setup.walk() if type(w).__name__ == "PainTaps")
    yield from touch(find(taps, "NpPick", str(7 - k)))  # pain now, tapped
    out["pain_before_field"] = setup.ids.pain.text
    for t in ("Identity", "Consent", "Side & site"):
        yield from touch(button(setup, t))
    yield from touch(button(setup, "Start procedure"))
    yield from touch(button(setup, product))
    yield from type_into(setup.ids.strength, strength)
    yield from type_into(setup.ids.diluent, diluent)
    yield from type_into(setup.ids.lot, lot)
    yield from type_into(setup.ids.expiry, "2030-06")
    yield from touch(button(setup, "Add vial"))
    entry = proc.ids.steps.get_screen("entry")
    for n, (name, units, _grade) in enumerate(plan):
        yield from mark_on_live(app, 5.5 + 3 * n, n + 1)
        yield from muscle(entry, name, "Left")
        yield from keys(entry.ids.units, units)
        yield from keys(entry.ids.site, "1")
    yield from touch(button(entry, "Close"))
    close = proc.ids.steps.get_screen("close")
    yield from touch(find(close.ids.pain_taps, "NpPick", str(4 - k // 2)))
    out["pain_after_field"] = close.ids.pain_after.text
    yield from touch(button(close, "End procedure"))
    out["end_message"] = close.end_message
    out["overridden"] = []
    while close.ids.open_warnings.children and len(out["overridden"]) < 6:
        row = close.ids.open_warnings.children[-1]  # the list is made anew after each
        out["overridden"].append(row.message)
        yield from type_into(row.ids.reason, REASON)
        yield from touch(button(row, "Override"))
        yield 0.2
    yield from type_into(close.ids.sign_pin, DOC_PIN)
    yield from touch(button(close, "Sign procedure"))
    yield from pin_checked(lambda: close.sign_message)
    out["signed"], out["sign_message"] = close.signed, close.sign_message
    out["procedure"] = flow.procedure["id"]
    out["started_at"] = flow.procedure["started_at"]
    visit = close.ids.outcomes
    for name, _units, grade in plan:
        title = f"Modified Ashworth, {name} left"
        yield from _tap_choice(visit, title, grade)
        if k == len(SESSIONS) - 1 and name == "Biceps brachii":
            yield from _tap_choice(visit, title, "2")  # corrected
    if k == AMENDED:
        yield from keys(close.ids.amend_n, "1")
        yield from keys(close.ids.amend_units, "60")
        out["amend_preview"] = close.amend_preview_text
        yield from type_into(close.ids.amend_reason, "60 U given, 70 U recorded in error")
        yield from type_into(close.ids.amend_pin, DOC_PIN)
        yield from touch(button(close, "Save amendment"))
        yield from pin_checked(lambda: close.amend_message)
        out["amend_message"] = close.amend_message
    return close


def visit(app, args):
    """One earlier visit (args["k"]), as the app stamps it: at the clock's time."""
    out: dict = {}
    close = yield from _visit(app, args["k"], out)
    out["visit_rows"] = _said(close.ids.outcomes)
    out["visit_message"] = close.ids.outcomes.message
    return out


def _row(panel, title: str):
    """The choices under the row whose words start with `title`."""
    kids = list(reversed(panel.children))
    for n, w in enumerate(kids):
        if getattr(w, "text", "").startswith(title):
            return kids[n + 1]
    raise LookupError(title)


def _said(panel) -> list[str]:
    """Each row's words as shown: its scale, its value now and what it corrected."""
    return [w.text for w in reversed(panel.children)
            if type(w).__name__ == "NpWords" and ":" in w.text]


def _tap_choice(panel, title: str, choice: str):
    yield from touch(find(_row(panel, title), "NpPick", choice))
    yield 0.2


def outcomes(app, args):
    from app.ui.close import ClosePanel
    from app.ui.history import HistoryScreen
    from tests.clinicdriver import Timed

    timed = Timed()  # how long each tap's save and redraw held the UI thread (reported only)
    for cls in (ClosePanel, HistoryScreen):
        timed.wrap(cls, "pick_outcome")
        timed.wrap(cls, "set_goal")
    out: dict = {}
    close = yield from _visit(app, len(SESSIONS) - 1, out)  # today's session, on screen
    visit = close.ids.outcomes
    goal = next(w for w in visit.walk() if type(w).__name__ == "NpInput")
    yield from type_into(goal, "holds a cup with the left hand")
    yield from touch(next(w for w in visit.walk() if getattr(w, "text", "").startswith("-1 ")))
    out["visit_rows"] = _said(close.ids.outcomes)
    out["visit_message"] = visit.message
    if args.get("shots"):
        from tests.workflowdriver import shot

        yield 0.5
        shot(app, str(Path(args["shots"]) / "outcomes_close.png"))
    # History: the session before today, its follow-up tapped on its page
    hist = yield from _patient_page(app)
    yield from touch(list(reversed(hist.ids.timeline.children))[1])  # newest first
    yield 0.5
    follow = hist.ids.outcomes_followup
    yield from _tap_choice(follow, "Pain NRS", "4")
    yield from _tap_choice(follow, "Pain NRS", "3")  # corrected: one value, linked
    yield from _tap_choice(follow, "Modified Ashworth, Biceps brachii left", "2")
    yield from _tap_choice(follow, "Modified Ashworth, Brachialis left", "1+")
    out["followup_rows"] = _said(follow)
    yield from touch(button(hist, "< Back"))
    yield 0.5
    # today's: the goal set on the close step, rated at follow-up
    yield from touch(list(reversed(hist.ids.timeline.children))[0])
    yield 0.5
    yield from _tap_choice(hist.ids.outcomes_followup, "Goal: holds a cup with the left hand",
                           "+1")
    out["today_detail_visit"] = _said(hist.ids.outcomes_visit)
    yield from touch(button(hist, "< Back"))
    yield 0.5
    out["commit_ms"] = timed.ms
    charts = [w for w in hist.ids.charts.children if type(w).__name__ == "ChartCard"]
    out["changes"] = {c.title: c.change for c in charts}
    out["strips"] = {c.title: [s["label"] for s in c.strips] for c in charts}
    out["grades"] = {c.title: next((s["values"] for s in c.strips if s["kind"] == "grade"),
                                   None) for c in charts}
    if args.get("shots"):
        from tests.workflowdriver import shot

        shot(app, str(Path(args["shots"]) / "outcomes_patient_today.png"))
    if args.get("read_tag"):  # read back here, in this run's orientation
        out["read"] = yield from _read_back(app, hist, Path(args["shots"]), args["read_tag"])
    return out


def read(app, args):
    """The history as a physician reads it in a run of its own (another orientation): the
    patient's page, then the amended session's detail (_read_back)."""
    yield from _sign_in(app)
    hist = yield from _patient_page(app)
    return (yield from _read_back(app, hist, Path(args["shots"]), args["tag"]))


def _read_back(app, hist, shots: Path, tag: str):
    """From the patient's page: its change lines, then the amended session's detail, each
    shot into `shots` as outcomes_patient_<tag>.png and outcomes_detail_<tag>.png."""
    from tests.workflowdriver import shot

    out: dict = {}
    yield 0.5
    charts = [w for w in hist.ids.charts.children if type(w).__name__ == "ChartCard"]
    out["changes"] = {c.title: c.change for c in charts}
    shot(app, str(shots / f"outcomes_patient_{tag}.png"))
    yield from touch(list(reversed(hist.ids.timeline.children))[len(SESSIONS) - 1 - AMENDED])
    yield 1.0
    # it opens at its top, whatever the detail read before it was scrolled to
    out["detail_at_top"] = hist.ids.detail_scroll.scroll_y == 1
    out["detail_title"] = hist.detail_title
    out["detail_text"] = hist.detail_text
    out["detail_record"] = hist.ids.record_lines.text
    shot(app, str(shots / f"outcomes_detail_{tag}.png"))
    yield from into_view(hist.ids.record_lines)  # the whole record, before the outcomes
    yield 0.5
    shot(app, str(shots / f"outcomes_record_{tag}.png"))
    return out


SCENARIOS = {"visit": visit, "outcomes": outcomes, "read": read}


if __name__ == "__main__":
    run(SCENARIOS, lambda home, _args: seed(home))
