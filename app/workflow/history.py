"""What the History screen lists and charts, read from the logbook in a few queries: all
procedures (newest first) or a patient's, a patient's timeline with totals, a procedure's
detail, and per muscle the units given, the EMG found at injection and the pain scores over
time. Exports go through the logbook's own writers. Wherever EMG is listed or charted,
`provenance` says where it came from (app.workflow.snippet.provenance), so a simulated or
replayed snippet is never read as the patient's. Dates and times are the tablet's local
ones, a time with its zone (app.logbook.localtime); the logbook keeps UTC."""

from __future__ import annotations

import datetime
import math
from pathlib import Path

from app.logbook import Logbook, localtime, scales
from app.workflow import procedure as flow
from app.workflow.snippet import emg_summary, provenance

EXPORTS = ("pdf", "csv", "fhir", "edf")


def patients(lb: Logbook, text: str = "", limit: int = 2000) -> list[dict]:
    """Patients matching the search as typed (MRN or name prefix), with their procedure
    count and last date."""
    t = (text or "").strip().replace("%", "").replace("_", "")
    where, params = "", []
    if t:
        where = ("WHERE pt.mrn LIKE ? OR pt.family_name LIKE ? OR pt.given_name LIKE ? "
                 "OR (pt.family_name || ' ' || coalesce(pt.given_name, '')) LIKE ?")
        params = [t + "%"] * 4
    return list(lb.db.query(
        f"""SELECT pt.id, pt.mrn, pt.family_name, pt.given_name, pt.birth_date,
                   count(p.id) AS procedures, max(p.started_at) AS last
            FROM patients pt LEFT JOIN procedures p ON p.patient_id = pt.id {where}
            GROUP BY pt.id ORDER BY pt.family_name, pt.given_name LIMIT ?""",
        [*params, limit]))


def all_procedures(lb: Logbook, limit: int | None = None) -> list[dict]:
    """Every procedure, newest first, one row each, for the scrolling list."""
    sql = """SELECT p.id, p.patient_id, pt.mrn, pt.family_name, p.kind, p.started_at,
                    p.signed_at,
                    (SELECT count(*) FROM injections i WHERE i.procedure_id = p.id
                     AND i.voided = 0) AS injections
             FROM procedures p JOIN patients pt ON pt.id = p.patient_id
             ORDER BY p.started_at DESC"""
    return list(lb.db.query(sql + (f" LIMIT {int(limit)}" if limit else "")))


def procedure_row_text(r: dict) -> str:
    return (f"{localtime.date(r['started_at'])}  {r['mrn']}  {r.get('family_name') or ''}  "
            f"{flow.KINDS.get(r['kind'], r['kind'])}  {r['injections']} inj"
            f"{'  signed' if r['signed_at'] else '  OPEN'}")


def timeline(lb: Logbook, patient_id: str) -> dict:
    """The patient and their procedures, newest first, each with its totals per product
    and the tablet it was recorded on (`origin`: None for this one)."""
    hist = lb.patient_history(patient_id)
    cat = lb.cat
    rows = []
    for rec in reversed(hist["procedures"]):
        s = flow.summary(cat, rec)
        rows.append({"id": rec["id"], "date": localtime.date(rec["started_at"]),
                     "kind": flow.KINDS.get(rec["kind"], rec["kind"]),
                     "indication": rec.get("indication") or "",
                     "totals": "; ".join(t["text"] for t in s["totals"]) or "no drug",
                     "injections": sum(1 for i in rec["injections"] if not i["voided"]),
                     "signed": bool(rec.get("signed_at")),
                     "pain": (rec.get("pain_before"), rec.get("pain_after")),
                     "provenance": _sources(i for i in rec["injections"] if not i["voided"]),
                     "origin": rec.get("origin")})  # the tablet it was recorded on, or None
    return {"patient": hist["patient"], "procedures": rows, "records": hist["procedures"]}


