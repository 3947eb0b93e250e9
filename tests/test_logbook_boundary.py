"""The logbook's one validation boundary, its roles, and the rules a signature and an
amendment must meet, through the public API as any caller would use it (issue 25, items
1-4). Each refusal is a LogbookError naming the field, with no patient data in it; nothing
refused is stored, and nothing stored breaks a later write."""

from __future__ import annotations

import math

import pytest

from app.logbook import LogbookError, ids

BIRTH = "1950-04-03"


def _session(lb, staff, **patient):
    doc, nurse = staff
    p = lb.add_patient({"mrn": "MRN-77", "family_name": "Quill", "birth_date": BIRTH,
                        "weight_kg": 70.0, **patient}, by=nurse["id"])
    proc = lb.start_procedure({"patient_id": p["id"], "kind": "botulinum",
                               "physician_id": doc["id"], "nurse_id": nurse["id"]},
                              by=nurse["id"])
    vial = lb.add_vial(proc["id"], {"product": "onabotulinumtoxinA", "vial_units": 100,
                                    "diluent_ml": 2.0, "lot": "L1", "expiry": "2099-01",
                                    "reconstituted_at": ids.now()}, by=nurse["id"])
    return p, proc, vial


def _inject(lb, nurse, proc, vial, **kw):
    return lb.log_injection(proc["id"], {"vial_id": vial["id"], "units": 20,
                                         "muscle": "splenius_capitis", "side": "left", **kw},
                            nurse["id"])


def _refused(field: str, call, *private: str) -> None:
    with pytest.raises(LogbookError) as e:
        call()
    text = str(e.value)
    assert text.startswith(f"{field}: "), text
    for secret in private:  # the value itself (a birth date, a name) is never quoted
        assert secret not in text, text


def _count(lb, table):
    return lb.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


# 1. one boundary ------------------------------------------------------------------------

@pytest.mark.parametrize("birth", ["17/05/1961", "03/04/1950", "1961-13-01", "2999-01-01",
                                   "1850-01-01", 19610517])
def test_a_birth_date_is_iso_past_and_never_quoted(lb, staff, birth):
    _, nurse = staff
    _refused("birth_date", lambda: lb.add_patient(
        {"mrn": "M-1", "family_name": "Quill", "birth_date": birth}, by=nurse["id"]),
        str(birth))
    assert _count(lb, "patients") == 0


def test_bad_values_are_refused_by_field_and_a_later_injection_still_logs(lb, staff):
    doc, nurse = staff
    p, proc, vial = _session(lb, staff)
    big = "x" * 10_000_000
    cases = [
        ("weight_kg", lambda: lb.update_patient(p["id"], {"weight_kg": "seventy"},
                                                nurse["id"])),
        ("weight_kg", lambda: lb.update_patient(p["id"], {"weight_kg": math.inf},
                                                nurse["id"])),
        ("birth_date", lambda: lb.update_patient(p["id"], {"birth_date": "03/04/1950"},
                                                 nurse["id"])),
        ("mrn", lambda: lb.add_patient({"mrn": big, "family_name": "Q"}, nurse["id"])),
        ("family_name", lambda: lb.add_patient({"mrn": "M-2", "family_name": big},
                                               nurse["id"])),
        ("notes", lambda: lb.update_procedure(proc["id"], {"notes": big}, nurse["id"])),
        ("started_at", lambda: lb.update_procedure(proc["id"], {"started_at": "tuesday"},
                                                   nurse["id"])),
        ("expiry", lambda: lb.update_vial(vial["id"], {"expiry": "never"}, nurse["id"])),
        ("reconstituted_at", lambda: lb.update_vial(vial["id"], {"reconstituted_at": "soon"},
                                                    nurse["id"])),
        ("vial_units", lambda: lb.update_vial(vial["id"], {"vial_units": "abc"},
                                              nurse["id"])),
        ("vial_units", lambda: lb.add_vial(proc["id"], {"product": "onabotulinumtoxinA",
                                                        "vial_units": 137}, nurse["id"])),
        ("diluent_ml", lambda: lb.add_vial(proc["id"], {"product": "onabotulinumtoxinA",
                                                        "vial_units": 100, "diluent_ml": 0},
                                           nurse["id"])),
        ("lot", lambda: lb.update_vial(vial["id"], {"lot": big}, nurse["id"])),
        ("at", lambda: _inject(lb, nurse, proc, vial, at="yesterday")),
        ("units", lambda: _inject(lb, nurse, proc, vial, units=math.inf)),
        ("units", lambda: _inject(lb, nurse, proc, vial, units=math.nan)),
        ("muscle", lambda: _inject(lb, nurse, proc, vial, muscle=big)),
        ("muscle", lambda: _inject(lb, nurse, proc, vial, muscle="heart")),
        ("site", lambda: _inject(lb, nurse, proc, vial, site=1.5)),
        ("needle_gauge", lambda: _inject(lb, nurse, proc, vial, needle_gauge=-30)),
    ]
    for field, call in cases:
        _refused(field, call, "Quill", BIRTH)
    assert _count(lb, "injections") == 0 and _count(lb, "patients") == 1
    logged = _inject(lb, nurse, proc, vial)  # nothing stored broke this
    assert logged["units"] == 20 and logged["volume_ml"] == pytest.approx(0.4)
    _refused("units", lambda: lb.update_injection(logged["id"], {"units": math.nan},
                                                  nurse["id"]))
    assert lb.procedure(proc["id"])["injections"][0]["units"] == 20  # the dose not erased


