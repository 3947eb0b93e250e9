"""A clinic session through the real app under Xvfb (tests/clinicdriver.py): two vials of
different dilutions, six injections over four muscles, a mark pressed before the procedure,
an override, a dose typed in error and corrected, a void, a lock in the middle, sign-off
and an amendment. Then the record is checked as the screens left it in the logbook, the
audit trail (one row per confirmed value), and the CSV, FHIR and PDF, field by field."""

from __future__ import annotations

import csv
import json
import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from app.logbook import Logbook
from tests.uiutil import display, result, start

DISPLAYS = range(90, 100)  # ours on this shared machine

# seq: (lot, muscle, side, units, volume_ml, voided), as tapped and typed by the driver
EXPECTED = {1: ("C4471", "biceps_brachii", "left", 25.0, 0.5, 0),  # 20 U amended to 25
            2: ("C4471", "brachialis", "left", 20.0, 0.4, 0),
            3: ("C5512", "biceps_brachii", "left", 60.0, 0.6, 0),
            4: ("C5512", "flexor_carpi_radialis", "right", 30.0, 0.3, 0),
            5: ("C5512", None, None, None, None, 1),
            6: ("C4471", "brachioradialis", "left", 25.0, 0.5, 0)}


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    home = tmp_path_factory.mktemp("clinic")
    shots = os.environ.get("CLINIC_SHOTS") or str(home / "shots")  # a screenshot a step
    with display(DISPLAYS) as disp:
        res = result(start("clinic", {"out": shots}, home, disp,
                           driver="tests.clinicdriver"), 420)
    return home, res


def test_the_screens_said_what_the_record_holds(session):
    _home, res = session
    assert res["early_mark_text"].startswith("Mark kept, no procedure open")
    assert res["unassigned_text"].startswith("SIMULATED - not a patient. Mark pressed at ")
    assert "with no procedure open: " in res["unassigned_text"]
    assert round(res["unassigned_emg_s"], 2) == 7.0  # its EMG drawn beside it
    e1 = res["entry1"]
    assert e1["number"] == 1 and e1["findings"].startswith(
        "EMG at the mark: SIMULATED - not a patient")
    assert e1["preview"] == "= 0.4 mL, Enter to save" and e1["saved_before_enter"] is None
    assert e1["vials"] == ["BOTOX lot C4471: 5 U / 0.1 mL, 80 U left",
                           "BOTOX lot C5512: 10 U / 0.1 mL, 100 U left"]
    assert res["mark2_text"].startswith("Injection 2 marked")
    assert res["entry2"] == {"units": "20", "number": 2}
    assert res["entry3"]["volume"] == "0.6" and res["entry3"]["open_on_record"] == 1
    assert res["entry3"]["overridden"] == ["Overridden: large muscle, deliberate dose"]
    assert res["locked"]
    assert res["entry4"] == {"vial_chosen": ["BOTOX lot C5512: 10 U / 0.1 mL, 10 U left"],
                             "volume": "0.3"}
    assert res["entry5"] == {"voided": True, "message": "Injection 5 voided."}
    assert res["entry6"]["open_at_90"] == 3 and res["entry6"]["warnings_at_25"] == []
    assert res["totals"] == ["BOTOX  155 U of 400"] and res["signed"]
    assert res["amend_preview"] == ("Injection 1, Biceps brachii left: 20 U (0.4 mL) -> "
                                    "25 U (0.5 mL) at 5 U / 0.1 mL")
    assert res["amend_who"] == ["Dr Ada Reyes (signed)"]
    assert res["amend_wrong_pin"] == "Dr Ada Reyes's PIN: Wrong PIN: try again"
    assert res["amend_message"] == "Amendment saved."
    assert res["summary_after_amend"].startswith(
        "1. Biceps brachii left site 1: 25 U (0.5 mL)  lot C4471")
    assert len(res["steps"]) == 16
    record = res["detail_record"].splitlines()
    assert record[0].endswith("Biceps brachii left site 1: 25 U (0.5 mL)  onabotulinumtoxinA "
                              "lot C4471, entered by Nurse Sam Lee  (amended)")
    assert record[1].startswith("     EMG (SIMULATED - not a patient): ")
    assert "[OVERRIDDEN by Dr Ada Reyes: large muscle, deliberate dose]" in res["detail_record"]
    assert record[-2].startswith("Signed ") and re.search(  # local, with its zone
        r" \(UTC[+-]\d\d:\d\d\) by Dr Ada Reyes$", record[-2])
    assert record[-1].endswith("Dr Ada Reyes: injection 1: units 20 -> 25 U; volume 0.4 -> "
                               "0.5 mL. Reason: 25 U given, 20 U written")
    day = res["started_at"][:10]
    assert res["recall"] == {
        "note": "Lot c5512 (matched trimmed, any case): 1 patient(s), 2 injection(s); 1 "
                "voided, not given",
        "rows": [f"{day}  Haddad, Rana  MRN MRN-7731   onabotulinumtoxinA lot C5512  "
                 "Biceps brachii left 60 U",
                 f"{day}  Haddad, Rana  MRN MRN-7731   onabotulinumtoxinA lot C5512  "
                 "Flexor carpi radialis right 30 U"]}


