"""CSV export: procedures.csv and injections.csv, as the records now read (amendments
applied, with an `amended` column), one row per procedure and per injection. An injection
with EMG says where it came from: `emg_source` in words ("SIMULATED - not a patient",
"REPLAY: rec.edf", "amplifier: ...", "..., uncalibrated (counts)" or "source not recorded"),
then `source_kind`, `source_uri` and `calibrated` (1/0), blank where not recorded.

Identified (the default): the patient's MRN, names, birth date and sex, the physician,
nurse and signer by name, each warning's override reason, each vial's strength, dilution,
reconstitution time and units wasted. Pseudonymised (`pseudonymise=True`): the columns in
DROPPED are left out, the patient is known by the logbook's random patient id and an age
in whole years on the procedure's day, and `export-notes.txt` beside the CSV names what
was dropped and what free text is kept as typed.

Safe to open in a spreadsheet: a text cell that starts with =, +, -, @, a tab or a carriage
return (which a spreadsheet would run as a formula) gets a leading ' (OWASP's CSV
injection rule); numbers are written as they are."""

from __future__ import annotations

import csv
import datetime
import json
from pathlib import Path

from app.logbook import outdir, scales, wording
from devices.files import atomic_write

PROCEDURE_COLUMNS = ("procedure_id", "patient_id", "mrn", "family_name", "given_name",
                     "birth_date", "age_years", "sex", "kind", "indication", "started_at",
                     "ended_at", "weight_kg", "physician", "nurse", "timeout_identity",
                     "timeout_consent", "timeout_side", "billing_codes", "pain_before",
                     "pain_after", "products", "injections", "open_warnings",
                     "override_reasons", "notes", "signed_at", "signed_by", "amendments",
                     "amendment_notes", "observations")
INJECTION_COLUMNS = ("procedure_id", "injection_id", "seq", "at", "product", "lot", "expiry",
                     "vial_strength", "diluent", "diluent_ml", "vial_volume_ml",
                     "concentration", "reconstituted_at", "units_wasted",
                     "muscle", "side", "site", "units", "volume_ml", "dose_mg", "needle_gauge",
                     "needle_length_mm", "guidance", "twitch", "adverse_event", "voided",
                     "amended", "has_snippet", "emg_source", "source_kind", "source_uri",
                     "calibrated", "emg_findings", "dose_warnings", "override_reasons")
# What a pseudonymised export leaves out: what names or finds the patient directly.
DROPPED = ("mrn", "family_name", "given_name", "birth_date")
# Typed by people, kept as typed in both variants: a name written into one stays there.
FREE_TEXT = ("indication", "notes", "adverse_event", "override_reasons", "dose_warnings",
             "amendment_notes", "observations")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def export(records: list[dict], out: Path, users: dict[str, dict] | None = None,
           pseudonymise: bool = False) -> list[Path]:
    # Patients' records (MRN, doses, findings): owner-only, as the logbook (outdir).
    pcols = tuple(c for c in PROCEDURE_COLUMNS if not (pseudonymise and c in DROPPED))

    def procedures(path: Path) -> None:
        _write(path, pcols, (procedure_row(r, users) for r in records))

    def injections(path: Path) -> None:
        _write(path, INJECTION_COLUMNS,
               (row for r in records for row in injection_rows(r, users)))

    files = [("procedures.csv", procedures), ("injections.csv", injections)]
    if pseudonymise:
        files.append(("export-notes.txt", outdir.write_text(notes())))
    return outdir.write_all(out, files)


def notes() -> str:
    """What a pseudonymised export says of itself, in a file beside its CSV."""
    return (
        "Needlepoint CSV export, PSEUDONYMISED.\n"
        f"Dropped from procedures.csv: {', '.join(DROPPED)}.\n"
        "The patient is known by patient_id, the logbook's random id (only the logbook "
        "links it to a person), with age_years on the procedure's day and sex.\n"
        "Kept as typed, and may hold whatever was typed into them (a name, a place): "
        f"{', '.join(FREE_TEXT)}.\n"
        "Kept: staff names (physician, nurse, signed_by), dates and times, weight, doses, "
        "lots and EMG sources.\n")


def _write(path: Path, columns: tuple[str, ...], rows) -> None:
    with atomic_write(path, outdir.FILE_MODE, newline="") as f:
        w = csv.DictWriter(f, columns, extrasaction="ignore")
        w.writeheader()
        for row in rows:
            w.writerow({k: guard(v) for k, v in row.items()})


