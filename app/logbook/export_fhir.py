"""FHIR R4 export: one Bundle (type collection) per procedure, written as JSON.

Patient, Practitioner (physician, nurse), Procedure (billing codes as CPT codings, time-out
and pain scores as notes), one Medication per vial (product, strength, lot and expiry in
`batch`) and one MedicationAdministration per injection (part of the Procedure; dose in
units or mg, muscle and side as the site, intramuscular route, EMG findings as a note).
Each EMG snippet is an Observation (part of its MedicationAdministration, or of the
Procedure for dry needling) whose `device.display` says where the EMG came from
("SIMULATED - not a patient", "REPLAY: rec.edf", "amplifier: ...", with ", uncalibrated
(counts)", or "source not recorded"), with the same words in a note and, when recorded, the
source's kind, URI and calibration in the EMG_SOURCE extension; the administration's EMG
note names the source too.
The patient's MRN is an Identifier of type MR (HL7 v2 table 0203) with the system the
clinic sets (`clinic_policy.fhir_mrn_system` in products.json, or `mrn_system`); each
muscle is a body site coded in SNOMED CT where muscles.json gives a code (its source noted
there), with a BodyStructure whose locationQualifier gives the side (left 7771000, right
24028007); the signature is a Provenance (agent type verifier, recorded = signed time)
over the Procedure and its MedicationAdministrations; each dose warning is a
DetectedIssue implicating its administration (or the Procedure), with the physician's
override or the withdrawal as its mitigation.

Plain dicts: tests validate them with the fhir.resources R4B models; the app does not need
that package to write them.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from app.logbook import catalogue, ids, outdir, rules, scales, wording
from app.logbook.errors import LogbookError

SNOMED = "http://snomed.info/sct"
CPT = "http://www.ama-assn.org/go/cpt"
UCUM = "http://unitsofmeasure.org"
# Needlepoint's own extension (no standard one says "this EMG was simulated"): sub-extensions
# kind (code: amplifier, simulator, replay), uri (string) and calibrated (boolean).
EMG_SOURCE = "urn:needlepoint:fhir:StructureDefinition:emg-source"
ID_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
PARTICIPANT = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
# SNOMED CT laterality qualifier values (HL7 FHIR bodystructure-laterality value set).
LATERALITY = {"left": ("7771000", "Left"), "right": ("24028007", "Right")}
# Needlepoint's own: an administration's site points at the BodyStructure that says its side.
BODY_STRUCTURE = "urn:needlepoint:fhir:StructureDefinition:body-structure"
KIND_TEXT = {"botulinum": "Botulinum toxin injection", "trigger_point":
             "Trigger point injection", "dry_needling": "Dry needling"}


def export(records: list[dict], out: Path, users: dict[str, dict] | None = None,
           mrn_system: str | None = None) -> list[Path]:
    # A patient's record: owner-only, as the logbook (outdir).
    return outdir.write_all(out, [
        (f"{r['id']}.fhir.json", outdir.write_text(json.dumps(
            bundle(r, users, mrn_system), indent=2, ensure_ascii=False)))
        for r in records])


def clinic_mrn_system() -> str | None:
    """The clinic's MRN system from its catalogue (clinic_policy.fhir_mrn_system)."""
    try:
        return catalogue.default().policy.get("fhir_mrn_system") or None
    except LogbookError:
        return None


