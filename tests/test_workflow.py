"""The workflow without a window: every field's check and message, doses from the
dilution, totals against limits, snippet quantisation, the idle lock, and a procedure from
set-up to signature, amendment, history and export."""

from __future__ import annotations

import datetime
import time
from types import SimpleNamespace

import numpy as np
import pytest

from app.logbook import Logbook
from app.workflow import dose, fields, history, snippet
from app.workflow.access import Access
from app.workflow.procedure import ProcedureFlow

TODAY = datetime.date(2026, 11, 24)


@pytest.mark.parametrize("text,value,message", [
    ("25", 25.0, ""), ("2,5", 2.5, ""), ("", None, ""),
    ("abc", None, "Units must be a number in units, not 'abc'"),
    ("-5", None, "Units must be more than 0"), ("0", None, "Units must be more than 0"),
    ("1e9", None, "1e+09 units is not a dose: check the number")])
def test_units(text, value, message):
    c = fields.parse_units(text)
    assert (c.value, c.message) == (value, message)


def test_volume_weight_pain_site_and_required_fields():
    assert fields.parse_volume("-0.1").message == "Volume cannot be negative"
    assert fields.parse_volume("0.25").value == 0.25
    assert fields.parse_volume("x").message.startswith("Volume must be a number")
    assert fields.parse_units("", required=True).message == "Units is needed"
    assert fields.parse_weight("0").message == "Weight must be between 0 and 400 kg"
    assert fields.parse_pain("11").message == "Pain score is a whole number from 0 to 10"
    assert fields.parse_pain("7").value == 7
    assert fields.parse_site("0").message == "Site is a whole number from 1 to 99"
    assert fields.parse_muscle("", {}).message == "Choose a muscle"
    assert fields.parse_muscle("nose", {"biceps_brachii": {}}).message.startswith("That")
    assert fields.parse_pin("12a4").message == "A PIN is 4 to 12 digits"
    assert fields.parse_reason(" ").message.startswith("A reason is needed")


def test_dates_refuse_the_future_and_expiry_reads_barcodes():
    assert fields.parse_date("2030-01-01", "Birth date", today=TODAY).message == \
        "Birth date cannot be in the future"
    assert fields.parse_date("1961-05-17", "Birth date", today=TODAY).value == "1961-05-17"
    assert fields.parse_date("17/05/1961", "Birth date").message.startswith("Birth date is")
    assert fields.parse_expiry("2027-03").value == "2027-03"
    assert fields.parse_expiry("(01)00300231234567(17)270331(10)C1234").value == "2027-03-31"
    assert fields.parse_expiry("2027-13").message == "Expiry is not a real date"
    assert fields.parse_lot("(01)00300231234567(17)270331(10)C1234").value == "C1234"
    assert fields.is_expired("2020-01", TODAY) and not fields.is_expired("2026-11", TODAY)
    now = datetime.datetime(2026, 11, 24, 9, 0).astimezone()
    assert fields.parse_time_today("10:30", now=now).message == \
        "Reconstitution time cannot be in the future"
    assert fields.parse_time_today("8:15", now=now).value.hour == 8
    assert fields.parse_time_today("25:00", now=now).message == "Time is HH:MM, like 08:30"


def test_units_and_volume_follow_the_dilution_of_each_product(lb):
    cat = lb.cat
    botox = {"product": "onabotulinumtoxinA", "vial_units": 100, "diluent_ml": 2}
    assert dose.per_tenth_ml_text(cat, botox) == "5 U / 0.1 mL"
    assert dose.complete(cat, botox, units=25, volume_ml=None)["volume_ml"] == 0.5
    assert dose.complete(cat, botox, units=None, volume_ml=0.3)["units"] == 15
    myobloc = {"product": "rimabotulinumtoxinB", "vial_units": 5000, "diluent_ml": 0}
    assert dose.per_tenth_ml_text(cat, myobloc) == "500 U / 0.1 mL"  # its own solution
    lido = {"product": "lidocaine", "mg_per_ml": 10}
    assert dose.complete(cat, lido, units=None, volume_ml=2)["dose_mg"] == 20


