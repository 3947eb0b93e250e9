"""Dose rules against the shipped catalogue (assets/products.json, muscles.json): one test
per warning, the rolling window and the interval across procedures, per-kg limits, lot
expiry and the use-by time after reconstitution, anaesthetic mg/kg, units never converted
between products, and overrides recorded with their reason."""

from __future__ import annotations

import datetime
import json
import shutil

import pytest

from app.logbook import LogbookError, catalogue, ids, rules
from app.workflow import dose

T0 = datetime.datetime(2025, 3, 3, 9, 0, tzinfo=datetime.UTC)


@pytest.fixture
def cat():
    return catalogue.load(catalogue.SHIPPED / "products.json",
                          catalogue.SHIPPED / "muscles.json")


class Clinic:
    """A patient and helpers to run sessions at chosen times."""

    def __init__(self, lb, staff, *, birth="1970-01-01", weight=70.0):
        self.lb, (self.doc, self.nurse) = lb, staff
        self.patient = lb.add_patient({"mrn": ids.new_id()[:8], "family_name": "Test",
                                       "birth_date": birth, "weight_kg": weight},
                                      by=self.nurse["id"])

    def session(self, at, product="onabotulinumtoxinA", vial_units=100, diluent_ml=2.0,
                **vial):
        proc = self.lb.start_procedure({"patient_id": self.patient["id"], "kind": "botulinum",
                                        "started_at": at}, by=self.nurse["id"])
        fields = {"product": product, "vial_units": vial_units, "diluent_ml": diluent_ml,
                  "expiry": "2099-12", "reconstituted_at": at, **vial}
        v = self.lb.add_vial(proc["id"], fields, by=self.nurse["id"])
        return proc, v

    def inject(self, proc, vial, units=None, muscle="splenius_capitis", side="left", at=None,
               **kw):
        return self.lb.log_injection(proc["id"], {
            "vial_id": vial["id"], "units": units, "muscle": muscle, "side": side,
            "at": at or proc["started_at"], **kw}, self.nurse["id"])

    def check(self, proc, vial, units=None, muscle="splenius_capitis", side="left", at=None,
              **kw):
        return self.lb.check_injection(proc["id"], {
            "vial_id": vial["id"], "units": units, "muscle": muscle, "side": side,
            "at": at or proc["started_at"], **kw})


def rules_of(warnings):
    return sorted(w["rule"] for w in warnings)


# arithmetic -------------------------------------------------------------------------------

def test_units_follow_from_volume_and_dilution_and_back(cat):
    botox = {"kind": "toxin", "product": "onabotulinumtoxinA", "vial_units": 100,
             "diluent_ml": 2.5}
    assert rules.units_per_ml(cat, botox) == 40.0
    assert rules.complete_dose(cat, botox, volume_ml=0.5)["units"] == 20.0
    assert rules.complete_dose(cat, botox, units=30)["volume_ml"] == 0.75
    # a ready solution: 5000 U/mL of its own, then diluted with 1 mL of saline
    myobloc = {"kind": "toxin", "product": "rimabotulinumtoxinB", "vial_units": 5000,
               "diluent_ml": 1.0}
    assert rules.vial_volume_ml(cat, myobloc) == 2.0
    assert rules.complete_dose(cat, myobloc, volume_ml=0.1)["units"] == 250.0
    lido = {"kind": "anaesthetic", "product": "lidocaine", "mg_per_ml": 10}
    assert rules.complete_dose(cat, lido, volume_ml=2.5)["dose_mg"] == 25.0


def test_units_and_volume_that_disagree_with_the_dilution_warn(lb, staff):
    c = Clinic(lb, staff)
    proc, vial = c.session(T0)  # 100 U in 2 mL: 50 U/mL
    assert rules_of(c.check(proc, vial, units=25, volume_ml=0.5)) == []
    assert rules_of(c.check(proc, vial, units=25, volume_ml=0.25)) == ["dose_mismatch"]


