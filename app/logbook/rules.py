"""Dose rules: arithmetic between units, volume and dilution, and the warnings a proposed
injection raises against the catalogue's label limits.

Pure functions over plain dicts (the store gathers the rows): nothing here reads the
database, so every rule is tested on its own. Warnings are returned, never raised: the
physician decides, and an override is recorded with its reason by the store. Totals are
kept per product; units of one product are never added to, or converted into, another's.
"""

from __future__ import annotations

import calendar
import datetime

from app.logbook import ids
from app.logbook.catalogue import Catalogue

MISMATCH = 0.02  # units and volume given together may differ from the dilution by 2 %
ADULT_AGE = 18


# arithmetic ---------------------------------------------------------------------------------

# Warnings that belong to the session (or a vial, or the patient), not to each injection:
# recorded once per procedure.
SESSION_RULES = {"min_interval", "mixed_products", "no_weight", "unknown_product",
                 "lot_expired", "age_unknown"}
# The injection fields the rules read: confirming one of them runs them again.
INPUTS = {"muscle", "side", "units", "volume_ml", "dose_mg", "vial_id", "at"}


def vial_volume_ml(cat: Catalogue, vial: dict) -> float | None:
    """Volume of drug in the vial once prepared: the diluent for a powder; the solution's own
    volume plus any diluent for a ready solution (rimabotulinumtoxinB)."""
    if vial.get("volume_ml"):
        return float(vial["volume_ml"])
    product = cat.toxins.get(vial.get("product") or "", {})
    diluent = float(vial.get("diluent_ml") or 0.0)
    if product.get("form") == "solution" and product.get("units_per_ml") and vial.get(
            "vial_units"):
        return float(vial["vial_units"]) / float(product["units_per_ml"]) + diluent
    return diluent or None


def units_per_ml(cat: Catalogue, vial: dict) -> float | None:
    volume = vial_volume_ml(cat, vial)
    if vial.get("kind") != "toxin" or not vial.get("vial_units") or not volume:
        return None
    return float(vial["vial_units"]) / volume


def complete_dose(cat: Catalogue, vial: dict, *, units=None, volume_ml=None) -> dict:
    """Fill in what follows from the dilution: units from volume or volume from units (toxin),
    milligrams from volume (anaesthetic). What the caller gave is kept as given."""
    out = {"units": units, "volume_ml": volume_ml, "dose_mg": None}
    if vial.get("kind") == "anaesthetic":
        if volume_ml is not None and vial.get("mg_per_ml"):
            out["dose_mg"] = round(float(volume_ml) * float(vial["mg_per_ml"]), 6)
        return out
    conc = units_per_ml(cat, vial)
    if conc:
        if units is None and volume_ml is not None:
            out["units"] = round(float(volume_ml) * conc, 6)
        elif volume_ml is None and units is not None:
            out["volume_ml"] = round(float(units) / conc, 6)
    return out


# the checks ---------------------------------------------------------------------------------

class Checked(list):
    """The warnings of a dose check, and beside them its `note`: a sentence about what the
    check could not see (Logbook.clinic_note: "other rooms last seen 09:12 (UTC+01:00)"),
    shown with the result; it is no warning, is never recorded and needs no override."""

    def __init__(self, warnings=(), note: str | None = None):
        super().__init__(warnings)
        self.note = note


