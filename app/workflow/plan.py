"""Last time's plan, carried forward: what the patient's previous signed procedure gave,
muscle by muscle and side by side, offered on entry so that one tap fills an injection as
it was done then; and the units offered as quick picks for a muscle.

A plan is only ever read from a procedure a physician signed: an open or abandoned one is
not a plan. Units belong to their product and are never carried to another: an item of
last time's product offers its units only while a vial of that same product is in use."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from app.logbook.catalogue import Catalogue

QUICK_PICKS = 6  # unit buttons offered for a muscle: one row on a tablet
GRADUATIONS = (1, 2, 3, 4, 6, 8, 10)  # tenths of a mL offered where the label gives no dose


@dataclass(frozen=True)
class PlanItem:
    muscle: str
    side: str | None
    product: str | None
    units: float  # in all, over its sites
    sites: int
    per_site: float | None  # the dose given at most of its sites (None: none recorded)



def last_signed(procedures: list[dict], exclude: str | None = None) -> dict | None:
    """The newest signed procedure of a patient's history (oldest first), other than
    `exclude` (the one being recorded)."""
    signed = [p for p in procedures if p.get("signed_at") and p["id"] != exclude]
    return signed[-1] if signed else None


def plan_of(procedure: dict | None) -> list[PlanItem]:
    """Each muscle, side and product of a procedure, in the order first injected, with
    the units given in all, the number of sites and the usual dose per site."""
    if procedure is None:
        return []
    product_of = {v["id"]: v["product"] for v in procedure.get("vials", [])}
    groups: dict[tuple, list[float]] = {}
    for i in procedure.get("injections", []):
        if i.get("voided") or not i.get("muscle"):
            continue
        key = (i["muscle"], i.get("side"), i.get("product") or product_of.get(i.get("vial_id")))
        groups.setdefault(key, [])
        if i.get("units") is not None:
            groups[key].append(float(i["units"]))
    items = []
    for (muscle, side, product), doses in groups.items():
        per_site = Counter(doses).most_common(1)[0][0] if doses else None
        items.append(PlanItem(muscle, side, product, sum(doses), len(doses) or 1, per_site))
    return items


def quick_units(cat: Catalogue, muscle: str | None, product: str | None,
                per_tenth_ml: float | None, plan: list[PlanItem],
                population: str = "adult") -> list[float]:
    """Units to offer as buttons for one injection into `muscle` from a vial of
    `product`: last time's dose per site (same product only), the ends of the label's
    typical dose per site for the muscle, and between them (or, with no label figure, from
    one step up) whole steps of what 0.1 mL of the vial holds, the syringe's graduation.
    None passes the product's per-site maximum for the patient's population (a dose
    beyond it is typed, and warns). Ascending, at most QUICK_PICKS."""
    if not product or product not in cat.toxins:
        return []
    cap = _per_site_max(cat, product, population)
    last = {p.per_site for p in plan if p.muscle == muscle and p.product == product
            and p.per_site}
    lo, hi = per_site_range(cat, muscle, product) or (None, None)
    hi = min(hi, cap) if hi else None
    step = per_tenth_ml if per_tenth_ml and per_tenth_ml > 0 else None
    fixed = {u for u in (*last, lo, hi) if u}
    if step:
        if hi:  # whole graduations within the label's range, round figures first, spread
            inside = [step * k for k in range(1, int(hi / step) + 1)
                      if (lo or step) <= step * k <= hi]
            nice = [u for u in inside if u % 5 == 0]
            steps = nice if len(nice) >= 2 else inside
            room = QUICK_PICKS - len(fixed - {steps[0], steps[-1]}) if steps else 0
            fixed |= {steps[round(j * (len(steps) - 1) / max(room - 1, 1))]
                      for j in range(min(room, len(steps)))}
        else:  # no label figure: the first tenths of a mL
            fixed |= {step * k for k in GRADUATIONS[:QUICK_PICKS - len(fixed)]}
    return sorted(round(u, 2) for u in fixed if u <= cap)[:QUICK_PICKS]


def _per_site_max(cat: Catalogue, product: str, population: str) -> float:
    found = [float(lim["value"]) for lim in cat.toxins[product].get("limits", [])
             if lim["rule"] == "per_site_max" and lim.get("value") is not None
             and lim.get("population") in (None, population)]
    return min(found, default=float("inf"))


def per_site_range(cat: Catalogue, muscle: str | None, product: str
                   ) -> tuple[float | None, float] | None:
    """The label's typical dose for the muscle, per injection site: its least over the
    most sites (None where it gives only a most) to its most over the fewest; None where
    the label gives no figure."""
    typical = ((cat.muscles.get(muscle or "") or {}).get("typical_doses") or {}).get(product)
    if not typical:
        return None
    lo, hi = typical.get("min_units"), typical.get("max_units")
    if not hi:
        return None
    few, many = _sites(typical.get("sites"))
    return (round(lo / many, 1) if lo else None), round(hi / few, 1)


def _sites(value) -> tuple[int, int]:
    """A label's number of sites ("2-4", 3, "1", None) as (fewest, most)."""
    found = [int(n) for n in re.findall(r"\d+", str(value))] if value is not None else []
    return (min(found), max(found)) if found else (1, 1)


def item_text(cat: Catalogue, item: PlanItem) -> str:
    """"Biceps brachii left 50 U (2 x 25 U)", as the plan is offered."""
    name = (cat.muscles.get(item.muscle) or {}).get("name", item.muscle)
    side = f" {item.side}" if item.side else ""
    if not item.units:
        return f"{name}{side}"
    each = (f" ({item.sites} x {item.per_site:g} U)"
            if item.sites > 1 and item.per_site and item.per_site * item.sites == item.units
            else f" in {item.sites} sites" if item.sites > 1 else "")
    return f"{name}{side} {item.units:g} U{each}"