def test_logging_by_volume_fills_in_units_and_running_total(lb, staff):
    c = Clinic(lb, staff)
    proc, vial = c.session(T0)
    c.lb.log_injection(proc["id"], {"vial_id": vial["id"], "volume_ml": 0.3,
                                    "muscle": "splenius_capitis"}, c.nurse["id"])
    c.inject(proc, vial, 20)
    rec = lb.procedure(proc["id"])
    assert [i["units"] for i in rec["injections"]] == [15.0, 20]
    assert rec["totals"]["onabotulinumtoxinA"]["units"] == 35.0
    assert rec["totals"]["onabotulinumtoxinA"]["volume_ml"] == pytest.approx(0.7)


# label limits -----------------------------------------------------------------------------

def test_per_site_maximum(lb, staff):
    c = Clinic(lb, staff)
    proc, vial = c.session(T0, vial_units=200, diluent_ml=4)
    assert "per_site_max" not in rules_of(c.check(proc, vial, 50, muscle="biceps_brachii"))
    w = c.check(proc, vial, 60, muscle="biceps_brachii")
    assert rules_of(w) == ["per_site_max"]
    assert w[0]["limit_value"] == 50 and w[0]["value"] == 60
    assert "BOTOX" in w[0]["source"]["label"] and w[0]["verify"]
    # the 50 U per site is a spasticity (limb) limit: not applied in the neck
    assert "per_site_max" not in rules_of(c.check(proc, vial, 60))


def test_per_session_maximum_counts_this_session_and_this_product_only(lb, staff):
    c = Clinic(lb, staff)
    proc, vial = c.session(T0, product="incobotulinumtoxinA", vial_units=200, diluent_ml=4)
    for _ in range(4):
        c.inject(proc, vial, 95, muscle="biceps_brachii")
    assert "per_session_max" not in rules_of(c.check(proc, vial, 20, muscle="brachialis"))
    w = c.check(proc, vial, 30, muscle="brachialis")
    assert "per_session_max" in rules_of(w)
    assert next(x for x in w if x["rule"] == "per_session_max")["value"] == 410


def test_per_muscle_maximum_in_the_sternocleidomastoid(lb, staff):
    c = Clinic(lb, staff)
    proc, vial = c.session(T0)
    c.inject(proc, vial, 60, muscle="sternocleidomastoid", side="left")
    c.inject(proc, vial, 60, muscle="sternocleidomastoid", side="right")  # other side
    w = rules_of(c.check(proc, vial, 50, muscle="sternocleidomastoid", side="left"))
    assert "per_muscle_max" in w and "muscle_typical_max" in w


def test_per_kg_maximum_for_a_child_over_the_rolling_window(lb, staff):
    c = Clinic(lb, staff, birth="2015-06-01", weight=20.0)  # 9 years old: pediatric limits
    earlier, vial0 = c.session(T0 - datetime.timedelta(days=60), vial_units=200)
    c.inject(earlier, vial0, 100, muscle="gastrocnemius_medial")
    proc, vial = c.session(T0, vial_units=200)
    assert "per_kg_max" not in rules_of(c.check(proc, vial, 100, muscle="soleus"))
    w = c.check(proc, vial, 110, muscle="soleus")  # 210 U / 20 kg in 90 days
    per_kg = next(x for x in w if x["rule"] == "per_kg_max")
    assert per_kg["limit_value"] == 10 and per_kg["value"] == pytest.approx(10.5)
    # adults have no per-kg limit on this label; the same doses do not raise it
    adult = Clinic(lb, staff, weight=20.0)
    p2, v2 = adult.session(T0, vial_units=200)
    assert "per_kg_max" not in rules_of(adult.check(p2, v2, 110, muscle="soleus"))


def test_per_kg_maximum_without_a_weight_says_it_cannot_check(lb, staff):
    c = Clinic(lb, staff, birth="2015-06-01", weight=None)
    proc, vial = c.session(T0)
    assert "no_weight" in rules_of(c.check(proc, vial, 10, muscle="soleus"))