def check(cat: Catalogue, *, patient: dict, procedure: dict, vial: dict, proposed: dict,
          session: list[dict], history: list[dict]) -> list[dict]:
    """Warnings for one proposed injection.

    proposed: {muscle, side, units, volume_ml, at}; session: the procedure's other
    injections that count (not voided, amendments applied), each with its vial's product;
    history: the patient's toxin injections in other procedures, each with the procedure's
    started_at and product.
    """
    at = ids.parse(ids.to_stamp(proposed.get("at") or ids.now()))
    key = vial.get("product")
    out: list[dict] = []
    out += _vial_warnings(cat, vial, at)
    given = complete_dose(cat, vial, units=proposed.get("units"),
                          volume_ml=proposed.get("volume_ml"))
    if vial.get("kind") == "anaesthetic":
        return out + _anaesthetic(cat, key, patient, procedure, given, proposed, session)
    product = cat.toxins.get(key)
    if product is None:
        return out + [_warning("unknown_product", key, f"{key} is not in the product "
                               "catalogue: no dose limit can be checked")]
    out += _mismatch(cat, vial, proposed, key)
    out += _overdrawn(vial, float(given["units"] or 0.0), session)
    if not patient.get("birth_date"):
        out.append(_warning("age_unknown", key, "age unknown: paediatric limits not checked (no "
                            "birth date is recorded; adult limits applied)"))
    units = float(given["units"] or 0.0)
    muscle = proposed.get("muscle")
    region = cat.region_of(muscle)
    if muscle and region is None:
        out.append(_warning("unknown_muscle", key, f"muscle {muscle!r} is not in the muscle "
                            "catalogue: limits for its region cannot be checked"))
    others = sorted({s["product"] for s in session if s.get("product") != key
                     and cat.kind_of(s.get("product") or "") != "anaesthetic"})
    if others:
        out.append(_warning("mixed_products", key, f"this session also uses "
                            f"{', '.join(others)}: totals are kept per product, units are "
                            "not interchangeable and are never added together"))
    pop = population(patient.get("birth_date"), procedure.get("started_at"))
    weight = procedure.get("weight_kg") or patient.get("weight_kg")
    same = [s for s in session if s.get("product") == key]
    for lim in product.get("limits", []):
        if lim.get("value") is None or lim.get("population") not in (None, pop):
            continue
        regions = lim.get("regions")
        if regions is not None and region not in regions:
            continue
        w = _limit(cat, key, product, lim, units=units, muscle=muscle,
                   side=proposed.get("side"), same=same, history=history, at=at,
                   weight=weight, procedure=procedure, regions=regions)
        if w and not (w["rule"] == "no_weight" and any(x["rule"] == "no_weight" for x in out)):
            out.append(w)
    out += _interval(cat, key, product, pop, region, procedure, history)
    out += _typical(cat, key, muscle, proposed.get("side"), units, same)
    return out


def population(birth_date: str | None, on: str | None) -> str:
    """'pediatric' under 18 on the day of the procedure; 'adult' otherwise or when unknown (a
    toxin check then warns `age_unknown`: the pediatric limits were not applied)."""
    if not birth_date:
        return "adult"
    born = datetime.date.fromisoformat(birth_date[:10])
    day = ids.parse(on).date() if on else datetime.date.today()
    age = day.year - born.year - ((day.month, day.day) < (born.month, born.day))
    return "pediatric" if age < ADULT_AGE else "adult"


def _limit(cat, key, product, lim, *, units, muscle, side, same, history, at, weight,
           procedure, regions) -> dict | None:
    rule, value = lim["rule"], float(lim["value"])
    region = cat.region_of(muscle)
    counts = _counts(cat, lim, regions, region, side)
    place = _place(lim, region, side)
    session_total = units + sum(float(s.get("units") or 0) for s in same if counts(s))
    if rule == "per_site_max" and units > value:
        return _over(rule, key, product, lim, units, f"{_u(units)} at one site")
    if rule == "per_session_max" and session_total > value:
        return _over(rule, key, product, lim, session_total,
                     f"{_u(session_total)} {place}this session")
    if rule == "per_muscle_max" and muscle in (lim.get("muscles") or [muscle]):
        total = units + sum(float(s.get("units") or 0) for s in same
                            if s.get("muscle") == muscle and s.get("side") == side)
        if total > value:
            return _over(rule, key, product, lim, total, f"{_u(total)} into this muscle")
    if rule in ("rolling_window_max", "per_kg_max") and lim.get("window_days"):
        start = at - datetime.timedelta(days=float(lim["window_days"]))
        past = sum(float(h.get("units") or 0) for h in history
                   if h.get("product") == key and counts(h)
                   and start <= ids.parse(h["at"]) <= at)
        total, span = session_total + past, f"{place}in {lim['window_days']:g} days"
    else:
        total, span = session_total, f"{place}this session"
    if rule == "rolling_window_max" and total > value:
        return _over(rule, key, product, lim, total, f"{_u(total)} {span}")
    if rule == "per_kg_max":
        if not weight:
            return _warning("no_weight", key, f"{_name(key, product)}: a per-kg maximum "
                            f"applies ({value:g} U/kg) but no weight is recorded", lim=lim,
                            product=product, limit_value=value)
        per_kg = total / float(weight)
        if per_kg > value:
            return _over(rule, key, product, lim, round(per_kg, 3),
                         f"{per_kg:.2f} U/kg {span} ({_u(total)} at {float(weight):g} kg)",
                         unit="U/kg")
    return None


