"""Five sessions over eight months for one patient (issue 29, "how it is checked"), the
last one and every outcome of the last two through the real app, by taps and keys: BOTOX
three times then DYSPORT twice, biceps, brachialis and flexor digitorum superficialis,
Modified Ashworth at each visit, one amendment. The four earlier sessions are written through
the logbook API (their dates lie months back, which no screen lets anyone choose). Today's
is made on screen by the physician: set-up, a DYSPORT vial, three marks from the live
screen, each entry, pain after tapped, End, the interval warning overridden with a reason,
the signature, then on the close step Ashworth per muscle (3 corrected to 2, 1+, 1) and a
goal set with its level now. Then in History: the fourth session's follow-up pain (4, then
3: a correction), its Ashworth at follow-up, today's goal rated at follow-up, and the
patient's charts and change lines.
`python -m tests.outcomesdriver outcomes '{json args}'` prints `RESULT {json}`;
tests/test_ui_outcomes.py starts it under Xvfb."""

from __future__ import annotations

import datetime
from pathlib import Path

from tests.uidriver import find
from tests.workflowdriver import (
    DOC_PIN,
    TAP_GAP_S,
    button,
    choose_user,
    pin,
    pin_checked,
    run,
    touch,
    type_into,
)

# (days ago, product, vial units, diluent mL, [(muscle, units, Ashworth at the visit)])
SESSIONS = [
    (240, "onabotulinumtoxinA", 200, 4.0, [("biceps_brachii", 60, "3"), ("brachialis", 40, "3"),
                                          ("flexor_digitorum_superficialis", 30, "2")]),
    (180, "onabotulinumtoxinA", 200, 4.0, [("biceps_brachii", 70, "2"), ("brachialis", 40, "2"),
                                          ("flexor_digitorum_superficialis", 30, "2")]),
    (120, "onabotulinumtoxinA", 200, 4.0, [("biceps_brachii", 80, "2"), ("brachialis", 50, "2"),
                                          ("flexor_digitorum_superficialis", 30, "1+")]),
    (60, "abobotulinumtoxinA", 500, 2.5, [("biceps_brachii", 250, "3"), ("brachialis", 150, "2"),
                                         ("flexor_digitorum_superficialis", 100, "1+")]),
]
TODAY = [("Biceps brachii", "200"), ("Brachialis", "150"),
         ("Flexor digitorum superficialis", "100")]  # DYSPORT, left, made on screen