def test_pediatric_upper_limb_maximum_of_botox(lb, staff):
    # the label: 6 U/kg or 200 U, whichever is lower, per session in the upper limb
    c = Clinic(lb, staff, birth="2015-06-01", weight=20.0)  # 120 U at 20 kg
    proc, vial = c.session(T0, vial_units=200, diluent_ml=4)
    c.inject(proc, vial, 100, muscle="biceps_brachii")
    assert "per_kg_max" not in rules_of(c.check(proc, vial, 20, muscle="brachialis"))
    per_kg = next(w for w in c.check(proc, vial, 30, muscle="brachialis", side="right")
                  if w["rule"] == "per_kg_max")
    assert per_kg["limit_value"] == 6 and per_kg["value"] == pytest.approx(6.5)
    assert per_kg["source"]["section"].startswith("2 ") and per_kg["verify"]
    # the lower limb is not held to the upper limb's 6 U/kg (10 U/kg in 90 days applies)
    assert "per_kg_max" not in rules_of(c.check(proc, vial, 60, muscle="soleus"))
    big = Clinic(lb, staff, birth="2012-01-01", weight=50.0)  # 300 U by weight: 200 U applies
    p2, v2 = big.session(T0, vial_units=200, diluent_ml=4)
    big.inject(p2, v2, 190, muscle="biceps_brachii")
    w = big.check(p2, v2, 20, muscle="flexor_carpi_radialis")
    assert [x["limit_value"] for x in w if x["rule"] == "per_session_max"] == [200]


def test_xeomin_pediatric_maximum_is_per_upper_limb(lb, staff):
    # the label: 8 U/kg up to 200 U per single upper limb; 20 kg: 160 U in each arm
    c = Clinic(lb, staff, birth="2015-06-01", weight=20.0)
    proc, vial = c.session(T0, product="incobotulinumtoxinA", vial_units=200, diluent_ml=4)
    c.inject(proc, vial, 150, muscle="biceps_brachii", side="left")
    assert "per_kg_max" not in rules_of(c.check(proc, vial, 150, muscle="biceps_brachii",
                                                side="right"))  # both arms: 300 U, no warning
    c.inject(proc, vial, 150, muscle="biceps_brachii", side="right")
    w = next(x for x in c.check(proc, vial, 20, muscle="brachialis", side="left")
             if x["rule"] == "per_kg_max")
    assert w["value"] == pytest.approx(8.5) and "left upper limb" in w["message"]
    assert "per limb" in w["message"] and "2.3" in w["source"]["section"]
    # a side not given counts against the whole region: never less than the limb's total
    unsided = next(x for x in c.check(proc, vial, 5, muscle="brachialis", side=None)
                   if x["rule"] == "per_kg_max")
    assert unsided["value"] == pytest.approx(15.25) and "side not given" in unsided["message"]
    heavy = Clinic(lb, staff, birth="2012-01-01", weight=40.0)  # 320 U by weight: 200 U applies
    p2, v2 = heavy.session(T0, product="incobotulinumtoxinA", vial_units=200, diluent_ml=4)
    heavy.inject(p2, v2, 190, muscle="biceps_brachii", side="left")
    heavy.inject(p2, v2, 190, muscle="biceps_brachii", side="right")
    assert "per_session_max" not in rules_of(heavy.check(p2, v2, 10, muscle="brachialis",
                                                         side="right"))
    over = heavy.check(p2, v2, 20, muscle="brachialis", side="right")
    assert [x["value"] for x in over if x["rule"] == "per_session_max"] == [210]


def test_the_running_total_shows_no_per_limb_maximum_as_the_session_limit(cat):
    # XEOMIN's 200 U is per upper limb: both arms may have it, so it is not the session's limit
    assert dose.session_limit(cat, "incobotulinumtoxinA", "pediatric", {"upper_limb"}) is None
    assert dose.session_limit(cat, "onabotulinumtoxinA", "pediatric", {"upper_limb"}) == 200