def test_the_record_holds_each_injection_as_tapped(session):
    home, res = session
    with Logbook(home / "logbook.db") as lb:
        rec = lb.procedure(res["procedure_id"])
        lots = {v["id"]: v["lot"] for v in rec["vials"]}
        got = {i["seq"]: (lots.get(i["vial_id"]), i["muscle"], i["side"], i["units"],
                          i["volume_ml"], i["voided"]) for i in rec["injections"]}
        assert got == EXPECTED
        first = rec["injections"][0]
        # the early mark kept its own time, before the procedure began, and its EMG
        assert first["at"] < rec["started_at"] and first["has_snippet"]
        nurse = next(u["id"] for u in lb.users() if u["role"] == "nurse")
        doc = next(u["id"] for u in lb.users() if u["role"] == "physician")
        # every mark was kept as pending first, and each taken by its injection; the early
        # one by the nurse's "Assign here", as the audit trail says
        taken = {r[0]: r[1] for r in lb.db.execute(
            "SELECT injection_id, taken_by FROM pending_marks")}
        marked = [i["id"] for i in rec["injections"] if i["has_snippet"]]
        assert set(taken) == set(marked) and len(marked) == 5
        assert taken[first["id"]] == nurse
        assert lb.db.execute("SELECT count(*) FROM audit WHERE action = 'take' AND user_id = "
                             "? AND new LIKE ?", [nurse, f'%{first["id"]}%']).fetchone()[0] == 1
        warnings = {(w["rule"], next(i["seq"] for i in rec["injections"]
                                     if i["id"] == w["injection_id"])):
                    (w["override_by"], bool(w["withdrawn_at"])) for w in rec["dose_warnings"]}
        assert warnings == {("per_site_max", 3): (doc, False),
                            ("per_site_max", 6): (None, True),
                            ("muscle_typical_max", 6): (None, True),
                            ("vial_overdrawn", 6): (None, True)}
        assert lb.open_warnings(rec["id"]) == [] and rec["signed_by"] == doc
        (amend,) = rec["amendments"]
        assert amend["by"] == doc and amend["changes"] == {
            "units": {"old": 20.0, "new": 25.0}, "volume_ml": {"old": 0.4, "new": 0.5}}
        assert lb.verify()["ok"]


def test_the_audit_trail_holds_one_row_per_confirmed_value(session):
    """Keys typed one at a time ("2", "20"; "0", "0.", "0.4") leave one row per value
    confirmed with Enter; the corrected dose of injection 6 leaves two (90, then 25)."""
    home, res = session
    with Logbook(home / "logbook.db") as lb:
        seq = {r["id"]: r["seq"] for r in lb.db.query(
            "SELECT id, seq FROM injections WHERE procedure_id = ?", [res["procedure_id"]])}
        counts: dict[tuple[int, str], int] = {}
        for row_id, new in lb.db.execute(
                "SELECT row_id, new FROM audit WHERE tbl = 'injections' AND action = 'update'"):
            for name in json.loads(new):
                key = (seq[row_id], name)
                counts[key] = counts.get(key, 0) + 1
    units = {s: counts.get((s, "units"), 0) for s in EXPECTED}
    assert units == {1: 1, 2: 1, 3: 1, 4: 1, 5: 0, 6: 2}
    assert {s: counts.get((s, "site"), 0) for s in EXPECTED} == {1: 1, 2: 1, 3: 1, 4: 1,
                                                                 5: 0, 6: 1}
    assert counts[(2, "volume_ml")] == 1
    assert {s: counts.get((s, "muscle"), 0) for s in EXPECTED} == {1: 1, 2: 1, 3: 1, 4: 1,
                                                                   5: 0, 6: 1}


def _exports(home: Path, res: dict) -> Path:
    return home / "exports" / res["procedure_id"][:8]