def guard(value):
    """A text cell a spreadsheet would run as a formula, made text with a leading ';
    numbers (and None, written empty) as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def procedure_row(r: dict, users: dict | None = None) -> dict:
    voided = {i["id"] for i in r["injections"] if i["voided"]}
    totals = "; ".join(f"{k} {_total(t)}" for k, t in r["totals"].items())
    p, users = r["patient"], users or {}
    return {"procedure_id": r["id"], "patient_id": r["patient_id"], "mrn": p["mrn"],
            "family_name": p["family_name"], "given_name": p.get("given_name"),
            "birth_date": p.get("birth_date"), "age_years": _age(p, r["started_at"]),
            "sex": p.get("sex"), "kind": r["kind"],
            "indication": r["indication"], "started_at": r["started_at"],
            "ended_at": r["ended_at"], "weight_kg": r["weight_kg"],
            "physician": _who(users, r.get("physician_id")),
            "nurse": _who(users, r.get("nurse_id")),
            "timeout_identity": r["timeout_identity"], "timeout_consent": r["timeout_consent"],
            "timeout_side": r["timeout_side"], "billing_codes": " ".join(r["billing_codes"]),
            "pain_before": r["pain_before"], "pain_after": r["pain_after"], "products": totals,
            "injections": sum(1 for i in r["injections"] if not i["voided"]),
            "open_warnings": sum(1 for w in r["dose_warnings"] if wording.warning_state(
                w, {}, w["injection_id"] in voided).startswith("OPEN")),
            "override_reasons": _reasons(r["dose_warnings"], users),
            "notes": r.get("notes"),
            "signed_at": r["signed_at"], "signed_by": _who(users, r["signed_by"]),
            "amendments": len(r["amendments"]),
            "amendment_notes": " | ".join(wording.amendment(a, users, r["signed_by"], r)
                                          for a in r["amendments"]),
            "observations": " | ".join(scales.lines(r["observations"]))}


def injection_rows(r: dict, users: dict | None = None):
    vials, users = {v["id"]: v for v in r["vials"]}, users or {}
    for i in r["injections"]:
        v = vials.get(i["vial_id"], {})
        mine = [w for w in r["dose_warnings"] if w["injection_id"] == i["id"]]
        warned = " | ".join(wording.warning(w, users, bool(i["voided"])) for w in mine)
        yield {"procedure_id": r["id"], "injection_id": i["id"], "seq": i["seq"],
               "at": i["at"], "product": v.get("product"), "lot": v.get("lot"),
               "expiry": v.get("expiry"), **_vial(v), "muscle": i["muscle"], "side": i["side"],
               "site": i["site"], "units": i["units"], "volume_ml": i["volume_ml"],
               "dose_mg": i["dose_mg"], "needle_gauge": i["needle_gauge"],
               "needle_length_mm": i["needle_length_mm"], "guidance": i["guidance"],
               "twitch": i["twitch"], "adverse_event": i["adverse_event"],
               "voided": i["voided"], "amended": int(bool(i.get("amended"))),
               "has_snippet": int(i["has_snippet"]), **_source(i.get("emg_source")),
               "emg_findings": json.dumps(i["emg_findings"]) if i["emg_findings"] else "",
               "dose_warnings": warned, "override_reasons": _reasons(mine, users)}


def _vial(v: dict) -> dict:
    """The vial's strength and dilution: units and U/mL for a toxin, mg/mL for a solution."""
    units, mg_ml, volume = v.get("vial_units"), v.get("mg_per_ml"), v.get("volume_ml")
    strength = (f"{units:g} U" if units is not None else
                f"{mg_ml:g} mg/mL" if mg_ml is not None else "")
    concentration = (f"{units / volume:g} U/mL" if units is not None and volume else
                     f"{mg_ml:g} mg/mL" if mg_ml is not None else "")
    return {"vial_strength": strength, "diluent": v.get("diluent"),
            "diluent_ml": v.get("diluent_ml"), "vial_volume_ml": volume,
            "concentration": concentration, "reconstituted_at": v.get("reconstituted_at"),
            "units_wasted": v.get("units_wasted")}


def _reasons(warnings: list[dict], users: dict) -> str:
    return " | ".join(f"{w['rule']}: {w['override_reason']} ({_who(users, w['override_by'])})"
                      for w in warnings if w.get("override_reason"))


def _who(users: dict, user_id: str | None) -> str:
    return wording.who(users, user_id) if user_id else ""


def _age(p: dict, on: str) -> int | None:
    born = p.get("birth_date")
    if not born:
        return None
    b, d = datetime.date.fromisoformat(born[:10]), datetime.date.fromisoformat(on[:10])
    return d.year - b.year - ((d.month, d.day) < (b.month, b.day))


def _source(src: dict | None) -> dict:
    if src is None:
        return {"emg_source": "", "source_kind": "", "source_uri": "", "calibrated": ""}
    cal = src["calibrated"]
    return {"emg_source": src["label"], "source_kind": src["kind"] or "",
            "source_uri": src["uri"] or "", "calibrated": "" if cal is None else int(cal)}


def _total(t: dict) -> str:
    if t["dose_mg"]:
        return f"{t['dose_mg']:g} mg"
    return f"{t['units']:g} U"