def test_dysport_pediatric_limits_per_limb_and_across_limbs(lb, staff):
    c = Clinic(lb, staff, birth="2015-06-01", weight=20.0)
    proc, vial = c.session(T0, product="abobotulinumtoxinA", vial_units=500, diluent_ml=2.5)

    def per_kg(w):
        return sorted(x["limit_value"] for x in w if x["rule"] == "per_kg_max")

    # upper limb: 16 U/kg per limb (320 U at 20 kg)
    c.inject(proc, vial, 300, muscle="biceps_brachii", side="left")
    assert per_kg(c.check(proc, vial, 20, muscle="brachialis", side="left")) == []
    assert per_kg(c.check(proc, vial, 30, muscle="brachialis", side="left")) == [16]
    # the other arm has its own 16 U/kg; both arms together are held to 30 U/kg (600 U)
    assert per_kg(c.check(proc, vial, 300, muscle="biceps_brachii", side="right")) == []
    c.inject(proc, vial, 300, muscle="biceps_brachii", side="right")
    assert per_kg(c.check(proc, vial, 10, muscle="brachialis", side="right")) == [30]
    # lower limb: 15 U/kg per leg
    leg = Clinic(lb, staff, birth="2015-06-01", weight=20.0)
    p2, v2 = leg.session(T0, product="abobotulinumtoxinA", vial_units=500, diluent_ml=2.5)
    leg.inject(p2, v2, 290, muscle="gastrocnemius_medial", side="left")
    assert per_kg(leg.check(p2, v2, 20, muscle="soleus", side="left")) == [15]
    assert per_kg(leg.check(p2, v2, 20, muscle="soleus", side="right")) == []


def test_dysport_pediatric_upper_limb_retreatment_after_16_weeks(lb, staff):
    child = Clinic(lb, staff, birth="2015-06-01", weight=20.0)
    p1, v1 = child.session(T0 - datetime.timedelta(days=100), product="abobotulinumtoxinA",
                           vial_units=300, diluent_ml=1.5)
    child.inject(p1, v1, 100, muscle="biceps_brachii")
    p2, v2 = child.session(T0, product="abobotulinumtoxinA", vial_units=300, diluent_ml=1.5)
    w = next(x for x in child.check(p2, v2, 100, muscle="biceps_brachii")
             if x["rule"] == "min_interval")
    assert w["limit_value"] == 112 and w["value"] == pytest.approx(100)
    # an adult's 12 weeks (84 days) have passed after 100 days
    adult = Clinic(lb, staff)
    q1, u1 = adult.session(T0 - datetime.timedelta(days=100), product="abobotulinumtoxinA",
                           vial_units=300, diluent_ml=1.5)
    adult.inject(q1, u1, 100, muscle="biceps_brachii")
    q2, u2 = adult.session(T0, product="abobotulinumtoxinA", vial_units=300, diluent_ml=1.5)
    assert "min_interval" not in rules_of(adult.check(q2, u2, 100, muscle="biceps_brachii"))


def test_a_toxin_patient_of_unknown_age_warns_and_the_warning_is_recorded(lb, staff):
    c = Clinic(lb, staff, birth=None, weight=20.0)  # a child's weight, but no birth date
    proc, vial = c.session(T0, vial_units=200, diluent_ml=4)
    w = c.check(proc, vial, 150, muscle="biceps_brachii")
    assert "age_unknown" in rules_of(w) and "per_kg_max" not in rules_of(w)
    assert "age unknown: paediatric limits not checked" in next(
        x["message"] for x in w if x["rule"] == "age_unknown")
    inj = c.inject(proc, vial, 10, muscle="biceps_brachii")
    (open_w,) = [x for x in inj["warnings"] if x["rule"] == "age_unknown"]
    assert open_w["override_reason"] is None  # a physician has to decide
    known = Clinic(lb, staff)
    p2, v2 = known.session(T0)
    assert "age_unknown" not in rules_of(known.check(p2, v2, 10))


def test_rolling_window_spans_procedures(lb, staff):
    c = Clinic(lb, staff)
    p1, v1 = c.session(T0 - datetime.timedelta(days=100), vial_units=200, diluent_ml=4)
    c.inject(p1, v1, 200)
    p2, v2 = c.session(T0 - datetime.timedelta(days=60), vial_units=200, diluent_ml=4)
    c.inject(p2, v2, 150)
    c.inject(p2, v2, 150)
    p3, v3 = c.session(T0, vial_units=100)
    # 300 U 60 days ago + 100 now = 400: at the limit, not over; the 200 U 100 days ago is
    # outside the 90-day window
    assert "rolling_window_max" not in rules_of(c.check(p3, v3, 100))
    w = c.check(p3, v3, 101)
    roll = next(x for x in w if x["rule"] == "rolling_window_max")
    assert roll["value"] == 401 and roll["limit_value"] == 400
    # a voided injection does not count
    lb.void_injection(lb.procedure(p2["id"])["injections"][0]["id"], "test", c.nurse["id"])
    assert "rolling_window_max" not in rules_of(c.check(p3, v3, 200))