def test_the_csv_says_lot_dose_volume_warnings_and_amendment(session):
    home, res = session
    out = _exports(home, res) / "csv"
    for f in out.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    rows = list(csv.DictReader((out / "injections.csv").open()))
    got = {int(r["seq"]): (r["lot"], r["muscle"] or None, r["side"] or None,
                           float(r["units"]) if r["units"] else None,
                           float(r["volume_ml"]) if r["volume_ml"] else None,
                           int(r["voided"])) for r in rows}
    assert got == EXPECTED
    by_seq = {int(r["seq"]): r for r in rows}
    assert by_seq[1]["amended"] == "1" and by_seq[2]["amended"] == "0"
    assert "[OVERRIDDEN by Dr Ada Reyes: large muscle, deliberate dose]" in \
        by_seq[3]["dose_warnings"]
    assert by_seq[6]["dose_warnings"].count("[WITHDRAWN by Nurse Sam Lee: no longer raised "
                                            "once units became 25") == 3
    assert by_seq[1]["dose_warnings"] == by_seq[4]["dose_warnings"] == ""
    (proc,) = csv.DictReader((out / "procedures.csv").open())
    assert proc["open_warnings"] == "0" and proc["amendments"] == "1"
    assert proc["products"] == "onabotulinumtoxinA 160 U" and proc["injections"] == "5"
    assert proc["signed_by"] == "Dr Ada Reyes"
    assert "Dr Ada Reyes: injection 1: units 20 -> 25 U; volume 0.4 -> 0.5 mL. Reason: " \
           "25 U given, 20 U written" in proc["amendment_notes"]


def test_the_fhir_bundle_says_lot_dose_volume_warnings_and_amendment(session):
    home, res = session
    (path,) = (_exports(home, res) / "fhir").iterdir()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    entries = [e["resource"] for e in json.loads(path.read_text())["entry"]]
    lots = {r["id"]: r["batch"]["lotNumber"] for r in entries
            if r["resourceType"] == "Medication"}
    admins = [r for r in entries if r["resourceType"] == "MedicationAdministration"]
    with Logbook(home / "logbook.db") as lb:
        seq = {i["id"]: i["seq"] for i in lb.procedure(res["procedure_id"])["injections"]}
    got = {}
    for a in admins:
        dose = a["dosage"].get("dose", {}).get("value")
        vol = a["dosage"].get("text")
        got[seq[a["id"]]] = (lots[a["medicationReference"]["reference"].split(":")[-1]],
                             dose, vol, a["status"])
    assert got == {s: (lot, units, f"{vol:g} mL" if vol is not None else None,
                       "entered-in-error" if voided else "completed")
                   for s, (lot, _m, _side, units, vol, voided) in EXPECTED.items()}
    notes = {seq[a["id"]]: " ".join(n["text"] for n in a.get("note", [])) for a in admins}
    assert "OVERRIDDEN by Dr Ada Reyes" in notes[3] and "WITHDRAWN" in notes[6]
    assert "dose warning" not in notes[1]
    (procedure,) = [r for r in entries if r["resourceType"] == "Procedure"]
    text = " ".join(n["text"] for n in procedure["note"])
    assert "units 20 -> 25 U; volume 0.4 -> 0.5 mL. Reason: 25 U given, 20 U written" in text


def pdf_text(path: Path) -> str:
    """The text on a PDF's pages as poppler's pdftotext reads it (the note's font is
    embedded as glyph ids, so only a real PDF reader gets its letters back); each page's
    lines joined by spaces, so a line the note wrapped reads whole."""
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], check=True,
                         capture_output=True, text=True).stdout
    return "\n".join(" ".join(page.split()) for page in out.split("\f"))


def test_the_pdf_note_says_lot_dose_volume_warnings_and_amendment(session):
    home, res = session
    (path,) = (_exports(home, res) / "pdf").iterdir()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = pdf_text(path)
    for line in ("left Biceps brachii site 1: 25 U 0.5 mL onabotulinumtoxinA lot C4471",
                 "left Brachialis site 1: 20 U 0.4 mL onabotulinumtoxinA lot C4471",
                 "left Biceps brachii site 2: 60 U 0.6 mL onabotulinumtoxinA lot C5512",
                 "right Flexor carpi radialis site 1: 30 U 0.3 mL onabotulinumtoxinA lot C5512",
                 "left Brachioradialis site 1: 25 U 0.5 mL onabotulinumtoxinA lot C4471",
                 "[OVERRIDDEN by Dr Ada Reyes: large muscle, deliberate dose]",
                 "[WITHDRAWN by Nurse Sam Lee: no longer raised once units became 25",
                 "units 20 -> 25 U; volume 0.4 -> 0.5 mL. Reason: 25 U given, 20 U written"):
        assert line in text, line
    assert "VOIDED: nothing was given" in text
    assert "NOT OVERRIDDEN" not in text and "OPEN" not in text
