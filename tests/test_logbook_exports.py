"""Exports: CSV rows, FHIR R4 Bundles that validate with the fhir.resources R4B models,
EDF+ snippets that read back with edfio to the same digital samples with the injection
annotated, and the PDF note; all through the command line."""

from __future__ import annotations

import csv
import datetime
import json
import stat

import edfio
import numpy as np
import pytest
from fhir.resources.R4B.bundle import Bundle

from app.commands import cli
from app.logbook import Logbook, demo


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    """Two procedures: a signed, amended botulinum session with EMG snippets (one of them
    two-channel at an awkward scale), and an open trigger-point session with lidocaine."""
    path = tmp_path_factory.mktemp("exports") / "lb.db"
    with Logbook(path) as lb:
        doc, nurse = demo.users(lb)
        rec = demo.procedure(lb, sign=False)
        vial = rec["vials"][0]["id"]
        x = np.random.default_rng(7).integers(-32768, 32767, (7000, 2), endpoint=True)
        lb.log_injection(rec["id"], {"vial_id": vial, "units": 10, "muscle": "scalenus_medius",
                                     "side": "left", "at": rec["started_at"]}, nurse["id"],
                         snippet={"samples": x.astype(np.int16), "uv_per_count": 0.4882813,
                                  "fs": 1000.0, "injection_index": 5000,
                                  "source_uri": "spikerbox:/dev/ttyACM0",
                                  "source_kind": "amplifier", "calibrated": True})
        lb.sign_off(rec["id"], doc["id"])
        first = lb.procedure(rec["id"])["injections"][0]
        lb.amend(rec["id"], "injections", first["id"], {"units": 20}, "recorded 25 in error",
                 doc["id"])
        lb.add_observation(rec["id"], {"scale": "twstrs", "timepoint": "followup",
                                       "value": 31}, nurse["id"])
        tpi = lb.start_procedure({"patient_id": rec["patient_id"], "kind": "trigger_point",
                                  "indication": "myofascial pain", "pain_before": 7},
                                 by=nurse["id"])
        lido = lb.add_vial(tpi["id"], {"product": "lidocaine", "mg_per_ml": 10, "lot": "LD9",
                                       "expiry": "2099-06-30"}, by=nurse["id"])
        lb.log_injection(tpi["id"], {"vial_id": lido["id"], "volume_ml": 1.5,
                                     "muscle": "trapezius_upper", "side": "right",
                                     "twitch": True, "guidance": "emg"}, nurse["id"])
        lb.log_injection(tpi["id"], {"muscle": "infraspinatus", "side": "right",
                                     "guidance": "palpation"}, nurse["id"])  # dry needle
    return path


def _export(book, tmp_path, fmt):
    out = tmp_path / fmt
    assert cli.main(["logbook", "export", "--db", str(book), "--format", fmt,
                     "--out", str(out)]) == 0
    files = sorted(out.iterdir())
    assert files and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    return files


def test_csv_has_every_procedure_and_injection_as_it_now_reads(book, tmp_path):
    procs, injs = _export(book, tmp_path, "csv")[::-1]
    assert procs.name == "procedures.csv"
    prows = list(csv.DictReader(procs.open()))
    irows = list(csv.DictReader(injs.open()))
    assert sorted(r["kind"] for r in prows) == ["botulinum", "trigger_point"]
    assert len(irows) == 7
    amended = [r for r in irows if r["amended"] == "1"]
    assert len(amended) == 1 and float(amended[0]["units"]) == 20
    assert {r["product"] for r in irows} == {"onabotulinumtoxinA", "lidocaine", ""}


def test_fhir_bundles_validate_against_r4(book, tmp_path):
    files = _export(book, tmp_path, "fhir")
    assert len(files) == 2
    kinds = {}
    for f in files:
        doc = json.loads(f.read_text())
        Bundle.model_validate(doc)  # raises on anything R4 does not allow
        types = [e["resource"]["resourceType"] for e in doc["entry"]]
        (procedure,) = [e["resource"] for e in doc["entry"]
                        if e["resource"]["resourceType"] == "Procedure"]
        kinds[procedure["code"]["text"]] = types
        meds = [e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] ==
                "Medication"]
        assert all(m["batch"]["lotNumber"] and m["batch"]["expirationDate"] for m in meds)
    botox = kinds["Botulinum toxin injection"]
    # and the validation is real: a broken administration is refused
    admin = next(e for e in doc["entry"]
                 if e["resource"]["resourceType"] == "MedicationAdministration")
    del admin["resource"]["status"]
    with pytest.raises(ValueError, match="status"):
        Bundle.model_validate(doc)
    assert botox.count("MedicationAdministration") == 5 and "Patient" in botox
    assert kinds["Trigger point injection"].count("MedicationAdministration") == 1