def bundle(r: dict, users: dict[str, dict] | None = None, mrn_system: str | None = None
           ) -> dict:
    """The Bundle of one procedure record (as Logbook.procedure() returns it)."""
    users = users or {}
    muscles = _muscles()
    entries = [_patient(r["patient"], mrn_system or clinic_mrn_system())]
    staff = [(r.get(k), k[:-3]) for k in ("physician_id", "nurse_id")]
    if r.get("signed_by") and r["signed_by"] not in (r.get("physician_id"), r.get("nurse_id")):
        staff.append((r["signed_by"], "physician (signed)"))
    for user_id, role in staff:
        if user_id:
            entries.append(_practitioner(user_id, users.get(user_id), role))
    entries.append(_procedure(r, users))
    for v in r["vials"]:
        entries.append(_medication(v))
    sites = {}
    for i in r["injections"]:
        if i.get("muscle") and (i["muscle"], i.get("side")) not in sites:
            sites[(i["muscle"], i.get("side"))] = _body_structure(r, i, muscles)
    entries += sites.values()
    for i in r["injections"]:
        if i.get("vial_id"):
            entries.append(_administration(r, i, users, muscles, sites))
        if i.get("emg_source"):
            entries.append(_emg(r, i))
    entries += [_issue(r, w, users) for w in r.get("dose_warnings", [])]
    if r.get("signed_at"):
        entries.append(_provenance(r))
    return {
        "resourceType": "Bundle",
        "id": r["id"],
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{r['id']}"},
        "type": "collection",
        "timestamp": _dt(ids.now()),
        "entry": [{"fullUrl": f"urn:uuid:{e['id']}", "resource": e} for e in entries],
    }


def _ref(resource_id: str) -> dict:
    return {"reference": f"urn:uuid:{resource_id}"}


def _dt(stamp: str) -> str:
    """FHIR dateTime: seconds with milliseconds at most is what every reader accepts."""
    t = ids.parse(stamp)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _patient(p: dict, mrn_system: str | None) -> dict:
    mrn = {"use": "usual", "type": {"coding": [{"system": ID_TYPE, "code": "MR",
                                               "display": "Medical record number"}],
                                    "text": "MRN"}, "value": p["mrn"]}
    if mrn_system:
        mrn["system"] = mrn_system
    res = {"resourceType": "Patient", "id": p["id"], "identifier": [mrn],
           "name": [{"family": p["family_name"],
                     **({"given": [p["given_name"]]} if p.get("given_name") else {})}]}
    if p.get("sex"):
        res["gender"] = p["sex"]
    if p.get("birth_date"):
        res["birthDate"] = p["birth_date"][:10]
    return res


def _practitioner(user_id: str, user: dict | None, role: str) -> dict:
    res = {"resourceType": "Practitioner", "id": user_id}
    if user and user.get("name"):
        res["name"] = [{"text": user["name"]}]
    res["qualification"] = [{"code": {"text": role}}]
    return res


def _procedure(r: dict, users: dict) -> dict:
    codes = [{"system": CPT, "code": c} for c in r.get("billing_codes") or []]
    period = {"start": _dt(r["started_at"])}
    if r.get("ended_at"):
        period["end"] = _dt(r["ended_at"])
    notes = [f"Time-out: identity {_yn(r['timeout_identity'])}, consent "
             f"{_yn(r['timeout_consent'])}, side {_yn(r['timeout_side'])}."]
    if r.get("pain_before") is not None or r.get("pain_after") is not None:
        notes.append(f"Pain NRS 0-10: before {_num(r.get('pain_before'))}, after "
                     f"{_num(r.get('pain_after'))}.")
    notes += scales.lines(r.get("observations", []))  # current values, grades as text
    for a in r.get("amendments", []):
        notes.append("Amended " + wording.amendment(a, users, r.get("signed_by"), r))
    res = {"resourceType": "Procedure", "id": r["id"],
           "status": "completed" if r.get("ended_at") else "in-progress",
           "code": {"text": KIND_TEXT.get(r["kind"], r["kind"]),
                    **({"coding": codes} if codes else {})},
           "subject": _ref(r["patient_id"]), "performedPeriod": period,
           "note": [{"text": n} for n in notes]}
    if r.get("indication"):
        res["reasonCode"] = [{"text": r["indication"]}]
    performers = [{"function": {"text": role}, "actor": _ref(r[f"{role}_id"])}
                  for role in ("physician", "nurse") if r.get(f"{role}_id")]
    if performers:
        res["performer"] = performers
    return res