def test_minimum_interval_after_the_last_session_of_any_product(lb, staff):
    c = Clinic(lb, staff)
    p1, v1 = c.session(T0 - datetime.timedelta(days=50), product="abobotulinumtoxinA",
                       vial_units=500, diluent_ml=2.5)
    c.inject(p1, v1, 250)
    p2, v2 = c.session(T0)  # onabotulinumtoxinA, 50 days after an abobotulinumtoxinA session
    w = c.check(p2, v2, 20)
    interval = next(x for x in w if x["rule"] == "min_interval")
    assert interval["limit_value"] == 84 and interval["value"] == pytest.approx(50)
    later = Clinic(lb, staff)
    q1, u1 = later.session(T0 - datetime.timedelta(days=90))
    later.inject(q1, u1, 20)
    q2, u2 = later.session(T0)
    assert "min_interval" not in rules_of(later.check(q2, u2, 20))


def test_units_are_never_added_across_products(lb, staff):
    c = Clinic(lb, staff)
    proc, ona = c.session(T0, vial_units=200, diluent_ml=4)
    abo = lb.add_vial(proc["id"], {"product": "abobotulinumtoxinA", "vial_units": 500,
                                   "diluent_ml": 2.5, "expiry": "2099-01",
                                   "reconstituted_at": T0}, by=c.nurse["id"])
    c.inject(proc, ona, 190)
    w = c.check(proc, abo, 300)  # 190 + 300 would pass 400 if units were (wrongly) added
    assert "per_session_max" not in rules_of(w)
    assert "mixed_products" in rules_of(w)
    c.inject(proc, abo, 300)
    totals = lb.procedure(proc["id"])["totals"]
    assert totals["onabotulinumtoxinA"]["units"] == 190
    assert totals["abobotulinumtoxinA"]["units"] == 300


# vials ------------------------------------------------------------------------------------

def test_expired_lot(lb, staff):
    c = Clinic(lb, staff)
    proc, vial = c.session(datetime.datetime(2025, 3, 31, 9, tzinfo=datetime.UTC),
                           expiry="2025-03")
    assert "lot_expired" not in rules_of(c.check(proc, vial, 10))  # good to the month's end
    late = datetime.datetime(2025, 4, 1, 9, tzinfo=datetime.UTC)
    assert "lot_expired" in rules_of(c.check(proc, vial, 10, at=late))
    proc2, vial2 = c.session(T0, expiry="2025-03-02")
    assert "lot_expired" in rules_of(c.check(proc2, vial2, 10))


def test_vial_past_its_use_by_time_after_reconstitution(lb, staff):
    c = Clinic(lb, staff)
    proc, vial = c.session(T0, reconstituted_at=T0 - datetime.timedelta(hours=23))
    assert "past_use_by" not in rules_of(c.check(proc, vial, 10))
    w = c.check(proc, vial, 10, at=T0 + datetime.timedelta(hours=2))  # 25 h after
    assert rules_of(w) == ["past_use_by"]
    assert "24 h" in w[0]["message"]


def test_daxxify_use_by_time_after_reconstitution(lb, staff):
    c = Clinic(lb, staff)
    proc, vial = c.session(T0, product="daxibotulinumtoxinA", vial_units=100, diluent_ml=1.2,
                           reconstituted_at=T0 - datetime.timedelta(hours=71))
    assert "past_use_by" not in rules_of(c.check(proc, vial, 20))
    (w,) = [x for x in c.check(proc, vial, 20, at=T0 + datetime.timedelta(hours=2))
            if x["rule"] == "past_use_by"]
    assert w["limit_value"] == 72 and "Toxins 2023" in w["source"]["via"]


