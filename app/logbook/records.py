"""Record fields as the logbook stores them, and records as they now read.

One stored form per field (UTC timestamps, 0/1 booleans, JSON text for lists and the
analyser's findings); amendments applied on reading; totals kept per product, never across
products."""

from __future__ import annotations

import json
import re

from app.logbook import ids
from app.logbook.errors import LogbookError

PROCEDURE_FIELDS = ("kind", "indication", "physician_id", "nurse_id", "weight_kg",
                    "timeout_identity", "timeout_consent", "timeout_side", "timeout_at",
                    "started_at", "ended_at", "billing_codes", "pain_before", "pain_after",
                    "notes")
VIAL_FIELDS = ("product", "vial_units", "mg_per_ml", "lot", "expiry", "diluent", "diluent_ml",
               "volume_ml", "reconstituted_at", "units_wasted")
INJECTION_FIELDS = ("vial_id", "at", "muscle", "side", "site", "units", "volume_ml", "dose_mg",
                    "needle_gauge", "needle_length_mm", "guidance", "emg_findings", "twitch",
                    "adverse_event", "voided")
AMENDABLE = {"procedures": PROCEDURE_FIELDS, "vials": VIAL_FIELDS,
             "injections": INJECTION_FIELDS}
TIME_FIELDS = {"timeout_at", "started_at", "ended_at", "reconstituted_at", "at"}
JSON_FIELDS = {"billing_codes", "emg_findings"}


def public_user(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "pin_hash"}


def pending(row: dict) -> dict:
    """A pending mark as the API returns it: no samples, findings decoded."""
    out = {k: v for k, v in row.items() if k != "samples"}
    if isinstance(out.get("findings"), str):
        out["findings"] = json.loads(out["findings"])
    return out


def pick(d: dict, fields) -> dict:
    return {k: d[k] for k in fields if k in d}


def text(d: dict, key: str) -> str:
    v = d.get(key)
    if not isinstance(v, str) or not v.strip():
        raise LogbookError(f"{key} is required")
    return v.strip()


def to_json(v) -> str:
    return json.dumps(v, sort_keys=True, separators=(",", ":"), default=plain)


def plain(v):
    """numpy scalars and arrays from the analyser, as JSON."""
    if hasattr(v, "tolist"):
        return v.tolist()
    return str(v)


def normalise(d: dict) -> dict:
    """One stored form per field: UTC timestamps, 0/1 booleans, JSON text."""
    out = {}
    for k, v in d.items():
        if v is not None and k in TIME_FIELDS:
            try:
                v = ids.to_stamp(v)
            except (ValueError, TypeError):
                raise LogbookError(f"{k}: is a time written ISO 8601 "
                                   "(2026-12-07T14:30:00+01:00)") from None
        elif isinstance(v, bool):
            v = int(v)
        elif k in JSON_FIELDS and v is not None and not isinstance(v, str):
            v = to_json(v)
        elif hasattr(v, "item") and not isinstance(v, str | bytes):
            v = v.item()  # a numpy scalar
        out[k] = v
    return out


def procedure_fields(p: dict) -> dict:
    p = dict(p)
    timeout = p.pop("timeout", None)
    if timeout is not None:
        for part in ("identity", "consent", "side"):
            if part in timeout:
                p[f"timeout_{part}"] = bool(timeout[part])
        p.setdefault("timeout_at", ids.now())
    if "billing_codes" in p and p["billing_codes"] is not None:
        codes = p["billing_codes"]
        if isinstance(codes, str):
            codes = [c.strip() for c in codes.split(",") if c.strip()]
        if not isinstance(codes, list | tuple) or not all(
                isinstance(c, str) and re.fullmatch(r"[A-Za-z0-9.\-]{1,20}", c) for c in codes):
            raise LogbookError("billing_codes: a list of codes (letters, digits, . or -)")
        p["billing_codes"] = to_json(list(codes))
    return normalise(pick(p, PROCEDURE_FIELDS))


def not_signed(proc: dict) -> None:
    if proc["signed_at"]:
        raise LogbookError("this procedure is signed: correct it with an amendment")


def apply(row: dict, amendments: list[dict]) -> dict:
    if amendments:
        for a in amendments:
            for field, change in a["changes"].items():
                row[field] = change["new"]
        row["amended"] = True
    return row


def decode(row: dict) -> dict:
    for k in JSON_FIELDS:
        if isinstance(row.get(k), str):
            row[k] = json.loads(row[k])
    return row


def totals(rec: dict) -> dict:
    """Per product, never across products: units for toxins, mg and mL for anaesthetics."""
    out: dict[str, dict] = {}
    for i in rec["injections"]:
        if i["voided"] or not i.get("product"):
            continue
        t = out.setdefault(i["product"], {"units": 0.0, "volume_ml": 0.0, "dose_mg": 0.0,
                                          "injections": 0})
        t["units"] += float(i["units"] or 0)
        t["volume_ml"] += float(i["volume_ml"] or 0)
        t["dose_mg"] += float(i["dose_mg"] or 0)
        t["injections"] += 1
    return out
