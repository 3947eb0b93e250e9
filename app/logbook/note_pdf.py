"""The printable procedure note (PDF, fpdf2's built-in Helvetica: no font files needed).

One page or more per procedure: patient, procedure and time-out, vials, injections,
totals per product, dose warnings with their overrides, observations, amendments, and the
signature, as the record now reads. Each injection with EMG says where the EMG came from
("SIMULATED - not a patient", "REPLAY: rec.edf", the amplifier, "uncalibrated (counts)", or
"source not recorded")."""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF

from app.logbook import catalogue, outdir, scales, wording
from app.logbook.errors import LogbookError

KIND = {"botulinum": "Botulinum toxin injection", "trigger_point": "Trigger-point injection",
        "dry_needling": "Dry needling"}


def export(records: list[dict], out: Path, users: dict[str, dict] | None = None
           ) -> list[Path]:
    # A patient's note: owner-only (outdir); each made in memory before anything is written.
    return outdir.write_all(out, [(f"{r['id']}.pdf",
                                   outdir.write_bytes(bytes(note(r, users or {}).output())))
                                  for r in records])


def note(r: dict, users: dict[str, dict]) -> FPDF:
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.set_title(f"Procedure note {r['id']}")
    pdf.set_font("Helvetica", "B", 14)
    _line(pdf, f"Procedure note: {KIND.get(r['kind'], r['kind'])}", h=8)
    pdf.set_font("Helvetica", size=9)
    p = r["patient"]
    name = ", ".join(x for x in (p["family_name"], p.get("given_name")) if x)
    _line(pdf, f"Patient: {name}   MRN {p['mrn']}   born {p.get('birth_date') or '?'}   "
               f"weight {r.get('weight_kg') or '?'} kg")
    _line(pdf, f"Indication: {r.get('indication') or '-'}")
    _line(pdf, f"Physician: {wording.who(users, r.get('physician_id'))}   Nurse: "
               f"{wording.who(users, r.get('nurse_id'))}")
    _line(pdf, f"Start {_t(r['started_at'])}   End {_t(r.get('ended_at'))}   (UTC)")
    _line(pdf, f"Time-out: identity {_yn(r['timeout_identity'])}, consent "
               f"{_yn(r['timeout_consent'])}, side {_yn(r['timeout_side'])}")
    _line(pdf, f"Pain NRS 0-10: before {_v(r.get('pain_before'))}, after "
               f"{_v(r.get('pain_after'))}   Billing: {' '.join(r['billing_codes']) or '-'}")
    _heading(pdf, "Vials")
    for v in r["vials"]:
        _line(pdf, f"{v['product']}  {_v(v.get('vial_units'))} U  lot {v.get('lot') or '?'}  "
                   f"exp {v.get('expiry') or '?'}  {v.get('diluent') or ''} "
                   f"{_v(v.get('diluent_ml'))} mL  prepared {_t(v.get('reconstituted_at'))}  "
                   f"wasted {_v(v.get('units_wasted'))} U")
    _heading(pdf, "Injections")
    product = {v["id"]: f"{v['product']} lot {v.get('lot') or '?'}" for v in r["vials"]}
    muscle = _muscle_names()
    for i in r["injections"]:
        dose = (f"{i['units']:g} U" if i["units"] is not None else
                f"{i['dose_mg']:g} mg" if i["dose_mg"] is not None else "-")
        flags = (" VOIDED" if i["voided"] else "") + (" (amended)" if i.get("amended") else "")
        if i["voided"] and not i.get("muscle") and i["units"] is None:
            # struck out before anything was entered: nothing was given, nothing to list
            _line(pdf, f"{i['seq']:>3}. {_t(i['at'])[11:]}  VOIDED: nothing was given")
            continue
        _line(pdf, f"{i['seq']:>3}. {_t(i['at'])[11:]}  {i.get('side') or ''} "
                   f"{muscle.get(i.get('muscle'), i.get('muscle') or '?')} "
                   f"site {i.get('site') or '?'}: {dose} "
                   f"{_v(i.get('volume_ml'))} mL {product.get(i['vial_id'], '')}  "
                   f"{i.get('needle_gauge') or '?'}G {_v(i.get('needle_length_mm'))} mm  "
                   f"{i.get('guidance') or ''}  LTR {_yn(i.get('twitch'))}"
                   f"{'  AE: ' + i['adverse_event'] if i.get('adverse_event') else ''}{flags}")
        if i.get("emg_source"):  # a line of its own, so it is never lost in the wrapping
            _line(pdf, f"       EMG: {i['emg_source']['label']}")
    _heading(pdf, "Totals (per product; units of different products are not comparable)")
    for key, t in r["totals"].items():
        amount = f"{t['dose_mg']:g} mg" if t["dose_mg"] else f"{t['units']:g} U"
        _line(pdf, f"{key}: {amount} in {t['volume_ml']:g} mL, {t['injections']} injections")
    if r["dose_warnings"]:
        _heading(pdf, "Dose warnings")
        voided = {i["id"] for i in r["injections"] if i["voided"]}
        seq = {i["id"]: i["seq"] for i in r["injections"]}
        for w in r["dose_warnings"]:
            where = f"{seq[w['injection_id']]}. " if w.get("injection_id") in seq else ""
            _line(pdf, where + wording.warning(w, users, w.get("injection_id") in voided))
    if r.get("observations"):
        _heading(pdf, "Observations")
        for text in scales.lines(r["observations"]):  # current values, grades as text
            _line(pdf, text)
    if r["amendments"]:
        _heading(pdf, "Amendments after sign-off")
        for a in r["amendments"]:
            _line(pdf, wording.amendment(a, users, r.get("signed_by")))
    _heading(pdf, "Signature")
    _line(pdf, f"Signed {_t(r['signed_at'])} by {wording.who(users, r.get('signed_by'))}"
          if r.get("signed_at") else "NOT SIGNED")
    _line(pdf, f"Record {r['id']}")
    return pdf


def _muscle_names() -> dict[str, str]:
    try:
        return {k: m["name"] for k, m in catalogue.default().muscles.items()}
    except LogbookError:  # no catalogue: the ids are still readable
        return {}


def _line(pdf: FPDF, text: str, h: float = 5) -> None:
    pdf.multi_cell(0, h, _latin1(text), new_x="LMARGIN", new_y="NEXT")


def _heading(pdf: FPDF, text: str) -> None:
    pdf.ln(2)
    pdf.set_font("Helvetica", "B", 10)
    _line(pdf, text, h=6)
    pdf.set_font("Helvetica", size=9)


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


def _t(stamp: str | None) -> str:
    return stamp[:19].replace("T", " ") if stamp else "-"


def _yn(v) -> str:
    return "-" if v is None else ("yes" if v else "no")


def _v(v) -> str:
    return "-" if v is None else f"{v:g}"