# local anaesthetics -----------------------------------------------------------------------

def test_local_anaesthetic_over_its_mg_per_kg_maximum(lb, staff):
    c = Clinic(lb, staff, weight=50.0)  # lidocaine plain 4.5 mg/kg: 225 mg
    proc = lb.start_procedure({"patient_id": c.patient["id"], "kind": "trigger_point",
                               "started_at": T0}, by=c.nurse["id"])
    lido = lb.add_vial(proc["id"], {"product": "lidocaine", "mg_per_ml": 10, "lot": "X",
                                    "expiry": "2099-01"}, by=c.nurse["id"])
    for _ in range(10):
        inj = lb.log_injection(proc["id"], {"vial_id": lido["id"], "volume_ml": 2.0,
                                            "muscle": "trapezius_upper", "side": "left"},
                               c.nurse["id"])
        assert inj["dose_mg"] == 20.0 and inj["units"] is None
    ok = lb.check_injection(proc["id"], {"vial_id": lido["id"], "volume_ml": 2.5})
    assert rules_of(ok) == []
    w = lb.check_injection(proc["id"], {"vial_id": lido["id"], "volume_ml": 3.0})
    assert rules_of(w) == ["anaesthetic_mg_per_kg"]
    assert w[0]["value"] == pytest.approx(4.6) and w[0]["limit_value"] == 4.5
    assert lb.procedure(proc["id"])["totals"]["lidocaine"]["dose_mg"] == 200


def trigger_point_session(lb, c, *agents):
    """A trigger-point procedure with one vial of each (agent, mg/mL) given."""
    proc = lb.start_procedure({"patient_id": c.patient["id"], "kind": "trigger_point",
                               "started_at": T0}, by=c.nurse["id"])
    vials = [lb.add_vial(proc["id"], {"product": agent, "mg_per_ml": mg_per_ml, "lot": "X",
                                      "expiry": "2099-01"}, by=c.nurse["id"])
             for agent, mg_per_ml in agents]
    return proc, vials


def test_local_anaesthetics_add_up_as_fractions_of_their_own_maxima(lb, staff):
    c = Clinic(lb, staff, weight=70.0)  # lidocaine 300 mg (4.5 mg/kg: 315), with epi 490 mg
    proc, (plain, epi) = trigger_point_session(lb, c, ("lidocaine", 20),
                                               ("lidocaine_epinephrine", 20))
    lb.log_injection(proc["id"], {"vial_id": plain["id"], "volume_ml": 14.5,
                                  "muscle": "trapezius_upper"}, c.nurse["id"])  # 290 mg
    assert rules_of(lb.check_injection(proc["id"], {"vial_id": epi["id"], "volume_ml": 0.5})
                    ) == []  # 290/300 + 10/490 = 0.967 + 0.020: under 1
    w = lb.check_injection(proc["id"], {"vial_id": epi["id"], "volume_ml": 14.5})  # 290 mg
    assert rules_of(w) == ["anaesthetic_combined"]  # neither agent alone passes its maximum
    assert w[0]["value"] == pytest.approx(290 / 300 + 290 / 490, abs=1e-3)
    assert w[0]["limit_value"] == 1
    assert "lidocaine 290 mg of 300 mg (0.97)" in w[0]["message"]
    assert "lidocaine_epinephrine 290 mg of 490 mg (0.59)" in w[0]["message"]
    assert w[0]["source"]["label"].startswith("clinic policy") and w[0]["verify"]


def test_lidocaine_and_bupivacaine_add_up(lb, staff):
    c = Clinic(lb, staff, weight=70.0)  # bupivacaine: 175 mg, no mg/kg figure
    proc, (lido, bupi) = trigger_point_session(lb, c, ("lidocaine", 20), ("bupivacaine", 5))
    lb.log_injection(proc["id"], {"vial_id": lido["id"], "volume_ml": 10,
                                  "muscle": "trapezius_upper"}, c.nurse["id"])  # 200 mg
    assert rules_of(lb.check_injection(proc["id"], {"vial_id": bupi["id"], "volume_ml": 10})
                    ) == []  # 200/300 + 50/175 = 0.95
    w = lb.check_injection(proc["id"], {"vial_id": bupi["id"], "volume_ml": 20})  # 100 mg
    assert rules_of(w) == ["anaesthetic_combined"]
    assert w[0]["value"] == pytest.approx(200 / 300 + 100 / 175, abs=1e-3)
    # each agent's own warning still comes on its own
    w = lb.check_injection(proc["id"], {"vial_id": bupi["id"], "volume_ml": 40})  # 200 mg
    assert rules_of(w) == ["anaesthetic_combined", "anaesthetic_mg_max"]