def _counts(cat, lim, regions, region, side):
    """Which injections add to a limit's total: those in its regions; for a per-limb limit
    (scope "limb"), only those into the same limb, the region and side of this injection. An
    injection whose side is not given counts against either side, and when this one's side is
    not given the whole region counts: never less than the limb's true total."""
    def counts(row) -> bool:
        r = cat.region_of(row.get("muscle"))
        if regions is not None and r not in regions:
            return False
        if lim.get("scope") != "limb":
            return True
        return r == region and (not side or row.get("side") in (side, None))
    return counts


def _place(lim, region, side) -> str:
    if lim.get("scope") != "limb":
        return ""
    limb = (region or "limb").replace("_", " ")
    if side:
        return f"into the {side} {limb} "
    return f"into the {limb} (side not given: both sides counted) "


def _interval(cat, key, product, pop, region, procedure, history) -> list[dict]:
    limits = [lim for lim in product.get("limits", []) if lim["rule"] == "min_interval_days"
              and lim.get("value") and lim.get("population") in (None, pop)
              and (lim.get("regions") is None or region in lim["regions"])]
    if limits:
        lim = max(limits, key=lambda v: v["value"])
    elif cat.policy.get("toxin_min_interval_days"):
        lim = {"value": cat.policy["toxin_min_interval_days"], "context": "clinic policy",
               "source": cat.policy.get("source"), "verify": cat.policy.get("verify")}
    else:
        return []
    start = ids.parse(procedure["started_at"])
    earlier = [ids.parse(h["started_at"]) for h in history
               if h.get("procedure_id") != procedure.get("id")
               and ids.parse(h["started_at"]) < start]
    if not earlier:
        return []
    days = (start - max(earlier)).total_seconds() / 86400
    if days >= float(lim["value"]):
        return []
    return [_warning("min_interval", key, f"{_name(key, product)}: {days:.0f} days since the "
                     f"last toxin session (any product); minimum {lim['value']:g} days "
                     f"({lim.get('context', '')})", lim=lim, product=product,
                     limit_value=float(lim["value"]), value=round(days, 2))]


def _typical(cat, key, muscle, side, units, same) -> list[dict]:
    m = cat.muscles.get(muscle or "")
    dose = (m or {}).get("typical_doses", {}).get(key)
    if not dose or dose.get("max_units") is None:
        return []
    total = units + sum(float(s.get("units") or 0) for s in same
                        if s.get("muscle") == muscle and s.get("side") == side)
    if total <= float(dose["max_units"]):
        return []
    where = side or "side not given"
    return [_warning("muscle_typical_max", key, f"{_u(total)} into {m['name']} ({where}) is "
                     f"above the label's range for it ({dose.get('min_units')} to "
                     f"{dose['max_units']} U, {dose.get('context', '')})",
                     limit_value=float(dose["max_units"]), value=total,
                     source=dose.get("source"))]