def test_running_totals_per_product_against_the_session_limit(lb):
    cat = lb.cat
    vials = [{"id": "a", "product": "onabotulinumtoxinA"},
             {"id": "b", "product": "abobotulinumtoxinA"}]
    inj = [{"vial_id": "a", "units": 150, "muscle": "biceps_brachii"},
           {"vial_id": "a", "units": 100, "muscle": "biceps_brachii", "voided": 1},
           {"vial_id": "b", "units": 500, "muscle": "sternocleidomastoid"}]
    lines = {t["product"]: t for t in dose.running_totals(cat, inj, vials)}
    assert lines["onabotulinumtoxinA"]["text"] == "BOTOX  150 U of 400"
    assert lines["abobotulinumtoxinA"]["text"] == "DYSPORT  500 U of 1000"  # cervical


def test_snippet_counts_are_exact_for_hardware_and_fit_int16_for_the_simulator():
    step = 0.4882813
    counts = np.array([[-2048], [0], [5], [2047]], np.int16)
    q, scale = snippet.quantise(counts.astype(np.float64) * step, step)
    assert scale == step and np.array_equal(q, counts)
    sim = np.array([0.0, 1234.567, -300.0], np.float32)
    q, scale = snippet.quantise(sim, None)
    assert scale == 0.05 and q.dtype == np.int16 and int(q.max()) == 24691
    assert snippet.choose_scale(np.array([31999 * 0.01])) == 0.01
    assert snippet.choose_scale(np.array([32000 * 0.01])) == 0.02
    assert snippet.choose_scale(np.array([5e5])) == 20.0


def test_idle_lock_and_roles(lb, users):
    now = [0.0]
    access = Access(lb, lock_after_s=120, clock=lambda: now[0])
    assert access.locked
    assert access.sign_in(users["nurse"]["id"], "12") == "A PIN is 4 to 12 digits"
    assert access.sign_in(users["nurse"]["id"], "9999") == "Wrong PIN: try again"
    assert access.sign_in(users["nurse"]["id"], "2468") == "" and access.role() == "nurse"
    now[0] = 119
    assert not access.tick()
    access.activity()
    now[0] = 200
    assert not access.tick()
    now[0] = 240
    assert access.tick() and access.locked
    assert access.check(users["nurse"]["id"], "2468", role="physician") == \
        "Only a physician may do this"
    assert access.check(users["doc"]["id"], "1357", role="physician") == ""


def fake_mark(seconds_ago=1.0, peak=400.0):
    fs = 4000.0
    t = np.arange(int(7 * fs) + 1) / fs
    raw = (peak * np.sin(2 * np.pi * 80 * t)).astype(np.float32)[:, None]
    return SimpleNamespace(pressed_at=time.monotonic() - seconds_ago, fs=fs, raw=raw,
                           samples=raw, uv_per_count=None, press_offset=int(5 * fs),
                           source_uri="sim:denervated?seed=3", source_kind="simulator",
                           calibrated=True,
                           findings={"rms_uv": 283.0, "end_plate_noise_per_s": 12.0,
                                     "tonic_activity": True, "trains": [],
                                     "rates_per_s": {}, "end_plate_noise": True})