# overrides --------------------------------------------------------------------------------

def test_a_physician_overrides_with_a_reason_and_it_is_recorded(lb, staff):
    c = Clinic(lb, staff)
    proc, vial = c.session(T0, vial_units=200, diluent_ml=4)
    with pytest.raises(LogbookError, match="physician"):
        lb.log_injection(proc["id"], {"vial_id": vial["id"], "units": 60,
                                      "muscle": "biceps_brachii"}, c.nurse["id"],
                         overrides={"per_site_max": "large muscle"})
    assert lb.procedure(proc["id"])["injections"] == []  # refused before anything was written
    inj = lb.log_injection(proc["id"], {"vial_id": vial["id"], "units": 60, "at": T0,
                                        "muscle": "biceps_brachii"}, c.nurse["id"],
                           overrides={"per_site_max": "large muscle, one site only"},
                           override_by=c.doc["id"])
    (w,) = inj["warnings"]
    assert (w["rule"], w["override_reason"], w["override_by"]) == (
        "per_site_max", "large muscle, one site only", c.doc["id"])
    # a warning logged without an override stays open until a physician decides
    inj2 = lb.log_injection(proc["id"], {"vial_id": vial["id"], "units": 70, "at": T0,
                                         "muscle": "biceps_brachii"}, c.nurse["id"])
    (open_w,) = inj2["warnings"]
    assert open_w["override_reason"] is None
    with pytest.raises(LogbookError, match="physician"):
        lb.override_warning(open_w["id"], "ok", c.nurse["id"])
    done = lb.override_warning(open_w["id"], "agreed with the nurse", c.doc["id"])
    assert done["override_reason"] == "agreed with the nurse"
    with pytest.raises(LogbookError, match="already"):
        lb.override_warning(open_w["id"], "again", c.doc["id"])
    entry = lb.db.execute("SELECT action, reason, user_id FROM audit WHERE tbl = "
                          "'dose_warnings' ORDER BY seq DESC LIMIT 1").fetchone()
    assert entry == ("override", "agreed with the nurse", c.doc["id"])
    assert lb.verify()["ok"]


def test_session_warnings_are_recorded_once_per_procedure(lb, staff):
    c = Clinic(lb, staff)
    p1, v1 = c.session(T0 - datetime.timedelta(days=30))
    c.inject(p1, v1, 10)
    p2, v2 = c.session(T0)
    for _ in range(3):
        c.inject(p2, v2, 10)
    rules_logged = [w["rule"] for w in lb.procedure(p2["id"])["dose_warnings"]]
    assert rules_logged == ["min_interval"]


# the catalogue ----------------------------------------------------------------------------

def test_every_shipped_limit_has_a_source_and_a_verify_note(cat):
    for key, t in cat.toxins.items():
        assert t["source"]["label"] and t["verify"], key
        for lim in t["limits"]:
            assert lim.get("context"), (key, lim)
            assert (lim.get("source") or t["source"])["label"], (key, lim)
            assert lim.get("verify") or t["verify"], (key, lim)
            if lim.get("value") is None:  # a figure left out says what to verify
                assert "not confirmed" in lim["verify"], (key, lim)
        if t.get("use_within_hours") is not None and t.get("use_within_source"):
            assert t["use_within_source"]["label"], key
    for key, a in cat.anaesthetics.items():
        assert a["source"]["label"] and a["verify"], key
    assert set(m["region"] for m in cat.muscles.values()) == set(catalogue.REGIONS)


