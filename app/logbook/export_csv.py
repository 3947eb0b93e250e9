"""CSV export: procedures.csv and injections.csv, as the records now read (amendments
applied, with an `amended` column), one row per procedure and per injection. An injection
with EMG says where it came from: `emg_source` in words ("SIMULATED - not a patient",
"REPLAY: rec.edf", "amplifier: ...", "..., uncalibrated (counts)" or "source not recorded"),
then `source_kind`, `source_uri` and `calibrated` (1/0), blank where not recorded."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from app.logbook import outdir, scales, wording
from devices.files import atomic_write

PROCEDURE_COLUMNS = ("procedure_id", "mrn", "kind", "indication", "started_at", "ended_at",
                     "weight_kg", "timeout_identity", "timeout_consent", "timeout_side",
                     "billing_codes", "pain_before", "pain_after", "products", "injections",
                     "open_warnings", "signed_at", "signed_by", "amendments",
                     "amendment_notes", "observations")
INJECTION_COLUMNS = ("procedure_id", "injection_id", "seq", "at", "product", "lot", "expiry",
                     "muscle", "side", "site", "units", "volume_ml", "dose_mg", "needle_gauge",
                     "needle_length_mm", "guidance", "twitch", "adverse_event", "voided",
                     "amended", "has_snippet", "emg_source", "source_kind", "source_uri",
                     "calibrated", "emg_findings", "dose_warnings")


def export(records: list[dict], out: Path, users: dict[str, dict] | None = None
           ) -> list[Path]:
    # Patients' records (MRN, doses, findings): owner-only, as the logbook (outdir).
    def procedures(path: Path) -> None:
        _write(path, PROCEDURE_COLUMNS, (procedure_row(r, users) for r in records))

    def injections(path: Path) -> None:
        _write(path, INJECTION_COLUMNS,
               (row for r in records for row in injection_rows(r, users)))

    return outdir.write_all(out, [("procedures.csv", procedures),
                                  ("injections.csv", injections)])


def _write(path: Path, columns: tuple[str, ...], rows) -> None:
    with atomic_write(path, outdir.FILE_MODE, newline="") as f:
        w = csv.DictWriter(f, columns)
        w.writeheader()
        for row in rows:
            w.writerow(row)


def procedure_row(r: dict, users: dict | None = None) -> dict:
    voided = {i["id"] for i in r["injections"] if i["voided"]}
    totals = "; ".join(f"{k} {_total(t)}" for k, t in r["totals"].items())
    return {"procedure_id": r["id"], "mrn": r["patient"]["mrn"], "kind": r["kind"],
            "indication": r["indication"], "started_at": r["started_at"],
            "ended_at": r["ended_at"], "weight_kg": r["weight_kg"],
            "timeout_identity": r["timeout_identity"], "timeout_consent": r["timeout_consent"],
            "timeout_side": r["timeout_side"], "billing_codes": " ".join(r["billing_codes"]),
            "pain_before": r["pain_before"], "pain_after": r["pain_after"], "products": totals,
            "injections": sum(1 for i in r["injections"] if not i["voided"]),
            "open_warnings": sum(1 for w in r["dose_warnings"] if wording.warning_state(
                w, {}, w["injection_id"] in voided).startswith("OPEN")),
            "signed_at": r["signed_at"], "signed_by": wording.who(users or {}, r["signed_by"])
            if r["signed_by"] else "", "amendments": len(r["amendments"]),
            "amendment_notes": " | ".join(wording.amendment(a, users or {}, r["signed_by"])
                                          for a in r["amendments"]),
            "observations": " | ".join(scales.lines(r["observations"]))}


def injection_rows(r: dict, users: dict | None = None):
    vials = {v["id"]: v for v in r["vials"]}
    for i in r["injections"]:
        v = vials.get(i["vial_id"], {})
        warned = " | ".join(wording.warning(w, users or {}, bool(i["voided"]))
                            for w in r["dose_warnings"] if w["injection_id"] == i["id"])
        yield {"procedure_id": r["id"], "injection_id": i["id"], "seq": i["seq"],
               "at": i["at"], "product": v.get("product"), "lot": v.get("lot"),
               "expiry": v.get("expiry"), "muscle": i["muscle"], "side": i["side"],
               "site": i["site"], "units": i["units"], "volume_ml": i["volume_ml"],
               "dose_mg": i["dose_mg"], "needle_gauge": i["needle_gauge"],
               "needle_length_mm": i["needle_length_mm"], "guidance": i["guidance"],
               "twitch": i["twitch"], "adverse_event": i["adverse_event"],
               "voided": i["voided"], "amended": int(bool(i.get("amended"))),
               "has_snippet": int(i["has_snippet"]), **_source(i.get("emg_source")),
               "emg_findings": json.dumps(i["emg_findings"]) if i["emg_findings"] else "",
               "dose_warnings": warned}


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