# 2. roles -------------------------------------------------------------------------------

def test_roles_hold(lb, staff):
    doc, nurse = staff
    with pytest.raises(LogbookError, match="only a physician or admin may add a physician"):
        lb.add_user({"name": "Dr Climb", "role": "physician", "pin": "4321"}, by=nurse["id"])
    other = lb.add_user({"name": "Dr Two", "role": "physician", "pin": "4321"}, by=doc["id"])
    admin = lb.add_user({"name": "IT", "role": "admin", "pin": "9876"}, by=_admin(lb, doc))
    lb.add_user({"name": "Dr Three", "role": "physician", "pin": "4321"}, by=admin["id"])
    with pytest.raises(LogbookError, match="only a physician or nurse may write"):
        lb.add_patient({"mrn": "M-9", "family_name": "Q"}, by=admin["id"])
    p, proc, vial = _session(lb, staff)
    with pytest.raises(LogbookError, match="^physician_id: not an active physician"):
        lb.update_procedure(proc["id"], {"physician_id": nurse["id"]}, nurse["id"])
    inj = _inject(lb, nurse, proc, vial)
    lb.sign_off(proc["id"], doc["id"])
    for changes in ({"units": 25}, ):
        with pytest.raises(LogbookError, match="only a physician may amend a signed dose"):
            lb.amend(proc["id"], "injections", inj["id"], changes, "typo", nurse["id"])
    with pytest.raises(LogbookError, match="only a physician may amend a signed dose"):
        lb.amend(proc["id"], "procedures", proc["id"], {"physician_id": other["id"]},
                 "wrong doctor", nurse["id"])
    lb.amend(proc["id"], "procedures", proc["id"], {"notes": "tolerated well"}, "added",
             nurse["id"])  # a note is a nurse's to amend
    lb.amend(proc["id"], "injections", inj["id"], {"units": 25}, "typo", doc["id"])


def _admin(lb, doc):
    """The demo has no admin: the first admin is written as a setup script would."""
    from app.logbook import pins

    row = {"id": ids.new_id(), "name": "Root", "role": "admin",
           "pin_hash": pins.hash_pin("5555"), "active": 1, "created_at": ids.now()}
    with lb.transaction():
        lb._insert("users", row, doc["id"])
    return row["id"]


# 3. warnings resolved before a signature ------------------------------------------------

def test_sign_off_refuses_open_warnings_and_names_them(lb, staff):
    doc, nurse = staff
    p, proc, vial = _session(lb, staff)
    inj = _inject(lb, nurse, proc, vial, units=120, muscle="sternocleidomastoid")  # over
    assert inj["warnings"]
    with pytest.raises(LogbookError, match="still open") as e:
        lb.sign_off(proc["id"], doc["id"])
    assert inj["warnings"][0]["rule"] in str(e.value)
    for w in inj["warnings"]:
        lb.override_warning(w["id"], "deliberate: severe spasm", doc["id"])
    assert lb.sign_off(proc["id"], doc["id"])["signed_at"]