def _vial_warnings(cat: Catalogue, vial: dict, at: datetime.datetime) -> list[dict]:
    out = []
    key = vial.get("product")
    if vial.get("expiry") and at.date() > expiry_date(vial["expiry"]):
        out.append(_warning("lot_expired", key, f"lot {vial.get('lot') or '(no lot)'} expired "
                            f"on {expiry_date(vial['expiry']).isoformat()}"))
    product = cat.product(key or "") or {}
    hours = product.get("use_within_hours")
    if vial.get("reconstituted_at") and hours:
        use_by = ids.parse(vial["reconstituted_at"]) + datetime.timedelta(hours=float(hours))
        if at > use_by:
            late = (at - use_by).total_seconds() / 3600
            out.append(_warning("past_use_by", key, f"vial prepared more than {hours:g} h ago "
                                f"({late:.1f} h past its use-by time)", product=product,
                                lim={"source": product.get("use_within_source")},
                                limit_value=float(hours)))
    return out


def expiry_date(text: str) -> datetime.date:
    """A label's expiry: 'YYYY-MM-DD', or 'YYYY-MM' meaning the last day of that month."""
    if len(text) == 7:
        year, month = int(text[:4]), int(text[5:7])
        return datetime.date(year, month, calendar.monthrange(year, month)[1])
    return datetime.date.fromisoformat(text[:10])


def _overdrawn(vial: dict, units: float, session: list[dict]) -> list[dict]:
    """More units drawn from one vial than it held: a syringe charged to the wrong vial, or
    a dose typed wrong. Arithmetic on the record, not a label limit."""
    held = vial.get("vial_units")
    if not held or not units:
        return []
    before = sum(float(s.get("units") or 0) for s in session
                 if s.get("vial_id") == vial.get("id"))
    left = float(held) - float(vial.get("units_wasted") or 0) - before
    if units <= left + 1e-9:
        return []
    return [_warning("vial_overdrawn", vial.get("product"),
                     f"{_u(units)} drawn from lot {vial.get('lot') or '(no lot)'}, which had "
                     f"{_u(max(left, 0.0))} left of {float(held):g} U: check which vial the "
                     "syringe came from", limit_value=round(left, 3), value=units)]


def _mismatch(cat, vial, proposed, key) -> list[dict]:
    units, volume = proposed.get("units"), proposed.get("volume_ml")
    conc = units_per_ml(cat, vial)
    if units is None or volume is None or not conc:
        return []
    expected = float(volume) * conc
    if abs(expected - float(units)) <= MISMATCH * max(expected, float(units), 1e-9):
        return []
    return [_warning("dose_mismatch", key, f"{_u(float(units))} does not follow from "
                     f"{float(volume):g} mL at {conc:g} U/mL ({_u(expected)}): check the "
                     "dilution", limit_value=round(expected, 3), value=float(units))]


def _anaesthetic(cat, key, patient, procedure, given, proposed, session) -> list[dict]:
    drug = cat.anaesthetics.get(key)
    if drug is None:
        return [_warning("unknown_product", key, f"{key} is not in the anaesthetic catalogue: "
                         "no maximum can be checked")]
    mg = float(given["dose_mg"] or 0.0)
    if proposed.get("volume_ml") is None and proposed.get("dose_mg") is not None:
        mg = float(proposed["dose_mg"])
    by_agent: dict[str, float] = {key: mg}
    for s in session:
        if cat.kind_of(s.get("product") or "") == "anaesthetic":
            by_agent[s["product"]] = by_agent.get(s["product"], 0.0) + float(s.get("dose_mg") or 0)
    total = by_agent[key]
    out = []
    weight = procedure.get("weight_kg") or patient.get("weight_kg")
    lim = {"context": drug.get("generic", key), "source": drug.get("source"),
           "verify": drug.get("verify")}
    if drug.get("mg_per_kg_max") is not None:
        if not weight:
            out.append(_warning("no_weight", key, f"{key}: a mg/kg maximum applies "
                                f"({drug['mg_per_kg_max']:g} mg/kg) but no weight is recorded",
                                lim=lim))
        elif total / float(weight) > float(drug["mg_per_kg_max"]):
            per_kg = total / float(weight)
            out.append(_warning("anaesthetic_mg_per_kg", key, f"{key}: {per_kg:.2f} mg/kg this "
                                f"session ({total:g} mg at {float(weight):g} kg) passes "
                                f"{drug['mg_per_kg_max']:g} mg/kg", lim=lim,
                                limit_value=float(drug["mg_per_kg_max"]),
                                value=round(per_kg, 3)))
    if drug.get("mg_max") is not None and total > float(drug["mg_max"]):
        out.append(_warning("anaesthetic_mg_max", key, f"{key}: {total:g} mg this session "
                            f"passes the {drug['mg_max']:g} mg maximum", lim=lim,
                            limit_value=float(drug["mg_max"]), value=total))
    return out + _anaesthetics_together(cat, key, by_agent, weight)


