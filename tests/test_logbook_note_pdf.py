"""The printed procedure note, read back with a real PDF reader (poppler): names in Latin,
Greek and Cyrillic letters as typed, any other letter as a visible placeholder with a
warning, local time with its zone, mg and mg/mL for a local anaesthetic, the needle only
when recorded, the audit trail's head, and no signature block while a warning is open."""

from __future__ import annotations

import datetime
import shutil
import subprocess

import pytest

from app.logbook import Logbook, demo, note_pdf
from tests.test_localtime import tz
from tests.test_ui_clinic import pdf_text

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None,
                                reason="poppler-utils (pdftotext) is not installed")

NAME = ("Łukasiewicz-Παπαδοπούλου", "Zoë Жанна 漢字")


@pytest.fixture
def warsaw():
    """The tablet's zone: Warsaw (CET in winter), whatever this machine's is."""
    with tz("Europe/Warsaw"):
        yield


@pytest.fixture
def tpi(tmp_path):
    """A trigger-point session with lidocaine: one injection with its needle recorded, one
    without, and enough mg to open two warnings."""
    lb = Logbook(tmp_path / "lb.db")
    doc, nurse = demo.users(lb)
    pt = lb.add_patient({"mrn": "W-1021", "family_name": NAME[0], "given_name": NAME[1],
                         "birth_date": "1970-03-02", "weight_kg": 70}, by=nurse["id"])
    proc = lb.start_procedure({"patient_id": pt["id"], "kind": "trigger_point",
                               "physician_id": doc["id"], "nurse_id": nurse["id"],
                               "started_at": "2026-12-07T19:16:42.000000Z",
                               "timeout": {"identity": True, "consent": True, "side": True}},
                              by=nurse["id"])
    lido = lb.add_vial(proc["id"], {"product": "lidocaine", "mg_per_ml": 10, "lot": "LD9",
                                    "expiry": "2099-06-30"}, by=nurse["id"])
    lb.log_injection(proc["id"], {"vial_id": lido["id"], "volume_ml": 1.5,
                                  "muscle": "trapezius_upper", "side": "right",
                                  "needle_gauge": 27, "needle_length_mm": 30,
                                  "at": "2026-12-07T19:20:05.000000Z"}, nurse["id"])
    lb.log_injection(proc["id"], {"vial_id": lido["id"], "volume_ml": 20,
                                  "muscle": "infraspinatus", "side": "right",
                                  "at": "2026-12-07T19:25:00.000000Z"}, nurse["id"])
    lb.log_injection(proc["id"], {"vial_id": lido["id"], "volume_ml": 15, "muscle": "rhomboid",
                                  "side": "left", "at": "2026-12-07T19:27:00.000000Z"},
                     nurse["id"])  # 365 mg in all: over 4.5 mg/kg and over 300 mg
    yield lb, proc["id"], doc
    lb.close()


def _note(lb, proc_id, tmp_path) -> tuple[str, object]:
    users = {u["id"]: u for u in lb.users()}
    (path,) = note_pdf.export([lb.procedure(proc_id)], tmp_path / "pdf", users)
    return pdf_text(path), path


def test_names_print_in_their_letters_and_others_as_a_placeholder_with_a_warning(
        tpi, tmp_path, warsaw):
    lb, proc_id, _ = tpi
    text, path = _note(lb, proc_id, tmp_path)
    assert "Łukasiewicz-Παπαδοπούλου, Zoë Жанна \ufffd\ufffd" in text
    assert "?" not in text.split("MRN")[0]  # never the silent question mark
    assert ("WARNING: 2 letter(s) in this record are in a script this note cannot print "
            "and show as \ufffd") in text
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True).stdout
    assert "DejaVuSans" in fonts and " yes " in fonts  # embedded
    # a record all in printable letters has no warning
    assert note_pdf.printable("Łucja Zoë Παπαδοπούλου Жанна") == (
        "Łucja Zoë Παπαδοπούλου Жанна", 0)
    assert note_pdf.printable("محمد") == ("\ufffd" * 4, 4)  # in the font, but not shaped


def test_times_are_local_with_their_zone(tpi, tmp_path, warsaw):
    lb, proc_id, _ = tpi
    text, _ = _note(lb, proc_id, tmp_path)
    # the offset, never the abbreviation (CET here; ambiguous or missing elsewhere)
    assert "Start 2026-12-07 20:16:42 (UTC+01:00)" in text and "CET" not in text
    assert "1. 20:20:05 (UTC+01:00)" in text and "2. 20:25:00 (UTC+01:00)" in text
    assert "19:16:42" not in text


def test_an_anaesthetic_reads_in_mg_and_mg_per_ml_and_a_needle_only_when_recorded(
        tpi, tmp_path, warsaw):
    lb, proc_id, _ = tpi
    text, _ = _note(lb, proc_id, tmp_path)
    assert "lidocaine 10 mg/mL lot LD9 exp 2099-06-30" in text
    assert "- U" not in text and "wasted" not in text
    assert "15 mg (1.5 mL of 10 mg/mL) lidocaine lot LD9 needle 27G 30 mm" in text
    second = text.split("2. 20:25:00")[1].split("Totals")[0]
    assert "200 mg (20 mL of 10 mg/mL)" in second
    assert "needle" not in second and "?G" not in text and "- mm" not in text


def test_the_audit_head_is_printed_and_no_signature_block_while_warnings_are_open(
        tpi, tmp_path, warsaw):
    lb, proc_id, doc = tpi
    text, _ = _note(lb, proc_id, tmp_path)
    head = lb.verify()["head"]
    assert head in text and f"{lb.verify()['audit_entries']} entries" in text
    assert "CANNOT BE SIGNED YET: 2 dose warning(s) OPEN" in text
    assert "NOT SIGNED" not in text and "Signed " not in text
    for w in lb.open_warnings(proc_id):
        lb.override_warning(w["id"], "deliberate, patient monitored", doc["id"])
    lb.end_procedure(proc_id, doc["id"])
    lb.sign_off(proc_id, doc["id"])
    text, _ = _note(lb, proc_id, tmp_path / "again")
    assert "CANNOT BE SIGNED" not in text
    signed = lb.procedure(proc_id)["signed_at"]
    local = datetime.datetime.fromisoformat(signed.replace("Z", "+00:00")).astimezone()
    assert f"Signed {local:%Y-%m-%d %H:%M:%S} (UTC+01:00) by {doc['name']}" in text
    assert lb.verify()["head"] in text  # the head after the signature, not before