def muscle_series(lb: Logbook, patient_id: str, records: list[dict] | None = None
                  ) -> dict[str, dict]:
    """Per muscle and side: one point per procedure with the dose given per product
    (`doses`: {product: {"amount", "unit"}}, never added across products), the mean RMS,
    end-plate noise rate and tonic share found at its injections with where that EMG came
    from (`provenance`), and the procedure's pain scores (before, after, follow-up)."""
    records = records if records is not None else lb.patient_history(patient_id)["procedures"]
    names = {k: m["name"] for k, m in lb.cat.muscles.items()}
    out: dict[str, dict] = {}
    for rec in records:
        pain_follow = [o["value"] for o in rec["observations"] if o["current"]
                       and o["scale"] == "pain_nrs" and o["timepoint"] == "followup"]
        grades = {(o["muscle"], o.get("side") or "", o["timepoint"]): o
                  for o in rec["observations"]
                  if o["current"] and o["scale"] == "modified_ashworth"}
        per: dict[str, dict] = {}
        for i in rec["injections"]:
            if i["voided"] or not i.get("muscle"):
                continue
            key = f"{i['muscle']}:{i.get('side') or ''}"
            p = per.setdefault(key, {"doses": {}, "rms": [], "epn": [], "tonic": [],
                                     "injections": []})
            p["injections"].append(i)
            if i.get("product"):
                mg = i.get("units") is None and i.get("dose_mg") is not None
                d = p["doses"].setdefault(i["product"], {"amount": 0.0,
                                                         "unit": "mg" if mg else "U"})
                d["amount"] += float((i.get("dose_mg") if mg else i.get("units")) or 0)
            e = emg_summary(i.get("emg_findings"))
            for k, name in (("rms", "rms_uv"), ("epn", "epn_per_s"), ("tonic", "tonic")):
                if e[name] is not None:
                    p[k].append(e[name])
        for key, p in per.items():
            muscle, side = key.split(":")
            s = out.setdefault(key, {"muscle": muscle, "side": side,
                                     "title": f"{names.get(muscle, muscle)} {side}".strip(),
                                     "points": []})
            s["points"].append({
                "date": localtime.date(rec["started_at"]), "doses": p["doses"],
                "rms_uv": _mean(p["rms"]), "epn_per_s": _mean(p["epn"]),
                "tonic": _mean(p["tonic"]), "pain_before": rec.get("pain_before"),
                "pain_after": rec.get("pain_after"),
                "pain_followup": pain_follow[-1] if pain_follow else None,
                "ashworth": _grade(grades.get((muscle, side, "before"))),
                "ashworth_followup": _grade(grades.get((muscle, side, "followup"))),
                "provenance": _sources(p["injections"])})
    return out


def chart_strips(cat, points: list[dict]) -> list[dict]:
    """A muscle's chart as horizontal strips, each on its own scale with its unit: one per
    product (its doses as bars: two products never share a scale), RMS (uV) and end-plate
    noise (/s) at injection as lines, pain 0-10. Each strip: {label, unit, kind, top (the
    axis's upper number), values (per point, None where not recorded)}."""
    from app.workflow import dose

    strips = []
    products = sorted({k for p in points for k in p["doses"]})
    for prod in products:
        amounts = [p["doses"].get(prod, {}).get("amount") for p in points]
        unit = next(p["doses"][prod]["unit"] for p in points if prod in p["doses"])
        strips.append({"label": dose.brand(cat, prod), "unit": unit, "kind": "bars",
                       "top": nice_top(max(a or 0 for a in amounts)), "values": amounts})
    for key, label, unit in (("rms_uv", "RMS", "uV"), ("epn_per_s", "End-plate noise", "/s")):
        values = [p[key] for p in points]
        if any(v is not None for v in values):
            strips.append({"label": label, "unit": unit, "kind": "line",
                           "top": nice_top(max(v or 0 for v in values)), "values": values,
                           "rings": [bool(p["tonic"]) for p in points]
                           if key == "rms_uv" else None})
    if any(p.get("ashworth") or p.get("ashworth_followup") for p in points):
        strips.append({"label": "Ashworth", "unit": "0-4", "kind": "grade",
                       "top": len(scales.ASHWORTH) - 1, "grades": scales.ASHWORTH,
                       "values": [(p.get("ashworth"), p.get("ashworth_followup"))
                                  for p in points]})
    strips.append({"label": "Pain", "unit": "0-10", "kind": "pain", "top": 10,
                   "values": [(p["pain_before"], p["pain_after"], p["pain_followup"])
                              for p in points]})
    return strips