def anaesthetic_max_mg(drug: dict, weight: float | None) -> float | None:
    """One agent's maximum this session: the lower of its mg/kg maximum at this weight and its
    absolute maximum, as the catalogue gives them (None where it gives neither, or only a mg/kg
    maximum and no weight is known)."""
    caps = [float(drug["mg_max"])] if drug.get("mg_max") is not None else []
    if drug.get("mg_per_kg_max") is not None and weight:
        caps.append(float(drug["mg_per_kg_max"]) * float(weight))
    return min(caps) if caps else None


def _anaesthetics_together(cat, key, by_agent, weight) -> list[dict]:
    """Local anaesthetics add up: each agent's mg over its own maximum, summed across the
    agents given this session; a sum past the clinic policy's figure (1 as shipped) warns,
    naming each agent and its share. One agent alone is left to its own warnings."""
    limit = cat.policy.get("anaesthetic_combined_max")
    given = {a: mg for a, mg in sorted(by_agent.items()) if mg > 0}
    if limit is None or len(given) < 2:
        return []
    known, unknown = {}, []
    for agent, mg in given.items():
        cap = anaesthetic_max_mg(cat.anaesthetics.get(agent) or {}, weight)
        if cap:
            known[agent] = (mg, cap)
        else:
            unknown.append(agent)
    share = sum(mg / cap for mg, cap in known.values())
    if share <= float(limit):
        return []
    parts = [f"{a} {mg:g} mg of {cap:g} mg ({mg / cap:.2f})" for a, (mg, cap) in known.items()]
    missing = (f"; not counted, no maximum known{'' if weight else ' (no weight recorded)'}: "
               f"{', '.join(unknown)}" if unknown else "")
    lim = {"source": cat.policy.get("anaesthetic_combined_source"),
           "verify": cat.policy.get("anaesthetic_combined_verify")}
    return [_warning("anaesthetic_combined", key, "local anaesthetics together this session: "
                     f"{' + '.join(parts)} = {share:.2f} of the maximum, past {float(limit):g}"
                     f"{missing}", lim=lim, limit_value=float(limit), value=round(share, 3))]


# wording ------------------------------------------------------------------------------------

def _u(units: float) -> str:
    return f"{units:g} U"


def _name(key, product) -> str:
    brands = "/".join(product.get("brands") or [])
    return f"{key} ({brands})" if brands else str(key)


def _over(rule, key, product, lim, value, what, unit="U") -> dict:
    per = " per limb" if lim.get("scope") == "limb" else ""
    return _warning(rule, key, f"{_name(key, product)}: {what} passes the {lim['value']:g} "
                    f"{unit} {rule.replace('_', ' ')}{per} ({lim.get('context', '')})", lim=lim,
                    product=product, limit_value=float(lim["value"]), value=float(value))


def _warning(rule, key, message, *, lim=None, product=None, limit_value=None, value=None,
             source=None) -> dict:
    lim, product = lim or {}, product or {}
    src = source or lim.get("source") or product.get("source")
    verify = lim.get("verify") or product.get("verify")
    return {"rule": rule, "product": key, "message": message, "limit_value": limit_value,
            "value": value, "source": src, "verify": verify}