def _medication(v: dict) -> dict:
    strength = (f" {v['vial_units']:g} U vial" if v.get("vial_units") else
                f" {v['mg_per_ml']:g} mg/mL" if v.get("mg_per_ml") else "")
    res = {"resourceType": "Medication", "id": v["id"],
           "code": {"text": f"{v['product']}{strength}"}}
    batch = {}
    if v.get("lot"):
        batch["lotNumber"] = v["lot"]
    if v.get("expiry"):
        batch["expirationDate"] = rules.expiry_date(v["expiry"]).isoformat()
    if batch:
        res["batch"] = batch
    return res


def _administration(r: dict, i: dict, users: dict, muscles: dict, sites: dict) -> dict:
    if i.get("units") is not None:
        dose = {"value": float(i["units"]), "unit": "U", "system": UCUM, "code": "[U]"}
    elif i.get("dose_mg") is not None:
        dose = {"value": float(i["dose_mg"]), "unit": "mg", "system": UCUM, "code": "mg"}
    else:
        dose = None
    dosage = {"site": _site(i, muscles, sites),
              "route": {"coding": [{"system": SNOMED, "code": "78421000",
                                    "display": "Intramuscular route"}]}}
    if dose:
        dosage["dose"] = dose
    if i.get("volume_ml") is not None:
        dosage["text"] = f"{i['volume_ml']:g} mL"
    res = {"resourceType": "MedicationAdministration", "id": i["id"],
           "status": "entered-in-error" if i.get("voided") else "completed",
           "medicationReference": _ref(i["vial_id"]), "subject": _ref(r["patient_id"]),
           "partOf": [_ref(r["id"])], "effectiveDateTime": _dt(i["at"]), "dosage": dosage}
    if r.get("physician_id"):
        res["performer"] = [{"actor": _ref(r["physician_id"])}]
    notes = []
    if i.get("guidance"):
        notes.append(f"guidance: {i['guidance']}")
    if i.get("emg_source"):
        notes.append(f"EMG source: {i['emg_source']['label']}")
    if i.get("emg_findings"):
        notes.append("EMG: " + json.dumps(i["emg_findings"], sort_keys=True))
    if i.get("twitch") is not None:
        notes.append(f"local twitch response: {_yn(i['twitch'])}")
    if i.get("adverse_event"):
        notes.append(f"adverse event: {i['adverse_event']}")
    for w in r.get("dose_warnings", []):
        if w["injection_id"] == i["id"]:
            notes.append("dose warning: " + wording.warning(w, users, bool(i.get("voided"))))
    if notes:
        res["note"] = [{"text": n} for n in notes]
    return res


def _muscles() -> dict[str, dict]:
    try:
        return catalogue.default().muscles
    except LogbookError:  # no catalogue: muscles as text
        return {}


def _snomed(muscle: dict | None) -> list[dict]:
    code = (muscle or {}).get("snomed")
    return [{"system": SNOMED, "code": code["code"], "display": code["display"]}] if code \
        else []


def _site(i: dict, muscles: dict, sites: dict) -> dict:
    """The injection's site: the muscle in SNOMED CT where the catalogue has its code, the
    side and site number in the text, and a link to the BodyStructure that qualifies the
    side."""
    text = " ".join(str(x) for x in (i.get("side"), i.get("muscle")) if x) or "not recorded"
    if i.get("site"):
        text += f", site {i['site']}"
    site = {"text": text}
    coding = _snomed(muscles.get(i.get("muscle")))
    if coding:
        site["coding"] = coding
    body = sites.get((i.get("muscle"), i.get("side")))
    if body:
        site["extension"] = [{"url": BODY_STRUCTURE, "valueReference": _ref(body["id"])}]
    return site