def test_a_procedure_from_setup_to_signature_and_history(lb, users, tmp_path):
    nurse, doc = users["nurse"]["id"], users["doc"]["id"]
    flow = ProcedureFlow(lb)
    pt, msgs = flow.add_patient({"mrn": "", "family_name": "Doe",
                                 "birth_date": "2099-01-01", "weight_kg": "-3"}, nurse)
    assert pt is None and msgs == {"mrn": "MRN is needed",
                                   "birth_date": "Birth date cannot be in the future",
                                   "weight_kg": "Weight must be between 0 and 400 kg"}
    pt, msgs = flow.add_patient({"mrn": "MRN77", "family_name": "Doe", "given_name": "Ann",
                                 "birth_date": "1961-05-17", "weight_kg": "68"}, nurse)
    assert msgs == {} and [p["mrn"] for p in flow.search_patients("do")] == ["MRN77"]
    assert flow.search_patients("mrn7")[0]["id"] == pt["id"]
    proc, msgs = flow.start({"kind": "botulinum", "indication": "",
                             "physician_id": doc, "pain_before": "6",
                             "timeout_identity": True}, nurse)
    assert proc is None and msgs == {"indication": "Indication is needed",
                                      "timeout": "Time-out: confirm consent, side"}
    proc, msgs = flow.start({"kind": "botulinum", "indication": "spasticity",
                             "physician_id": doc, "pain_before": "6", "timeout_identity": 1,
                             "timeout_consent": 1, "timeout_side": 1}, nurse)
    assert msgs == {}
    form = {"product": "onabotulinumtoxinA", "vial_units": "100", "diluent_ml": "2",
            "lot": "C1234", "expiry": "2020-01", "reconstituted_at": "00:00"}
    assert flow.vial_preview(form) == "5 U / 0.1 mL"
    assert flow.expiry_note("2020-01").startswith("EXPIRED lot")
    vial, msgs = flow.add_vial({**form, "vial_units": "120", "expiry": "2027-03"}, nurse)
    assert vial is None and msgs == {"vial_units": "This product comes in 50, 100, 200 "
                                                   "unit vials"}
    vial, msgs = flow.add_vial({**form, "expiry": "2027-03"}, nurse)
    assert msgs == {}
    # A mark while nobody is signed in waits, its EMG already in the logbook's pending
    # marks (a crash would lose nothing); three marks are saved with their EMG.
    assert flow.on_mark(fake_mark(), None) is None and len(flow.queued) == 1
    assert [m["id"] for m in lb.pending_marks()] == [flow.queued[0].pending_id]
    entries = flow.flush_queue(nurse) + [flow.on_mark(fake_mark(), nurse) for _ in range(2)]
    assert lb.pending_marks() == []  # each taken by its injection
    assert len(entries) == 3 and lb.snippet(entries[0].injection_id)["uv_per_count"] == 0.02
    assert lb.snippet(entries[0].injection_id)["provenance"] == "SIMULATED - not a patient"
    e = entries[0]
    assert flow.set_field(e, "muscle", "", nurse) == "Choose a muscle"
    assert flow.set_field(e, "muscle", "biceps_brachii", nurse) == ""
    assert flow.set_field(e, "side", "left", nurse) == ""
    assert flow.set_field(e, "units", "ten", nurse).startswith("Units must be a number")
    assert e.text["units"] == "ten"  # kept as typed
    assert flow.set_field(e, "units", "60", nurse) == ""
    assert e.text["volume_ml"] == "1.2"
    inj = flow.injection(e)
    assert (inj["units"], inj["volume_ml"]) == (60.0, 1.2)
    assert inj["emg_findings"]["words"][0] == "End-plate noise"
    warned = flow.warnings(e)
    assert [w["rule"] for w in warned] == ["per_site_max"]
    assert flow.override(e, warned[0], "", doc).startswith("A reason is needed")
    assert "only a physician" in flow.override(e, warned[0], "deliberate, large muscle",
                                               nurse)
    assert flow.override(e, warned[0], "deliberate, large muscle", doc) == ""
    assert flow.warnings(e)[0]["override_reason"] == "deliberate, large muscle"
    e2 = entries[1]
    flow.set_field(e2, "muscle", "brachialis", nurse)
    flow.set_field(e2, "side", "left", nurse)
    assert flow.set_field(e2, "volume_ml", "0.4", nurse) == ""
    assert e2.text["units"] == "20"
    assert flow.set_field(e2, "volume_ml", "-1", nurse) == "Volume cannot be negative"
    assert [t["text"] for t in flow.totals()] == ["BOTOX  80 U of 400"]
    assert flow.close("", {vial["id"]: "-2"}, nurse) == {
        "injections": "Injection 3: choose a muscle, choose the side, enter units or volume "
                      "(or void it)",
        "pain_after": "Pain score is needed (0 to 10)",
        f"wasted:{vial['id']}": "Units wasted cannot be negative"}
    assert flow.void(entries[2], "", nurse).startswith("A reason is needed")
    assert flow.void(entries[2], "marked twice", nurse) == ""
    assert flow.close("3", {vial["id"]: "10"}, nurse) == {}
    s = flow.summary()
    assert s["wasted_units"] == 10 and s["pain_after"] == 3 and len(s["injections"]) == 3
    flow.sign(doc)
    assert flow.amend("injections", e.injection_id, {"units": 50}, "", doc).startswith("A")
    assert flow.amend("injections", e.injection_id, {"units": 50}, "miscounted", doc) == ""
    assert flow.summary()["injections"][0]["text"].startswith("1. Biceps brachii left")
    assert "50 U" in flow.summary()["injections"][0]["text"]
    # History: the timeline, the charts' series, a follow-up pain score, exports.
    assert history.add_followup_pain(lb, proc["id"], "12", nurse).startswith("Pain score")
    assert history.add_followup_pain(lb, proc["id"], "2", nurse) == ""
    tl = history.timeline(lb, pt["id"])
    assert tl["procedures"][0]["totals"] == "BOTOX  70 U of 400"
    series = history.muscle_series(lb, pt["id"])
    p = series["biceps_brachii:left"]["points"][0]
    assert (p["doses"], p["rms_uv"], p["tonic"], p["pain_followup"]) == (
        {"onabotulinumtoxinA": {"amount": 50.0, "unit": "U"}}, 283.0, 1.0, 2)
    assert [r["mrn"] for r in history.patients(lb, "Doe")] == ["MRN77"]
    for kind in history.EXPORTS:
        assert history.export(lb, proc["id"], kind, tmp_path / kind)
    # The next session offers this one's plan and shows the rolling total.
    last = ProcedureFlow(lb).last_session(pt["id"])
    assert last["rolling"] == {"onabotulinumtoxinA": 70.0}
    assert {(p.muscle, p.units) for p in last["plan"]} == {
        ("biceps_brachii", 50.0), ("brachialis", 20.0)}
    assert set(ProcedureFlow(lb).usual_muscles(pt["id"])) == {"biceps_brachii", "brachialis"}