def change_line(cat, points: list[dict]) -> str:
    """What changed at this muscle since the visit before: its Modified Ashworth grade at
    the visit, the dose per product (a change of product is said, never subtracted), the
    EMG at injection, the pain after. "" for a first visit."""
    from app.workflow import dose

    if len(points) < 2:
        return ""
    before, now = points[-2], points[-1]

    def doses(p) -> str:
        return " + ".join(f"{dose.brand(cat, k)} {d['amount']:g} {d['unit']}"
                          for k, d in sorted(p["doses"].items())) or "no drug"

    parts = []
    if before.get("ashworth") and now.get("ashworth"):
        parts.append(f"Ashworth {before['ashworth']} -> {now['ashworth']}")
    if set(before["doses"]) == set(now["doses"]) and len(now["doses"]) == 1:
        (key,) = now["doses"]
        unit = now["doses"][key]["unit"]
        parts.append(f"{dose.brand(cat, key)} {before['doses'][key]['amount']:g} -> "
                     f"{now['doses'][key]['amount']:g} {unit}")
    else:
        parts.append(f"{doses(before)} -> {doses(now)}"
                     + (": product changed" if set(before["doses"]) != set(now["doses"])
                        else ""))
    for key, label, unit in (("rms_uv", "RMS", " uV"), ("epn_per_s", "end-plate noise", "/s"),
                             ("pain_after", "pain after", "")):
        if before[key] is not None and now[key] is not None:
            parts.append(f"{label} {_figures(before[key])} -> {_figures(now[key])}{unit}")
    return f"Since {before['date']}: " + ", ".join(parts)


def nice_top(value: float) -> float:
    """The axis's upper number: 1, 2 or 5 times a power of ten, at or above `value`."""
    if value <= 0:
        return 1.0
    k = 10 ** math.floor(math.log10(value))
    return next(m * k for m in (1, 2, 5, 10) if m * k >= value - 1e-9)


def date_positions(dates: list[str]) -> list[float]:
    """Where each visit sits along the time axis, 0 to 1, by its date (a single visit in
    the middle): eight months and eight days apart are not drawn alike."""
    days = [datetime.date.fromisoformat(d[:10]).toordinal() for d in dates]
    if not days or max(days) == min(days):
        return [0.5] * len(days)
    lo, hi = min(days), max(days)
    return [(d - lo) / (hi - lo) for d in days]


def chart_note(points: list[dict]) -> str:
    """What the chart must say of its EMG: where it was not the patient's, calibrated."""
    sources = "; ".join(dict.fromkeys(p["provenance"] for p in points if p["provenance"]))
    odd = [w for w in sources.split("; ") if w.startswith(("SIMULATED", "REPLAY"))
           or "uncalibrated" in w or "not recorded" in w]
    return ("EMG: " + "; ".join(odd)) if odd else ""


def detail(cat, rec: dict) -> dict:
    """What a procedure's detail shows (app.workflow.procedure.summary), each injection row
    with `provenance`: where its EMG came from, "" when none was kept."""
    s = flow.summary(cat, rec)
    words = {i["id"]: provenance(i) for i in rec["injections"]}
    for row in s["injections"]:
        row["provenance"] = words.get(row["id"], "")
    return s