def _body_structure(r: dict, i: dict, muscles: dict) -> dict:
    """The muscle on one side, for this patient: location in SNOMED CT (or text), laterality
    as the locationQualifier."""
    muscle = muscles.get(i["muscle"])
    name = muscle["name"] if muscle else i["muscle"]
    location = {"text": name}
    if _snomed(muscle):
        location["coding"] = _snomed(muscle)
    res = {"resourceType": "BodyStructure",
           "id": str(uuid.uuid5(uuid.UUID(r["id"]), f"{i['muscle']}/{i.get('side')}")),
           "location": location, "patient": _ref(r["patient_id"]),
           "description": " ".join(x for x in (i.get("side"), name) if x)}
    if i.get("side") in LATERALITY:
        code, display = LATERALITY[i["side"]]
        res["locationQualifier"] = [{"coding": [{"system": SNOMED, "code": code,
                                                 "display": display}], "text": i["side"]}]
    return res


def _provenance(r: dict) -> dict:
    """The sign-off: who verified the record and when, over the Procedure and every
    administration in it."""
    targets = [_ref(r["id"])] + [_ref(i["id"]) for i in r["injections"] if i.get("vial_id")]
    return {"resourceType": "Provenance",
            "id": str(uuid.uuid5(uuid.UUID(r["id"]), "sign-off")),
            "target": targets, "recorded": _dt(r["signed_at"]),
            "activity": {"text": "sign-off"},
            "agent": [{"type": {"coding": [{"system": PARTICIPANT, "code": "verifier",
                                            "display": "Verifier"}]},
                       "who": _ref(r["signed_by"])}]}


def _issue(r: dict, w: dict, users: dict) -> dict:
    """A dose warning: what it implicates (the administration, else the procedure) and how
    it was mitigated (the physician's override with its reason, or its withdrawal)."""
    injections = {i["id"]: i for i in r["injections"]}
    inj = injections.get(w.get("injection_id"))
    implicated = _ref(inj["id"]) if inj and inj.get("vial_id") else _ref(r["id"])
    res = {"resourceType": "DetectedIssue", "id": w["id"],
           "status": "cancelled" if w.get("withdrawn_at") else "final",
           "code": {"text": w["rule"]}, "patient": _ref(r["patient_id"]),
           "identifiedDateTime": _dt(w["created_at"]), "implicated": [implicated],
           "detail": wording.warning(w, users, bool(inj and inj.get("voided")))}
    if w.get("override_reason"):
        res["mitigation"] = [{"action": {"text": f"Overridden: {w['override_reason']}"},
                              "author": _ref(w["override_by"]),
                              **({"date": _dt(w["override_at"])} if w.get("override_at")
                                 else {})}]
    elif w.get("withdrawn_at"):
        res["mitigation"] = [{"action": {"text": f"Withdrawn: {w.get('withdrawn_note')}"},
                              "author": _ref(w["withdrawn_by"]),
                              "date": _dt(w["withdrawn_at"])}]
    return res


def _emg(r: dict, i: dict) -> dict:
    """The EMG snippet kept with an injection, saying what it was recorded from."""
    src = i["emg_source"]
    res = {"resourceType": "Observation", "id": src["snippet_id"],
           "status": "entered-in-error" if i.get("voided") else "final",
           "code": {"text": "Needle EMG at the injection (snippet kept in the logbook)"},
           "subject": _ref(r["patient_id"]),
           "partOf": [_ref(i["id"] if i.get("vial_id") else r["id"])],
           "effectiveDateTime": _dt(i["at"]),
           "device": {"display": src["label"]},
           "note": [{"text": f"EMG source: {src['label']}"}]}
    if src["kind"] is not None:
        res["extension"] = [{"url": EMG_SOURCE, "extension": [
            {"url": "kind", "valueCode": src["kind"]},
            {"url": "uri", "valueString": src["uri"]},
            {"url": "calibrated", "valueBoolean": src["calibrated"]}]}]
    return res


def _yn(v) -> str:
    return "not recorded" if v is None else ("yes" if v else "no")


def _num(v) -> str:
    return "not recorded" if v is None else f"{v:g}"
