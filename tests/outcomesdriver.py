"""Outcomes entered by taps in the real app (issue 29, item 2), on a patient with five
sessions over eight months: BOTOX three times then DYSPORT twice, three muscles, Modified
Ashworth at each visit, one amendment. The sessions are written through the logbook API
(their dates lie in the past, which the screens do not let a nurse choose); every outcome
of the last two is tapped on screen: follow-up pain (then corrected), Ashworth per muscle
(1+ among them, one corrected), a goal set with its level now, its follow-up rating.
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
    (0, "abobotulinumtoxinA", 500, 2.5, [("biceps_brachii", 250, None), ("brachialis", 150, None),
                                        ("flexor_digitorum_superficialis", 100, None)]),
]


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


def _tap_choice(panel, title: str, choice: str):
    yield from touch(find(_row(panel, title), "NpPick", choice))
    yield 0.2


def outcomes(app, args):
    sm = app.root
    out: dict = {}
    yield 1.0
    sm.current = "history"
    yield 0.3
    choose_user(app, "physician")
    yield TAP_GAP_S
    yield from pin(app, DOC_PIN)
    yield 0.3
    hist = sm.get_screen("history")
    hist.reload()
    yield 0.2
    yield from touch(next(w for w in hist.ids.list.walk()
                          if type(w).__name__ == "HistRow" and w.row_kind == "patient"))
    yield 0.5
    # the patient page's quick row: follow-up pain of the latest procedure (today's)
    quick = hist.ids.followup
    out["quick_row"] = [w.text for w in quick.children if hasattr(w, "text")]
    # the session before today: its follow-up, tapped on its detail page
    tl = hist.ids.timeline.children  # newest first, drawn bottom-up: children reversed
    yield from touch(list(reversed(tl))[1])
    yield 0.5
    follow, visit = hist.ids.outcomes_followup, hist.ids.outcomes_visit
    yield from _tap_choice(follow, "Pain NRS", "4")
    yield from _tap_choice(follow, "Pain NRS", "3")  # corrected: one value, linked
    yield from _tap_choice(follow, "Modified Ashworth, Biceps brachii left", "2")
    yield from _tap_choice(follow, "Modified Ashworth, Brachialis left", "1+")
    out["followup_rows"] = [w.text for w in reversed(follow.children)
                            if type(w).__name__ == "NpWords" and ":" in w.text]
    yield from touch(button(hist, "< Back"))
    yield 0.5
    # today's session: Ashworth at the visit, a goal set, then rated at follow-up
    yield from touch(list(reversed(hist.ids.timeline.children))[0])
    yield 0.5
    visit = hist.ids.outcomes_visit
    yield from _tap_choice(visit, "Modified Ashworth, Biceps brachii left", "3")
    yield from _tap_choice(visit, "Modified Ashworth, Biceps brachii left", "2")  # corrected
    yield from _tap_choice(visit, "Modified Ashworth, Brachialis left", "1+")
    yield from _tap_choice(visit, "Modified Ashworth, Flexor digitorum superficialis left",
                           "1")
    goal = next(w for w in visit.walk() if type(w).__name__ == "NpInput")
    yield from type_into(goal, "holds a cup with the left hand")
    yield from touch(next(w for w in visit.walk() if getattr(w, "text", "").startswith("-1 ")))
    yield 0.3
    follow = hist.ids.outcomes_followup
    yield from _tap_choice(follow, "Goal: holds a cup with the left hand", "+1")
    out["visit_rows"] = [w.text for w in reversed(hist.ids.outcomes_visit.children)
                         if type(w).__name__ == "NpWords" and ":" in w.text]
    out["visit_message"] = hist.ids.outcomes_visit.message
    yield from touch(button(hist, "< Back"))
    yield 0.5
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