def record_lines(cat, rec: dict, users: dict) -> list[str]:
    """The whole record of one procedure as it now reads, for its detail page: each
    injection with its vial and lot, dose and volume, the EMG words at the mark and where
    the EMG came from, who entered it, its warnings with their state; then who signed and
    every amendment with its before and after (app.logbook.wording, as the exports say)."""
    from app.logbook import wording

    names = {k: m["name"] for k, m in cat.muscles.items()}
    vials = {v["id"]: v for v in rec["vials"]}
    lines = [f"Recorded on tablet {rec['origin']} (pulled from the clinic server)"
             ] if rec.get("origin") else []
    for i in rec["injections"]:
        v = vials.get(i.get("vial_id")) or {}
        vial = f"  {v['product']} lot {v.get('lot') or '?'}" if v else "  no drug"
        lines.append(f"{i['seq']}. {localtime.time_of_day(i['at'])}  "
                     f"{names.get(i.get('muscle'), i.get('muscle') or 'muscle ?')} "
                     f"{i.get('side') or ''} site {i.get('site') or '-'}: "
                     f"{wording.dose(i, volume=True)}{vial}, entered by "
                     f"{wording.who(users, i.get('created_by'))}"
                     f"{'  VOIDED' if i['voided'] else ''}"
                     f"{'  (amended)' if i.get('amended') else ''}")
        words = (i.get("emg_findings") or {}).get("words")
        if i.get("emg_source"):
            lines.append(f"     EMG ({i['emg_source']['label']}): " + (
                "; ".join(words) if words else "nothing named" if words is not None
                else "kept without the analyser's words"))
        for w in rec["dose_warnings"]:
            if w["injection_id"] == i["id"]:
                lines.append("     Warning: " + wording.warning(w, users, bool(i["voided"])))
    lines.append(f"Signed {localtime.date_time(rec['signed_at'])} by "
                 f"{wording.who(users, rec.get('signed_by'))}" if rec.get("signed_at")
                 else "Not signed.")
    lines += ["Amended " + wording.amendment(a, users, rec.get("signed_by"), rec, local=True)
              for a in rec["amendments"]]
    return lines


def _sources(injections) -> str:
    """The distinct sources of these injections' EMG, in order, as one line."""
    seen = dict.fromkeys(w for w in map(provenance, injections) if w)
    return "; ".join(seen)


def _figures(v: float) -> str:
    """A measure to three significant figures, never in e-notation: 15.8, 110, 1500."""
    return f"{float(f'{v:.3g}'):g}"


def _grade(o: dict | None) -> str | None:
    """An Ashworth value as it reads: its grade's text, never a number turned into one."""
    return scales.shown(o) if o else None


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def export(lb: Logbook, procedure_id: str, kind: str, out: Path) -> list[Path]:
    """The procedure note (pdf, printable), csv, FHIR or the EDF+ snippets, owner-only."""
    rec = lb.procedure(procedure_id)
    users = {u["id"]: u for u in lb.users()}
    out = Path(out)
    if kind == "pdf":
        from app.logbook import note_pdf
        return note_pdf.export([rec], out, users)
    if kind == "csv":
        from app.logbook import export_csv
        return export_csv.export([rec], out, users)
    if kind == "fhir":
        from app.logbook import export_fhir
        return export_fhir.export([rec], out, users)
    if kind == "edf":
        from app.logbook import export_edf
        return export_edf.export(lb, [rec], out)
    raise ValueError(f"export as one of {', '.join(EXPORTS)}")


def export_message(lb: Logbook, procedure_id: str, kind: str, out: Path) -> str:
    """Export and say so in one line, as the close step and History both show it: the
    folder the files are in (a private one the export made inside a shared `out`, not
    `out`), and the note when the file system keeps no owner-only permissions (a FAT
    stick). A failure says why; the record itself is untouched."""
    from app.logbook import outdir

    try:
        files = export(lb, procedure_id, kind, out)
    except Exception as e:  # an export failing must not lose the record: say why
        return f"Export failed: {e}"
    where = files[0].parent if files else Path(out)
    return " ".join(x for x in (f"{kind.upper()}: {len(files)} file(s) in {where}",
                                outdir.exposure(files)) if x)


def add_followup_pain(lb: Logbook, procedure_id: str, text: str, by: str) -> str:
    from app.workflow.fields import parse_pain

    c = parse_pain(text, required=True)
    if not c.ok:
        return c.message
    lb.add_observation(procedure_id, {"scale": "pain_nrs", "timepoint": "followup",
                                      "value": c.value}, by)
    return ""
