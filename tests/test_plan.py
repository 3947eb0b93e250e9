"""Last time's plan carried forward into today's entry, and the units offered as quick
picks: from the previous signed procedure (never the one just started, never an unsigned
one), one call filling muscle, side and dose, units never carried to another product."""

from __future__ import annotations

import datetime

from app.workflow import plan
from app.workflow.procedure import ProcedureFlow

BOTOX, XEOMIN = "onabotulinumtoxinA", "incobotulinumtoxinA"
START = {"kind": "botulinum", "indication": "upper limb spasticity", "pain_before": "6",
         "timeout_identity": 1, "timeout_consent": 1, "timeout_side": 1}


def _ids(staff):
    """(physician id, nurse id) of conftest's `staff`."""
    return tuple(u["id"] for u in staff)


def _past(lb, pt, doc, nurse, days, doses, product=BOTOX, sign=True):
    at = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=days)
    proc = lb.start_procedure({"patient_id": pt, "kind": "botulinum", "indication": "x",
                               "physician_id": doc, "nurse_id": nurse, "pain_before": 6,
                               "started_at": at, "timeout": {"identity": True,
                                                             "consent": True, "side": True}},
                              by=nurse)
    vial = lb.add_vial(proc["id"], {"product": product, "vial_units": 100, "diluent_ml": 2,
                                    "lot": "C1", "expiry": "2030-01", "reconstituted_at": at},
                       by=nurse)
    for site, (muscle, side, units) in enumerate(doses, 1):
        lb.log_injection(proc["id"], {"vial_id": vial["id"], "muscle": muscle, "side": side,
                                      "site": site, "units": units, "at": at,
                                      "guidance": "emg"}, nurse)
    if sign:
        lb.end_procedure(proc["id"], nurse, pain_after=3, at=at)
        lb.sign_off(proc["id"], doc)
    return proc


def _today(lb, doc, nurse, pt, product=BOTOX):
    flow = ProcedureFlow(lb)
    flow.patient = lb.patient(pt)
    proc, msgs = flow.start({**START, "physician_id": doc}, nurse)
    assert proc and not msgs, msgs
    now = datetime.datetime.now().astimezone() - datetime.timedelta(minutes=5)
    vial, msgs = flow.add_vial({"product": product, "vial_units": "100", "diluent_ml": "2",
                                "lot": "L9", "expiry": "2031-01",
                                "reconstituted_at": now.strftime("%H:%M")}, nurse)
    assert vial and not msgs, msgs
    return flow


def test_the_plan_is_the_last_signed_procedure_not_the_one_just_started(lb, staff):
    doc, nurse = _ids(staff)
    pt = lb.add_patient({"mrn": "M1", "family_name": "Okafor", "birth_date": "1958-03-02"},
                        by=nurse)["id"]
    _past(lb, pt, doc, nurse, 200, [("biceps_brachii", "left", 40)])
    _past(lb, pt, doc, nurse, 100, [("biceps_brachii", "left", 25), ("biceps_brachii", "left", 25),
                                    ("brachialis", "left", 30)])
    _past(lb, pt, doc, nurse, 40, [("soleus", "right", 75)], sign=False)  # never signed
    flow = _today(lb, doc, nurse, pt)
    assert [(p.muscle, p.side, p.units, p.sites, p.per_site) for p in flow.plan] == [
        ("biceps_brachii", "left", 50.0, 2, 25.0), ("brachialis", "left", 30.0, 1, 30.0)]
    assert plan.item_text(lb.cat, flow.plan[0]) == "Biceps brachii left 50 U (2 x 25 U)"
    # one call fills muscle, side and the dose per site; the record holds them
    entry = flow.new_entry(nurse)
    assert flow.fill_from_plan(entry, flow.plan[0], nurse) == ""
    inj = lb.row("injections", entry.injection_id)
    assert (inj["muscle"], inj["side"], inj["units"], inj["volume_ml"]) == (
        "biceps_brachii", "left", 25.0, 0.5)
    progress = dict((p.muscle, done) for p, done in flow.plan_progress())
    assert progress == {"biceps_brachii": 25.0, "brachialis": 0.0}


def test_units_are_never_carried_to_another_product(lb, staff):
    doc, nurse = _ids(staff)
    pt = lb.add_patient({"mrn": "M2", "family_name": "Lee", "birth_date": "1970-01-01"},
                        by=nurse)["id"]
    _past(lb, pt, doc, nurse, 100, [("brachialis", "left", 30)], product=XEOMIN)
    flow = _today(lb, doc, nurse, pt, product=BOTOX)
    entry = flow.new_entry(nurse)
    msg = flow.fill_from_plan(entry, flow.plan[0], nurse)
    assert "not carried to BOTOX" in msg and "XEOMIN" in msg
    inj = lb.row("injections", entry.injection_id)
    assert (inj["muscle"], inj["side"], inj["units"]) == ("brachialis", "left", None)
    # its quick picks are BOTOX's own: the label's range per site, no XEOMIN figure
    entry.text["muscle"] = "brachialis"
    assert flow.quick_units(entry) == [15.0, 20.0, 30.0, 35.0, 45.0, 50.0]  # 30-50 U, 1-2 sites


def test_no_plan_for_a_first_session(lb, staff):
    doc, nurse = _ids(staff)
    pt = lb.add_patient({"mrn": "M3", "family_name": "New", "birth_date": "1990-01-01"},
                        by=nurse)["id"]
    flow = _today(lb, doc, nurse, pt)
    assert flow.plan == [] and flow.plan_progress() == []


def test_quick_picks_from_the_label_last_time_and_the_syringe(lb):
    cat = lb.cat
    last = [plan.PlanItem("biceps_brachii", "left", BOTOX, 50.0, 2, 25.0)]
    # BOTOX biceps: 60-200 U over 2-4 sites, 15 to 100 U a site, but at most 50 U a site
    # in an adult (none offered beyond it); 5 U in 0.1 mL
    assert plan.quick_units(cat, "biceps_brachii", BOTOX, 5.0, last) == [
        15.0, 25.0, 35.0, 40.0, 50.0]
    assert plan.per_site_range(cat, "sternocleidomastoid", BOTOX) == (None, 100.0)
    # no label figure (frontalis): last time's dose and 0.1 mL steps of the vial
    assert plan.quick_units(cat, "frontalis", BOTOX, 2.5, []) == [2.5, 5.0, 7.5, 10.0, 15.0,
                                                                  20.0]
    assert plan.quick_units(cat, "frontalis", BOTOX, 2.5, [
        plan.PlanItem("frontalis", None, BOTOX, 4.0, 2, 2.0)])[0] == 2.0
    # an anaesthetic is dosed by volume: no unit buttons
    assert plan.quick_units(cat, "biceps_brachii", "lidocaine", None, []) == []
    assert len(plan.quick_units(cat, "biceps_brachii", BOTOX, 1.0, last)) <= plan.QUICK_PICKS
