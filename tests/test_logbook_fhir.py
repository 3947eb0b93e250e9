"""FHIR R4 export: the signer as a Provenance, each dose warning as a DetectedIssue, the MRN
as an Identifier of type MR with the clinic's system, and muscles as SNOMED CT body sites
with the side as a qualifier; every Bundle validated by the fhir.resources R4B models, and
every code in muscles.json a well-formed SNOMED CT concept id with its source."""

from __future__ import annotations

import json
import shutil

import pytest
from fhir.resources.R4B.bundle import Bundle

from app.commands import cli
from app.logbook import Logbook, catalogue, demo, export_fhir

SNOMED = "http://snomed.info/sct"


@pytest.fixture
def signed(tmp_path):
    """A signed botulinum session: a left sternocleidomastoid injection, a right one in a
    muscle with no confirmed code, and a per-site warning a physician overrode."""
    lb = Logbook(tmp_path / "lb.db")
    doc, nurse = demo.users(lb)
    pt = demo.patient(lb, nurse["id"])
    proc = lb.start_procedure({"patient_id": pt["id"], "kind": "botulinum",
                               "physician_id": doc["id"], "nurse_id": nurse["id"],
                               "timeout": {"identity": True, "consent": True, "side": True}},
                              by=nurse["id"])
    vial = lb.add_vial(proc["id"], {"product": "onabotulinumtoxinA", "vial_units": 200,
                                    "diluent_ml": 4, "lot": "C1", "expiry": "2099-01"},
                       by=nurse["id"])
    scm = lb.log_injection(proc["id"], {"vial_id": vial["id"], "units": 20, "side": "left",
                                        "muscle": "sternocleidomastoid"}, nurse["id"])
    big = lb.log_injection(proc["id"], {"vial_id": vial["id"], "units": 60, "side": "right",
                                        "muscle": "biceps_brachii"}, nurse["id"],
                           overrides={"per_site_max": "large muscle, one site"},
                           override_by=doc["id"])
    lb.end_procedure(proc["id"], nurse["id"])
    lb.sign_off(proc["id"], doc["id"])
    rec = lb.procedure(proc["id"])
    users = {u["id"]: u for u in lb.users()}
    yield lb, rec, users, scm, big, doc
    lb.close()


def _resources(doc: dict, kind: str) -> list[dict]:
    return [e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == kind]


def test_the_signer_is_a_provenance_over_the_procedure_and_its_administrations(signed):
    _lb, rec, users, scm, big, doc = signed
    bundle = export_fhir.bundle(rec, users, "urn:oid:1.2.3.4")
    Bundle.model_validate(bundle)
    (prov,) = _resources(bundle, "Provenance")
    assert prov["target"] == [{"reference": f"urn:uuid:{x}"}
                              for x in (rec["id"], scm["id"], big["id"])]
    (agent,) = prov["agent"]
    assert agent["type"]["coding"] == [{
        "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
        "code": "verifier", "display": "Verifier"}]
    assert agent["who"] == {"reference": f"urn:uuid:{doc['id']}"}
    assert prov["recorded"] == export_fhir._dt(rec["signed_at"])
    assert doc["id"] in {p["id"] for p in _resources(bundle, "Practitioner")}
    # unsigned: no Provenance claims a verifier
    unsigned = {**rec, "signed_at": None, "signed_by": None}
    assert _resources(export_fhir.bundle(unsigned, users), "Provenance") == []


def test_each_warning_is_a_detected_issue_with_its_override_as_mitigation(signed):
    _lb, rec, users, _scm, big, doc = signed
    bundle = export_fhir.bundle(rec, users)
    Bundle.model_validate(bundle)
    issues = _resources(bundle, "DetectedIssue")
    assert len(issues) == len(rec["dose_warnings"]) >= 1
    (site,) = [i for i in issues if i["code"]["text"] == "per_site_max"]
    assert site["implicated"] == [{"reference": f"urn:uuid:{big['id']}"}]
    assert site["status"] == "final" and "OVERRIDDEN by" in site["detail"]
    (mit,) = site["mitigation"]
    assert mit["action"]["text"] == "Overridden: large muscle, one site"
    assert mit["author"] == {"reference": f"urn:uuid:{doc['id']}"}


