"""Demo records: users, a patient and a botulinum procedure with real simulated EMG.

Used by `needlepoint logbook demo`, the tests and the benchmark. The patient is invented
(MRN DEMO-...); the EMG comes from the simulator, quantised to int16 as an amplifier would.
"""

from __future__ import annotations

import datetime
import secrets

import numpy as np

from app.logbook import ids
from app.logbook.store import Logbook

PRE_S, POST_S = 5.0, 2.0  # the live app keeps 5 s before the press and 2 s after
UV_PER_COUNT = 0.5


def simulated_snippet(seed: int = 1, fs: float = 20000.0, scenario: str = "denervated"
                      ) -> dict:
    """7 s of simulated needle EMG as int16 counts, with the press 5 s in."""
    from devices.simulator import render

    uri = f"sim:{scenario}?seed={seed}&fs={fs:g}"
    x, _ = render(uri, PRE_S + POST_S)
    counts = np.clip(np.rint(x / UV_PER_COUNT), -32768, 32767).astype(np.int16)
    return {"samples": counts, "uv_per_count": UV_PER_COUNT, "fs": fs,
            "injection_index": int(round(PRE_S * fs)),
            "findings": {"source": f"sim:{scenario}?seed={seed}", "fibrillation": True,
                         "end_plate_noise": False, "rms_uv": round(float(np.std(x)), 2)},
            "source_uri": uri, "source_kind": "simulator", "calibrated": True}


def users(lb: Logbook) -> tuple[dict, dict]:
    """(physician, nurse): the demo's own, made once per logbook."""
    found = {u["name"]: u for u in lb.users() if not u.get("origin")}  # this tablet's
    if "Demo Physician" in found and "Demo Nurse" in found:
        return found["Demo Physician"], found["Demo Nurse"]
    doc = lb.add_user({"name": "Demo Physician", "role": "physician", "pin": "1234"})
    nurse = lb.add_user({"name": "Demo Nurse", "role": "nurse", "pin": "5678"}, by=doc["id"])
    return doc, nurse


def patient(lb: Logbook, by: str) -> dict:
    return lb.add_patient({"mrn": f"DEMO-{secrets.token_hex(3).upper()}",
                           "family_name": "Demo", "given_name": "Patient",
                           "birth_date": "1961-05-17", "sex": "female", "weight_kg": 68.0},
                          by=by)


def procedure(lb: Logbook, *, patient_id: str | None = None, sign: bool = True,
              snippets: bool = True, started: datetime.datetime | None = None) -> dict:
    """A cervical dystonia session: one onabotulinumtoxinA vial, four EMG-guided injections."""
    doc, nurse = users(lb)
    pid = patient_id or patient(lb, nurse["id"])["id"]
    start = started or datetime.datetime.now(ids.UTC)
    proc = lb.start_procedure({
        "patient_id": pid, "kind": "botulinum", "indication": "cervical dystonia",
        "physician_id": doc["id"], "nurse_id": nurse["id"], "started_at": start,
        "timeout": {"identity": True, "consent": True, "side": True},
        "billing_codes": ["64616", "95874"], "pain_before": 6}, by=nurse["id"])
    vial = lb.add_vial(proc["id"], {
        "product": "onabotulinumtoxinA", "vial_units": 200, "lot": "C1234C3",
        "expiry": (start + datetime.timedelta(days=400)).strftime("%Y-%m"),
        "diluent": "0.9% sodium chloride", "diluent_ml": 4.0,
        "reconstituted_at": start}, by=nurse["id"])
    plan = [("sternocleidomastoid", "left", 25), ("splenius_capitis", "right", 40),
            ("trapezius_upper", "right", 30), ("levator_scapulae", "right", 20)]
    for k, (muscle, side, units) in enumerate(plan):
        snip = simulated_snippet(seed=k + 1) if snippets else None
        lb.log_injection(proc["id"], {
            "vial_id": vial["id"], "at": start + datetime.timedelta(minutes=2 + 3 * k),
            "muscle": muscle, "side": side, "site": 1, "units": units, "needle_gauge": 26,
            "needle_length_mm": 37, "guidance": "emg", "twitch": False}, nurse["id"],
            snippet=snip)
    lb.end_procedure(proc["id"], nurse["id"], pain_after=3,
                     at=start + datetime.timedelta(minutes=20))
    if sign:
        lb.sign_off(proc["id"], doc["id"])
    return lb.procedure(proc["id"])


def amendment(lb: Logbook, procedure_id: str) -> dict:
    """A signed demo procedure's second injection amended by its physician: 40 U were
    written, 35 U given (its volume follows from the vial, 0.8 -> 0.7 mL)."""
    doc, _ = users(lb)
    second = lb.procedure(procedure_id)["injections"][1]
    return lb.amend(procedure_id, "injections", second["id"], {"units": 35},
                    "35 U given, 40 U written", doc["id"])