def seed(home: Path) -> dict:
    from app.logbook import Logbook

    with Logbook(home / "logbook.db") as lb:
        doc = lb.add_user({"name": "Dr Ada Reyes", "role": "physician", "pin": DOC_PIN})
        nurse = lb.add_user({"name": "Nurse Sam Lee", "role": "nurse", "pin": "2468"},
                            by=doc["id"])
        pt = lb.add_patient({"mrn": "MRN-5005", "family_name": "Moreau", "given_name": "Ines",
                             "birth_date": "1956-02-11", "weight_kg": 66}, by=nurse["id"])
        now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
        made = []
        for k, (days, product, strength, diluent, plan) in enumerate(SESSIONS):
            at = now - datetime.timedelta(days=days)
            proc = lb.start_procedure({
                "patient_id": pt["id"], "kind": "botulinum", "started_at": at,
                "indication": "post-stroke upper limb spasticity", "physician_id": doc["id"],
                "nurse_id": nurse["id"], "pain_before": 7 - k,
                "timeout": {"identity": True, "consent": True, "side": True}}, by=nurse["id"])
            vial = lb.add_vial(proc["id"], {
                "product": product, "vial_units": strength, "diluent_ml": diluent,
                "lot": f"L{days:03d}", "expiry": "2030-01", "reconstituted_at": at},
                by=nurse["id"])
            for n, (muscle, units, _grade) in enumerate(plan):
                lb.log_injection(proc["id"], {
                    "vial_id": vial["id"], "at": at + datetime.timedelta(minutes=3 + n),
                    "muscle": muscle, "side": "left", "site": 1, "units": units,
                    "guidance": "emg", "emg_findings": {"rms_uv": 150.0 - 20 * k,
                                                        "end_plate_noise_per_s": 30 - 4 * k,
                                                        "tonic_activity": k == 0}},
                    nurse["id"], overrides={"per_site_max": "divided as planned",
                                            "muscle_typical_max": "severe spasticity",
                                            "min_interval": "eight-week cycle agreed"},
                    override_by=doc["id"])
            lb.end_procedure(proc["id"], nurse["id"], pain_after=4 - k // 2,
                             at=at + datetime.timedelta(minutes=20))
            lb.sign_off(proc["id"], doc["id"])
            for muscle, _units, grade in plan:
                if grade:
                    lb.add_observation(proc["id"], {
                        "scale": "modified_ashworth", "timepoint": "before", "muscle": muscle,
                        "side": "left", "grade": grade}, doc["id"])
            if k == 1:  # the one amendment: 70 U recorded, 60 U given
                first = lb.procedure(proc["id"])["injections"][0]
                lb.amend(proc["id"], "injections", first["id"], {"units": 60},
                         "60 U given, 70 U recorded in error", doc["id"])
            made.append(proc["id"])
        return {"physician": doc["id"], "patient": pt["id"], "procedures": made}


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
    from tests.clinicdriver import Timed, keys, mark_on_live, muscle

    timed = Timed()  # how long each tap's save and redraw held the UI thread (reported only)
    for cls in (ClosePanel, HistoryScreen):
        timed.wrap(cls, "pick_outcome")
        timed.wrap(cls, "set_goal")
    sm = app.root
    out: dict = {}
    yield 1.0
    sm.current = "procedure"
    yield 0.3
    choose_user(app, "physician")
    yield TAP_GAP_S
    yield from pin(app, DOC_PIN)
    yield 0.3
    # today's session, made on screen
    proc = sm.get_screen("procedure")
    setup = proc.ids.steps.get_screen("setup")
    yield from type_into(setup.ids.search, "Moreau")
    yield 0.3
    yield from touch(setup.ids.results.children[-1])
    yield from touch(button(setup, "Botulinum"))
    yield from type_into(setup.ids.indication, "post-stroke upper limb spasticity")
    for b in setup.ids.physicians.children:
        yield from touch(b)
    taps = next(w for w in setup.walk() if type(w).__name__ == "PainTaps")
    yield from touch(find(taps, "NpPick", "3"))  # pain now, tapped
    out["pain_before_field"] = setup.ids.pain.text
    for t in ("Identity", "Consent", "Side & site"):
        yield from touch(button(setup, t))
    yield from touch(button(setup, "Start procedure"))
    yield from touch(button(setup, "DYSPORT"))
    yield from type_into(setup.ids.diluent, "2.5")
    yield from type_into(setup.ids.lot, "D7741")
    yield from type_into(setup.ids.expiry, "2030-06")
    yield from touch(button(setup, "Add vial"))
    entry = proc.ids.steps.get_screen("entry")
    for n, (name, units) in enumerate(TODAY):
        yield from mark_on_live(app, 5.5 + 8 * n, n + 1)
        yield from muscle(entry, name, "Left")
        yield from keys(entry.ids.units, units)
        yield from keys(entry.ids.site, "1")
    yield from touch(button(entry, "Close"))
    close = proc.ids.steps.get_screen("close")
    yield from touch(find(close.ids.pain_taps, "NpPick", "2"))
    out["pain_after_field"] = close.ids.pain_after.text
    yield from touch(button(close, "End procedure"))
    out["end_message"] = close.end_message
    for row in list(close.ids.open_warnings.children):
        yield from type_into(row.ids.reason, "eight-week cycle agreed")
        yield from touch(button(row, "Override"))
        yield 0.2
    yield from type_into(close.ids.sign_pin, DOC_PIN)
    yield from touch(button(close, "Sign procedure"))
    yield from pin_checked(lambda: close.sign_message)
    out["signed"] = close.signed
    visit = close.ids.outcomes
    yield from _tap_choice(visit, "Modified Ashworth, Biceps brachii left", "3")
    yield from _tap_choice(visit, "Modified Ashworth, Biceps brachii left", "2")  # corrected
    yield from _tap_choice(visit, "Modified Ashworth, Brachialis left", "1+")
    yield from _tap_choice(visit, "Modified Ashworth, Flexor digitorum superficialis left",
                           "1")
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
    yield from touch(find(proc, "Choice", "History"))
    yield 0.3
    hist = sm.get_screen("history")
    hist.reload()
    yield 0.2
    yield from touch(next(w for w in hist.ids.list.walk()
                          if type(w).__name__ == "HistRow" and w.row_kind == "patient"))
    yield 0.5
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

        shot(app, str(Path(args["shots"]) / "outcomes_patient.png"))
    return out


SCENARIOS = {"outcomes": outcomes}


if __name__ == "__main__":
    run(SCENARIOS, lambda home, _args: seed(home))