def test_the_mrn_is_an_identifier_of_type_mr_with_the_clinics_system(signed, tmp_path,
                                                                      monkeypatch, capsys):
    _lb, rec, _users, *_ = signed
    db = str(tmp_path / "lb.db")  # the command opens it beside the fixture's (WAL)
    assert cli.main(["logbook", "export", "--db", db, "--format", "fhir", "--out",
                     str(tmp_path / "none")]) == 0
    assert "the MRN has no system" in capsys.readouterr().out
    (f,) = (tmp_path / "none").iterdir()
    (pt,) = _resources(json.loads(f.read_text()), "Patient")
    (mrn,) = pt["identifier"]
    assert mrn["type"]["coding"][0] == {"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                        "code": "MR", "display": "Medical record number"}
    assert mrn["value"] == rec["patient"]["mrn"] and "system" not in mrn

    # the clinic's copy of products.json sets it for every export
    clinic = tmp_path / "clinic-assets"
    clinic.mkdir()
    products = json.loads((catalogue.SHIPPED / "products.json").read_text())
    products["clinic_policy"]["fhir_mrn_system"] = "urn:oid:2.16.840.1.113883.19.5"
    (clinic / "products.json").write_text(json.dumps(products))
    shutil.copy(catalogue.SHIPPED / "muscles.json", clinic / "muscles.json")
    monkeypatch.setenv("NEEDLEPOINT_ASSETS", str(clinic))
    assert cli.main(["logbook", "export", "--db", db, "--format", "fhir", "--out",
                     str(tmp_path / "clinic")]) == 0
    assert "no system" not in capsys.readouterr().out
    (f,) = (tmp_path / "clinic").iterdir()
    doc = json.loads(f.read_text())
    Bundle.model_validate(doc)
    assert _resources(doc, "Patient")[0]["identifier"][0]["system"] == \
        "urn:oid:2.16.840.1.113883.19.5"
    # and --mrn-system overrides it for one export
    assert cli.main(["logbook", "export", "--db", db, "--format", "fhir", "--out",
                     str(tmp_path / "given"), "--mrn-system", "https://mrn.example.org"]) == 0
    (f,) = (tmp_path / "given").iterdir()
    assert _resources(json.loads(f.read_text()), "Patient")[0]["identifier"][0]["system"] \
        == "https://mrn.example.org"


def test_muscles_are_snomed_body_sites_with_the_side_as_a_qualifier(signed):
    _lb, rec, users, scm, big, _doc = signed
    bundle = export_fhir.bundle(rec, users)
    Bundle.model_validate(bundle)
    admins = {a["id"]: a for a in _resources(bundle, "MedicationAdministration")}
    bodies = {b["id"]: b for b in _resources(bundle, "BodyStructure")}
    site = admins[scm["id"]]["dosage"]["site"]
    assert site["coding"] == [{"system": SNOMED, "code": "22823000",
                               "display": "Sternocleidomastoid muscle"}]
    assert site["text"] == "left sternocleidomastoid"
    body = bodies[site["extension"][0]["valueReference"]["reference"][9:]]
    assert body["location"]["coding"][0]["code"] == "22823000"
    assert body["locationQualifier"] == [{"coding": [{"system": SNOMED, "code": "7771000",
                                                      "display": "Left"}], "text": "left"}]
    # a muscle without a confirmed code is text only, never a guessed code; its side still
    # qualified
    site = admins[big["id"]]["dosage"]["site"]
    assert "coding" not in site and site["text"] == "right biceps_brachii"
    body = bodies[site["extension"][0]["valueReference"]["reference"][9:]]
    assert "coding" not in body["location"] and body["location"]["text"] == "Biceps brachii"
    assert body["locationQualifier"][0]["coding"][0]["code"] == "24028007"


def _verhoeff_ok(number: str) -> bool:
    """SNOMED CT identifiers end in a Verhoeff check digit."""
    d = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
         [2, 3, 4, 0, 1, 7, 8, 9, 5, 6], [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
         [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
         [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
         [8, 7, 6, 5, 9, 3, 2, 1, 0, 4], [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]]
    p = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
         [5, 8, 0, 3, 7, 9, 6, 1, 4, 2], [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
         [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
         [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8]]
    c = 0
    for i, ch in enumerate(reversed(number)):
        c = d[c][p[i % 8][int(ch)]]
    return c == 0


def test_every_muscle_has_a_sourced_code_or_says_it_has_none():
    data = json.loads((catalogue.SHIPPED / "muscles.json").read_text())
    sources = set(data["snomed"]["sources"])
    coded = 0
    for muscles in data["regions"].values():
        for m in muscles:
            code = m["snomed"]
            if code is None:
                assert "left uncoded rather than guessed" in m["snomed_note"], m["id"]
                continue
            coded += 1
            assert code["source"] in sources, m["id"]
            # a concept id: digits, partition 00 (a concept), a valid check digit
            assert code["code"].isdigit() and code["code"][-3:-1] == "00", m["id"]
            assert _verhoeff_ok(code["code"]), m["id"]
    assert coded == 28
    for code, _display in export_fhir.LATERALITY.values():
        assert _verhoeff_ok(code)