# Four visits over eleven months (12 weeks apart at least, as the labels ask) for one
# spastic arm: BOTOX, then DYSPORT (units of the two are never comparable), three muscles,
# pain falling, EMG activity at injection falling, Modified Ashworth at each visit (1+ as
# written), pain at follow-up, and a goal set at each visit and rated at its follow-up.
HISTORY = [  # (days ago, product, vial units, diluent mL,
    #          [(muscle, units, rms, epn, tonic, Ashworth grade at the visit)],
    #          pain before, after, at follow-up, the goal's level at follow-up)
    (345, "onabotulinumtoxinA", 200, 4.0, [("biceps_brachii", 60, 180.0, 40, True, "3"),
                                          ("brachialis", 40, 150.0, 30, True, "3"),
                                          ("flexor_digitorum_superficialis", 30, 90.0, 20,
                                           False, "2")], 7, 5, 4, -1),
    (255, "onabotulinumtoxinA", 200, 4.0, [("biceps_brachii", 70, 140.0, 30, True, "2"),
                                          ("brachialis", 40, 120.0, 25, False, "2")],
     6, 4, 3, 0),
    (170, "onabotulinumtoxinA", 200, 4.0, [("biceps_brachii", 80, 110.0, 22, False, "2"),
                                          ("brachialis", 50, 100.0, 15, False, "1+"),
                                          ("flexor_digitorum_superficialis", 30, 70.0, 12,
                                           False, "1+")], 5, 3, 3, 0),
    (86, "abobotulinumtoxinA", 500, 2.5, [("biceps_brachii", 250, 95.0, 12, False, "1+"),
                                          ("flexor_digitorum_superficialis", 100, 60.0, 8,
                                           False, "1")], 4, 2, 2, 1),
]
GOAL = "dresses the left arm without help"


def history(lb: Logbook, patient_id: str, now: datetime.datetime | None = None) -> list[str]:
    """Signed earlier visits for `patient_id` (their ids, oldest first), HISTORY's days
    before `now`, without EMG snippets: the findings at injection are recorded as an
    amplifier's analysis would give them."""
    doc, nurse = users(lb)
    now = now or datetime.datetime.now(ids.UTC)
    made = []
    for days, product, strength, diluent, plan, before, after, follow, level in HISTORY:
        at = now - datetime.timedelta(days=days)
        proc = lb.start_procedure({
            "patient_id": patient_id, "kind": "botulinum",
            "indication": "post-stroke upper limb spasticity", "physician_id": doc["id"],
            "nurse_id": nurse["id"], "started_at": at, "pain_before": before,
            "timeout": {"identity": True, "consent": True, "side": True}}, by=nurse["id"])
        vial = lb.add_vial(proc["id"], {
            "product": product, "vial_units": strength, "diluent_ml": diluent,
            "lot": f"D{days:03d}", "expiry": (at + datetime.timedelta(days=300)
                                                   ).strftime("%Y-%m"),
            "reconstituted_at": at}, by=nurse["id"])
        for k, (muscle, units, rms, epn, tonic, _grade) in enumerate(plan):
            lb.log_injection(proc["id"], {
                "vial_id": vial["id"], "at": at + datetime.timedelta(minutes=3 + 3 * k),
                "muscle": muscle, "side": "left", "site": 1, "units": units,
                "guidance": "emg", "emg_findings": {"rms_uv": rms,
                                                    "end_plate_noise_per_s": epn,
                                                    "tonic_activity": tonic}},
                nurse["id"], overrides={"per_site_max": "divided over sites as planned",
                                        "muscle_typical_max": "severe spasticity"},
                override_by=doc["id"])
        lb.end_procedure(proc["id"], nurse["id"], pain_after=after,
                         at=at + datetime.timedelta(minutes=20))
        lb.sign_off(proc["id"], doc["id"])
        outcomes(lb, proc["id"], plan, follow, level, first=not made, at=at)
        made.append(proc["id"])
    return made


def outcomes(lb: Logbook, procedure_id: str, plan, follow: int, level: int, first: bool,
             at: datetime.datetime) -> None:
    """A visit's outcomes: Ashworth per muscle at the visit (the first visit's biceps
    grade corrected once, 2 to 3: a linked correction), the goal set for the cycle with its
    level now, pain and the goal's level at follow-up six weeks later."""
    doc, nurse = users(lb)
    for muscle, *_, grade in plan:
        obs = {"scale": "modified_ashworth", "timepoint": "before", "muscle": muscle,
               "side": "left", "at": at}
        if first and muscle == "biceps_brachii":  # the nurse's 2, then the physician's 3
            lb.add_observation(procedure_id, {**obs, "grade": "2"}, nurse["id"])
            obs["at"] = at + datetime.timedelta(minutes=5)
        lb.add_observation(procedure_id, {**obs, "grade": grade}, doc["id"])
    lb.add_observation(procedure_id, {"scale": "gas", "timepoint": "before", "at": at,
                                      "value": -2 if first else -1, "goal": GOAL}, doc["id"])
    stamp = min(at + datetime.timedelta(days=42), datetime.datetime.now(ids.UTC))
    lb.add_observation(procedure_id, {"scale": "pain_nrs", "timepoint": "followup",
                                      "value": follow, "at": stamp}, nurse["id"])
    lb.add_observation(procedure_id, {"scale": "gas", "timepoint": "followup",
                                      "value": level, "goal": GOAL, "at": stamp}, doc["id"])
