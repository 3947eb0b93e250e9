"""Lot recall: every patient and injection that received a lot, the first question when a
product is recalled. The lot is matched trimmed and in any case ("c4471 " finds C4471), as
written on vials that may differ in both. Records are read as they now stand (amendments
applied: an injection moved to another vial, or a lot corrected, counts where it now is);
voided injections were not given and are only counted. Times in the text are local with
the zone (app.logbook.localtime); the dict keeps UTC. Across the clinic (issue 32) the
rows pulled from other tablets are read with this tablet's: a patient is their MRN, whichever
tablet made their row, or the MRNs a person decided are one patient ("A1 / B7",
app.logbook.duplicates), and each injection names the tablet it was recorded on
(`origin`, None for this one)."""

from __future__ import annotations

from app.logbook import localtime, wording


def normal(lot: str | None) -> str:
    return (lot or "").strip().casefold()


def group(lot: str, vials: list[dict], injections: list[dict], procedures: dict[str, dict],
          patients: dict[str, dict]) -> dict:
    """{lot, products: [{product, lots (as written), injections, units, dose_mg, patients:
    [{mrn, name, birth_date, injections: [...]}]}], voided, patients, injections}, products
    and patients in name order, injections in time order. `vials` are those of the lot;
    `injections` those drawn from them (not voided ones included: they are counted)."""
    by_vial = {v["id"]: v for v in vials}
    products: dict[str, dict] = {}
    voided = 0
    for i in sorted(injections, key=lambda r: r["at"]):
        if i["voided"]:
            voided += 1
            continue
        v = by_vial[i["vial_id"]]
        proc = procedures[i["procedure_id"]]
        pt = patients[proc["patient_id"]]
        prod = products.setdefault(v["product"], {
            "product": v["product"], "lots": [], "injections": 0, "units": 0.0,
            "dose_mg": 0.0, "patients": {}})
        if v["lot"] not in prod["lots"]:
            prod["lots"].append(v["lot"])
        prod["injections"] += 1
        prod["units"] += float(i.get("units") or 0)
        prod["dose_mg"] += float(i.get("dose_mg") or 0)
        mrn = pt.get("person") or pt["mrn"]  # "A1 / B7": decided to be one patient
        person = prod["patients"].setdefault(mrn, {
            "mrn": mrn, "name": ", ".join(x for x in (pt["family_name"],
                                                            pt.get("given_name")) if x),
            "birth_date": pt.get("birth_date"), "injections": []})
        person["injections"].append({
            "procedure_id": proc["id"], "at": i["at"], "muscle": i.get("muscle"),
            "side": i.get("side"), "units": i.get("units"), "dose_mg": i.get("dose_mg"),
            "volume_ml": i.get("volume_ml"), "lot": v["lot"],
            "signed": bool(proc.get("signed_at")), "origin": proc.get("origin")})
    out = []
    for prod in sorted(products.values(), key=lambda p: p["product"]):
        prod["patients"] = sorted(prod["patients"].values(), key=lambda p: p["name"])
        out.append(prod)
    return {"lot": lot, "products": out, "voided": voided,
            "patients": len({p["mrn"] for prod in out for p in prod["patients"]}),
            "injections": sum(p["injections"] for p in out)}


def text(found: dict) -> str:
    """The recall as lines for a terminal or the History screen."""
    if not found["products"]:
        return (f"No injection from lot {found['lot'].strip()!r} (matched trimmed, any case)"
                + (f"; {found['voided']} voided, not given" if found["voided"] else "") + ".")
    lines = [f"Lot {found['lot'].strip()} (matched trimmed, any case): "
             f"{found['patients']} patient(s), {found['injections']} injection(s)"
             + (f"; {found['voided']} voided, not given" if found["voided"] else "")]
    for prod in found["products"]:
        amount = (f"{prod['units']:g} U" if prod["units"] else f"{prod['dose_mg']:g} mg")
        lines.append(f"{prod['product']}, lot {' / '.join(prod['lots'])}: "
                     f"{prod['injections']} injection(s), {amount}")
        for p in prod["patients"]:
            lines.append(f"  {p['mrn']}  {p['name']}  born {p['birth_date'] or '?'}")
            for i in p["injections"]:
                dose = wording.dose(i)
                lines.append(f"    {localtime.date_time(i['at'])}  "
                             f"{i['muscle'] or 'muscle ?'} {i['side'] or ''}  {dose}  "
                             f"(procedure {i['procedure_id'][:8]}, "
                             f"{'signed' if i['signed'] else 'not signed'}"
                             f"{', on ' + i['origin'] if i.get('origin') else ''})")
    return "\n".join(lines)
