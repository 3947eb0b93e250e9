"""Doses from the vial's dilution and the running totals against the label limits, for the
screens. The arithmetic and the limits are the logbook's own (app.logbook.rules and the
catalogue): one source for what is shown and what is recorded. Units are never converted or
added between products."""

from __future__ import annotations

from app.logbook import rules
from app.logbook.catalogue import Catalogue


def brand(cat: Catalogue, key: str) -> str:
    p = cat.product(key) or {}
    return "/".join(p.get("brands") or []) or key


def short_name(cat: Catalogue, key: str) -> str:
    """For a button: the first brand of a toxin; an anaesthetic's key, shortened."""
    p = cat.product(key) or {}
    if key in cat.toxins:
        return (p.get("brands") or [key])[0]
    return key.replace("_epinephrine", " + epi")


def concentration(cat: Catalogue, vial: dict) -> float | None:
    """Units per mL of a prepared toxin vial (None for an anaesthetic or unknown)."""
    v = {"kind": cat.kind_of(vial.get("product") or "") or vial.get("kind"), **vial}
    return rules.units_per_ml(cat, v)


def per_tenth_ml_text(cat: Catalogue, vial: dict) -> str:
    """The figure a nurse draws up by: units per 0.1 mL (shown large), or mg per mL."""
    conc = concentration(cat, vial)
    if conc:
        return f"{conc / 10:g} U / 0.1 mL"
    if vial.get("mg_per_ml"):
        return f"{float(vial['mg_per_ml']):g} mg / mL"
    return "dilution not set"


def complete(cat: Catalogue, vial: dict, *, units: float | None,
             volume_ml: float | None) -> dict:
    """Units from volume or volume from units, rounded for display (2 decimals of mL)."""
    v = {"kind": cat.kind_of(vial.get("product") or "") or vial.get("kind"), **vial}
    out = rules.complete_dose(cat, v, units=units, volume_ml=volume_ml)
    if out["volume_ml"] is not None:
        out["volume_ml"] = round(float(out["volume_ml"]), 3)
    if out["units"] is not None:
        out["units"] = round(float(out["units"]), 2)
    return out


def session_limit(cat: Catalogue, product: str, population: str,
                  regions: set[str]) -> float | None:
    """The smallest per-session maximum that applies to this product, population and the
    regions injected so far (None where the label gives none). A per-limb maximum is not a
    session total and is left to the warnings."""
    p = cat.toxins.get(product) or {}
    found = []
    for lim in p.get("limits", []):
        if lim["rule"] != "per_session_max" or lim.get("value") is None:
            continue
        if lim.get("scope") == "limb":
            continue
        if lim.get("population") not in (None, population):
            continue
        if lim.get("regions") is not None and not (regions & set(lim["regions"])):
            continue
        found.append(float(lim["value"]))
    return min(found) if found else None


def running_totals(cat: Catalogue, injections: list[dict], vials: list[dict],
                   population: str = "adult") -> list[dict]:
    """One line per product used (or prepared) this session: units (or mg) so far, the
    session limit, and the share of it. Voided injections do not count."""
    product_of = {v["id"]: v["product"] for v in vials}
    out: dict[str, dict] = {}
    for v in vials:
        out.setdefault(v["product"], {"product": v["product"], "units": 0.0, "mg": 0.0,
                                      "regions": set(), "injections": 0})
    for i in injections:
        if i.get("voided"):
            continue
        key = product_of.get(i.get("vial_id"))
        if key is None:
            continue
        t = out[key]
        t["units"] += float(i.get("units") or 0)
        t["mg"] += float(i.get("dose_mg") or 0)
        t["injections"] += 1
        region = cat.region_of(i.get("muscle"))
        if region:
            t["regions"].add(region)
    lines = []
    for key, t in out.items():
        kind = cat.kind_of(key)
        if kind == "anaesthetic":
            lim = (cat.anaesthetics.get(key) or {}).get("mg_max")
            value, unit = t["mg"], "mg"
        else:
            lim = session_limit(cat, key, population, t["regions"])
            value, unit = t["units"], "U"
        share = value / float(lim) if lim else 0.0
        text = f"{brand(cat, key)}  {value:g} {unit}" + (f" of {float(lim):g}" if lim else
                                                        " (no session limit)")
        lines.append({"product": key, "value": value, "limit": lim, "unit": unit,
                      "share": share, "text": text, "injections": t["injections"]})
    return lines