def test_fhir_administration_carries_dose_site_and_lot(book):
    from app.logbook import export_fhir

    with Logbook(book) as lb:
        rec = next(lb.procedure(p["id"]) for p in lb.procedures() if p["kind"] == "botulinum")
    doc = export_fhir.bundle(rec)
    admins = [e["resource"] for e in doc["entry"]
              if e["resource"]["resourceType"] == "MedicationAdministration"]
    assert admins[0]["dosage"]["dose"] == {"value": 20.0, "unit": "U",
                                           "system": "http://unitsofmeasure.org",
                                           "code": "[U]"}
    assert admins[0]["dosage"]["site"]["text"] == "left sternocleidomastoid, site 1"
    assert admins[0]["partOf"] == [{"reference": f"urn:uuid:{rec['id']}"}]


def test_edf_snippets_read_back_to_the_same_digital_samples(book, tmp_path):
    files = _export(book, tmp_path, "edf")
    assert len(files) == 5
    with Logbook(book) as lb:
        rec = next(lb.procedure(p["id"]) for p in lb.procedures() if p["kind"] == "botulinum")
        for f, inj in zip(files, rec["injections"], strict=True):
            snip = lb.snippet(inj["id"])
            edf = edfio.read_edf(f)
            got = np.stack([s.digital for s in edf.signals], axis=1)
            assert got.shape == snip["samples"].shape
            assert np.array_equal(got, snip["samples"]), f.name
            sig = edf.signals[0]
            assert sig.sampling_frequency == snip["fs"]
            step = (sig.physical_max - sig.physical_min) / (sig.digital_max - sig.digital_min)
            # exact for the simulator's 0.5 uV; a few ppm for 0.4882813 over the full range
            assert step == pytest.approx(snip["uv_per_count"], rel=1e-5)
            if snip["uv_per_count"] == 0.5:
                assert step == 0.5
            (note,) = [a for a in edf.annotations if a.text.startswith("injection")]
            assert note.onset == pytest.approx(snip["injection_index"] / snip["fs"])
            assert inj["muscle"] in note.text
            # the start to the microsecond (EDF+ keeps it): the injection's clock time reads
            # back exact, not up to a second early
            start = datetime.datetime.combine(edf.startdate, edf.starttime)
            at = datetime.datetime.fromisoformat(inj["at"].replace("Z", ""))
            assert at.microsecond and edf.starttime.microsecond
            assert abs((at - start).total_seconds() - note.onset) < 1e-3


def test_pdf_note_per_procedure(book, tmp_path):
    files = _export(book, tmp_path, "pdf")
    assert len(files) == 2
    for f in files:
        data = f.read_bytes()
        assert data.startswith(b"%PDF-") and b"%%EOF" in data[-64:]
    from app.logbook import note_pdf

    with Logbook(book) as lb:
        rec = next(lb.procedure(p["id"]) for p in lb.procedures() if p["kind"] == "botulinum")
        users = {u["id"]: u for u in lb.users()}
    pdf = note_pdf.note(rec, users)
    assert pdf.pages_count >= 1


def test_an_amendment_by_another_physician_is_named_a_co_signers_everywhere(tmp_path):
    from app.logbook import export_csv, export_fhir, note_pdf
    from tests.test_ui_clinic import pdf_text

    with Logbook(tmp_path / "lb.db") as lb:
        doc, _nurse = demo.users(lb)
        other = lb.add_user({"name": "Dr Ben Okoro", "role": "physician", "pin": "8642"},
                            by=doc["id"])
        rec = demo.procedure(lb, sign=True)
        first = rec["injections"][0]
        lb.amend(rec["id"], "injections", first["id"], {"units": first["units"] + 5},
                 "5 U more were given", other["id"])
        rec = lb.procedure(rec["id"])
        users = {u["id"]: u for u in lb.users()}
    said = (f"Dr Ben Okoro (co-signer; signed by {users[doc['id']]['name']}): injection 1: "
            f"units {first['units']:g} -> {first['units'] + 5:g} U; volume ")
    (procs, _injs) = export_csv.export([rec], tmp_path / "csv", users)
    assert said in next(csv.DictReader(procs.open()))["amendment_notes"]
    (fhir,) = export_fhir.export([rec], tmp_path / "fhir", users)
    assert said in fhir.read_text()
    (pdf,) = note_pdf.export([rec], tmp_path / "pdf", users)
    assert said in pdf_text(pdf)