def test_a_voided_injections_warnings_do_not_hold_the_signature(lb, staff):
    doc, nurse = staff
    p, proc, vial = _session(lb, staff)
    inj = _inject(lb, nurse, proc, vial, units=120, muscle="sternocleidomastoid")
    lb.void_injection(inj["id"], "wrong muscle", nurse["id"])
    assert lb.sign_off(proc["id"], doc["id"])["signed_at"]


def test_a_blank_override_reason_is_refused_not_dropped(lb, staff):
    doc, nurse = staff
    p, proc, vial = _session(lb, staff)
    with pytest.raises(LogbookError, match="override of .*a few words"):
        lb.log_injection(proc["id"], {"vial_id": vial["id"], "units": 120,
                                      "muscle": "sternocleidomastoid", "side": "left"},
                         nurse["id"], overrides={"per_muscle_max": "  "},
                         override_by=doc["id"])
    assert _count(lb, "injections") == 0
    inj = _inject(lb, nurse, proc, vial, units=120, muscle="sternocleidomastoid")
    with pytest.raises(LogbookError, match="a few words"):
        lb.override_warning(inj["warnings"][0]["id"], " ", doc["id"])


def test_an_amendment_runs_the_dose_rules_and_needs_overrides(lb, staff):
    doc, nurse = staff
    p, proc, vial = _session(lb, staff)
    inj = _inject(lb, nurse, proc, vial, units=20, muscle="sternocleidomastoid")
    lb.sign_off(proc["id"], doc["id"])
    with pytest.raises(LogbookError, match="need a physician's override") as e:
        lb.amend(proc["id"], "injections", inj["id"], {"units": 120}, "re-read the chart",
                 doc["id"])
    rules = [r.split(":")[0].strip() for r in str(e.value).split("reason: ")[1].split("; ")]
    assert _count(lb, "amendments") == 0
    done = lb.amend(proc["id"], "injections", inj["id"], {"units": 120}, "re-read the chart",
                    doc["id"], overrides={r: "confirmed with the chart" for r in rules})
    assert done["changes"]["units"]["new"] == 120
    kept = [w for w in lb.procedure(proc["id"])["dose_warnings"] if w["rule"] in rules]
    assert kept and all(w["override_by"] == doc["id"] for w in kept)


# 4. records stay consistent --------------------------------------------------------------

def test_units_and_volume_follow_each_other_from_the_vial(lb, staff):
    doc, nurse = staff
    p, proc, vial = _session(lb, staff)  # 100 U in 2 mL: 5 U per 0.1 mL
    inj = _inject(lb, nurse, proc, vial, units=30)
    assert inj["volume_ml"] == pytest.approx(0.6)
    assert lb.update_injection(inj["id"], {"units": 35}, nurse["id"])["volume_ml"] == \
        pytest.approx(0.7)
    assert lb.update_injection(inj["id"], {"volume_ml": 0.4}, nurse["id"])["units"] == \
        pytest.approx(20)


def test_a_voided_injection_is_not_edited_but_may_be_restored(lb, staff):
    doc, nurse = staff
    p, proc, vial = _session(lb, staff)
    inj = _inject(lb, nurse, proc, vial)
    lb.void_injection(inj["id"], "logged twice", nurse["id"])
    with pytest.raises(LogbookError, match="voided"):
        lb.update_injection(inj["id"], {"units": 25}, nurse["id"])
    lb.sign_off(proc["id"], doc["id"])
    with pytest.raises(LogbookError, match="only an amendment restoring it"):
        lb.amend(proc["id"], "injections", inj["id"], {"units": 25}, "typo", doc["id"])
    lb.amend(proc["id"], "injections", inj["id"], {"voided": False}, "was given after all",
             doc["id"])
    assert not lb.procedure(proc["id"])["injections"][0]["voided"]