@pytest.fixture
def lb(tmp_path):
    with Logbook(tmp_path / "lb.db") as book:
        yield book


@pytest.fixture
def users(lb):
    doc = lb.add_user({"name": "Dr Who", "role": "physician", "pin": "1357"})
    nurse = lb.add_user({"name": "Nurse Joy", "role": "nurse", "pin": "2468"}, by=doc["id"])
    return {"doc": doc, "nurse": nurse}


def test_a_snippet_plays_through_the_live_renderer_or_says_no_sound():
    from app.workflow.playback import TAIL_S, Player, render

    fs = 20000.0
    t = np.arange(int(0.5 * fs)) / fs
    counts = np.rint(200 * np.sin(2 * np.pi * 100 * t) / 0.5).astype(np.int16)[:, None]
    out = render(counts, 0.5, fs, 48000.0, sensitivity_uv=50.0, volume=1.0)
    assert out.dtype == np.float32 and np.all(np.isfinite(out))
    assert abs(len(out) - (0.5 + TAIL_S) * 48000) < 0.05 * 48000
    assert 0.1 < float(np.max(np.abs(out))) < 1.0  # loud, never full scale
    assert np.all(out[-int(TAIL_S * 48000) // 2:] == 0)
    snip = {"samples": counts, "uv_per_count": 0.5, "fs": fs, "frames": len(counts)}
    assert Player(None).play(snip).startswith("NO SOUND")
    assert Player(SimpleNamespace(speaker=None)).play(snip).startswith("NO SOUND")


def test_the_all_procedures_list_reads_newest_first(lb, users):
    flow = ProcedureFlow(lb)
    nurse, doc = users["nurse"]["id"], users["doc"]["id"]
    for k in range(3):
        pt, _ = flow.add_patient({"mrn": f"M{k}0", "family_name": f"F{k}",
                                  "birth_date": "1980-01-01"}, nurse)
        flow.start({"kind": "trigger_point", "indication": "neck pain", "physician_id": doc,
                    "pain_before": "5", "timeout_identity": 1, "timeout_consent": 1,
                    "timeout_side": 1}, nurse)
    rows = history.all_procedures(lb)
    assert [r["mrn"] for r in rows] == ["M20", "M10", "M00"]
    assert history.procedure_row_text(rows[0]).endswith("Trigger point  0 inj  OPEN")


def test_a_mark_pressed_with_no_procedure_open_is_never_saved_into_a_later_one(lb, staff):
    """It stays unassigned, with its EMG, until a user assigns it to the open procedure
    (audited as taken by them) or discards it with a reason."""
    doc, nurse = (u["id"] for u in staff)
    flow = ProcedureFlow(lb)
    assert flow.on_mark(fake_mark(), nurse) is None and flow.on_mark(fake_mark(), None) is None
    assert len(flow.unassigned()) == 2 and flow.queued == []
    proc = _started(lb, doc, nurse, "UA-1", flow).procedure
    assert flow.flush_queue(nurse) == []
    assert lb.procedure(proc["id"])["injections"] == []  # nothing saved silently
    first, second = flow.unassigned()
    entry = flow.assign(first["id"], nurse)
    inj = lb.procedure(proc["id"])["injections"]
    assert [i["id"] for i in inj] == [entry.injection_id] and inj[0]["has_snippet"]
    assert inj[0]["at"] == first["pressed_at"]  # timed at its press
    assert flow.discard(second["id"], "", nurse).startswith("A reason is needed")
    assert flow.discard(second["id"], "pressed before the patient came in", nurse) == ""
    assert flow.unassigned() == []
    taken = lb.db.execute("SELECT user_id FROM audit WHERE tbl = 'pending_marks' AND "
                          "action = 'take'").fetchall()
    assert taken == [(nurse,)]


def test_each_injection_is_drawn_from_its_own_vial_and_converts_with_it(lb, staff):
    """Two vials of one product, two dilutions: the entry names the vial in use, one tap
    moves an injection to the other, and its volume follows that vial's dilution."""
    doc, nurse = (u["id"] for u in staff)
    flow = _started(lb, doc, nurse, "VV-1")
    form = {"product": "onabotulinumtoxinA", "vial_units": "100", "expiry": "2030-01",
            "reconstituted_at": "00:00"}
    a, _ = flow.add_vial({**form, "diluent_ml": "2", "lot": "C4471"}, nurse)
    b, _ = flow.add_vial({**form, "diluent_ml": "1", "lot": "C5512"}, nurse)
    e = flow.new_entry(nurse)  # drawn from the vial in use: the last added
    assert flow.vial_of(e)["id"] == b["id"]
    assert flow.set_field(e, "units", "20", nurse) == "" and e.text["volume_ml"] == "0.2"
    assert flow.set_vial(e, a["id"], nurse) == ""
    inj = flow.injection(e)
    assert (inj["vial_id"], inj["units"], inj["volume_ml"]) == (a["id"], 20.0, 0.4)
    assert e.text["volume_ml"] == "0.4" and flow.vial_id == a["id"]
    labels = flow.vial_labels()
    assert labels[a["id"]] == "BOTOX lot C4471: 5 U / 0.1 mL, 80 U left"
    assert labels[b["id"]] == "BOTOX lot C5512: 10 U / 0.1 mL, 100 U left"
    assert flow.injection(flow.new_entry(nurse))["vial_id"] == a["id"]


def test_a_warning_is_recorded_the_moment_its_dose_is_confirmed(lb, staff):
    """90 U confirmed in a biceps: the warning is on record at once (the app may die right
    after); the close screen lists it and the signature waits for its override. A dose
    corrected before that withdraws it instead."""
    from app.logbook import LogbookError

    doc, nurse = (u["id"] for u in staff)
    flow = _started(lb, doc, nurse, "NL-1")
    flow.add_vial({"product": "onabotulinumtoxinA", "vial_units": "200", "expiry": "2030-01",
                   "reconstituted_at": "00:00", "diluent_ml": "4", "lot": "C1"}, nurse)
    e = flow.new_entry(nurse)
    for name, value in (("muscle", "biceps_brachii"), ("side", "left")):
        assert flow.set_field(e, name, value, nurse) == ""
    assert flow.preview(e, "units", "90") == "= 1.8 mL, Enter to save"
    assert lb.open_warnings(flow.procedure["id"]) == []  # a preview records nothing
    assert flow.set_field(e, "units", "90", nurse) == ""
    listed = lb.open_warnings(flow.procedure["id"])
    assert [w["rule"] for w in listed] == ["per_site_max"] == \
        [w["rule"] for w in flow.open_warnings()] == [w["rule"] for w in flow.warnings(e)]
    with pytest.raises(LogbookError, match="still open"):
        flow.sign(doc)
    e2 = flow.new_entry(nurse)
    for name, value in (("muscle", "brachialis"), ("side", "left"), ("units", "70"),
                        ("units", "40")):
        assert flow.set_field(e2, name, value, nurse) == ""
    assert flow.warnings(e2) == [] and len(flow.open_warnings()) == 1
    for w in listed:
        assert flow.override(e, w, "deliberate, large muscle", doc) == ""
    flow.close("2", {}, nurse)
    assert flow.sign(doc)["signed_at"]


def _started(lb, doc, nurse, mrn, flow=None):
    """A botulinum procedure started through the flow for a new patient `mrn`."""
    flow = flow or ProcedureFlow(lb)
    flow.add_patient({"mrn": mrn, "family_name": "Flow", "birth_date": "1970-01-01",
                      "weight_kg": "70"}, nurse)
    _, msgs = flow.start({"kind": "botulinum", "indication": "spasticity",
                          "physician_id": doc, "pain_before": "5", "timeout_identity": 1,
                          "timeout_consent": 1, "timeout_side": 1}, nurse)
    assert msgs == {}
    return flow