def test_a_product_not_in_the_catalogue_is_refused_even_with_a_kind(lb, staff):
    """No dose rule could be checked for it: the clinic adds it to assets/ first."""
    c = Clinic(lb, staff)
    proc = lb.start_procedure({"patient_id": c.patient["id"], "kind": "botulinum"},
                              by=c.nurse["id"])
    for vial in ({"product": "letibotulinumtoxinA", "vial_units": 100},
                 {"product": "letibotulinumtoxinA", "vial_units": 100, "kind": "toxin",
                  "diluent_ml": 2}):
        with pytest.raises(LogbookError, match="^product: not in the catalogue"):
            lb.add_vial(proc["id"], vial, by=c.nurse["id"])
    with pytest.raises(LogbookError, match="^vial_units: this product comes in 50, 100, 200"):
        lb.add_vial(proc["id"], {"product": "onabotulinumtoxinA", "vial_units": 137,
                                 "diluent_ml": 2}, by=c.nurse["id"])


def test_a_clinic_copy_of_the_catalogue_replaces_the_shipped_one(lb, staff, tmp_path,
                                                                 monkeypatch):
    folder = tmp_path / "clinic-assets"
    folder.mkdir()
    data = json.loads((catalogue.SHIPPED / "products.json").read_text())
    for lim in data["toxins"]["onabotulinumtoxinA"]["limits"]:
        if lim["rule"] == "per_session_max" and lim["population"] == "adult":
            lim["value"] = 300
    (folder / "products.json").write_text(json.dumps(data))
    monkeypatch.setenv("NEEDLEPOINT_ASSETS", str(folder))
    cat = catalogue.default()
    assert cat.files["products"] == str(folder / "products.json")
    assert cat.files["muscles"] == str(catalogue.SHIPPED / "muscles.json")
    c = Clinic(lb, staff)
    proc, vial = c.session(T0, vial_units=200, diluent_ml=4)
    assert "per_session_max" in rules_of(c.check(proc, vial, 310))
    shutil.rmtree(folder)


def test_a_malformed_catalogue_is_named_in_the_error(tmp_path):
    bad = tmp_path / "products.json"
    bad.write_text('{"toxins": {"x": {"limits": [{"rule": "per_fortnight"}]}}, '
                   '"anaesthetics": {}}')
    with pytest.raises(LogbookError, match="unknown rule 'per_fortnight'"):
        catalogue.load(bad, catalogue.SHIPPED / "muscles.json")


@pytest.mark.parametrize("limit, message", [
    ({"rule": "per_kg_max", "value": 8, "scope": "arm", "regions": ["upper_limb"]},
     "scope is session, limb"),
    ({"rule": "per_kg_max", "value": 8, "scope": "limb", "regions": ["cervical"]},
     "per-limb per_kg_max needs regions"),
    ({"rule": "per_kg_max", "value": 8, "scope": "limb", "regions": None},
     "per-limb per_kg_max needs regions"),
])
def test_a_limit_scope_the_app_cannot_apply_is_refused(tmp_path, limit, message):
    bad = tmp_path / "products.json"
    bad.write_text(json.dumps({"toxins": {"x": {"limits": [limit]}}, "anaesthetics": {}}))
    with pytest.raises(LogbookError, match=message):
        catalogue.load(bad, catalogue.SHIPPED / "muscles.json")


def test_more_units_drawn_from_a_vial_than_it_held(lb, staff):
    c = Clinic(lb, staff)
    proc, v = c.session(T0)
    c.inject(proc, v, units=40, muscle="splenius_capitis")
    c.inject(proc, v, units=40, muscle="levator_scapulae")
    lb.update_vial(v["id"], {"units_wasted": 10}, staff[1]["id"])
    assert "vial_overdrawn" not in rules_of(c.check(proc, v, units=10,
                                                      muscle="trapezius_upper"))
    over = [w for w in c.check(proc, v, units=15, muscle="trapezius_upper")
            if w["rule"] == "vial_overdrawn"]
    assert [w["message"] for w in over] == [
        "15 U drawn from lot (no lot), which had 10 U left of 100 U: check which vial the "
        "syringe came from"]
    assert (over[0]["limit_value"], over[0]["value"]) == (10.0, 15.0)
