"""The printable procedure note (PDF, fpdf2, in DejaVu Sans shipped in assets/fonts/ with
its licence).

One page or more per procedure: patient, procedure and time-out, vials, injections,
totals per product, dose warnings with their overrides, observations, amendments, the
signature, as the record now reads, and the audit trail's head hash when it was read, so
the paper can be checked against the logbook or a backup later. Each injection with EMG
says where the EMG came from ("SIMULATED - not a patient", "REPLAY: rec.edf", the
amplifier, "uncalibrated (counts)", or "source not recorded").

Times are the tablet's local time with its zone as an offset (app.logbook.localtime: the
record keeps UTC). Names print in
Latin, Greek and Cyrillic letters; any other letter (a script this font cannot print
properly) prints as the visible placeholder U+FFFD, and a warning under the title
says how many, never a silent "?". While a dose warning is open the note has no signature
block: it says the record cannot be signed yet."""

from __future__ import annotations

import unicodedata
from pathlib import Path

from fpdf import FPDF

from app.logbook import catalogue, localtime, outdir, scales, wording
from app.logbook.errors import LogbookError

KIND = {"botulinum": "Botulinum toxin injection", "trigger_point": "Trigger-point injection",
        "dry_needling": "Dry needling"}
FONTS = catalogue.SHIPPED / "fonts"
FONT = "DejaVuSans"
PLACEHOLDER = "\ufffd"  # U+FFFD REPLACEMENT CHARACTER: in the font, and means "not shown"
SCRIPTS = ("LATIN", "GREEK", "CYRILLIC", "COMBINING")


def export(records: list[dict], out: Path, users: dict[str, dict] | None = None
           ) -> list[Path]:
    # A patient's note: owner-only (outdir); each made in memory before anything is written.
    return outdir.write_all(out, [(f"{r['id']}.pdf",
                                   outdir.write_bytes(bytes(note(r, users or {}).output())))
                                  for r in records])


def note(r: dict, users: dict[str, dict]) -> FPDF:
    lines = _content(r, users)
    texts = [(kind, printable(text)) for kind, text in lines]
    unknown = sum(n for _, (_, n) in texts)
    pdf = FPDF(format="A4")
    pdf.add_font(FONT, "", str(FONTS / "DejaVuSans.ttf"))
    pdf.add_font(FONT, "B", str(FONTS / "DejaVuSans-Bold.ttf"))
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.set_title(f"Procedure note {r['id']}")
    for n, (kind, (text, _)) in enumerate(texts):
        if kind == "title":
            pdf.set_font(FONT, "B", 13)
            _line(pdf, text, h=8)
            pdf.set_font(FONT, size=8.5)
        elif kind == "heading":
            pdf.ln(2)
            pdf.set_font(FONT, "B", 9.5)
            _line(pdf, text, h=6)
            pdf.set_font(FONT, size=8.5)
        else:
            _line(pdf, text)
        if n == 0 and unknown:
            pdf.set_font(FONT, "B", 8.5)
            _line(pdf, f"WARNING: {unknown} letter(s) in this record are in a script this "
                       f"note cannot print and show as {PLACEHOLDER}. The logbook holds them "
                       "as typed: read the record on the screen before relying on this "
                       "paper.")
            pdf.set_font(FONT, size=8.5)
    return pdf


def unprintable(r: dict, users: dict[str, dict]) -> int:
    """How many letters of this record's note print as the placeholder."""
    return sum(printable(text)[1] for _, text in _content(r, users))


def printable(text: str) -> tuple[str, int]:
    """The text as the note prints it, and how many letters were replaced: Latin, Greek and
    Cyrillic letters, digits, punctuation and symbols the font has stay; any other letter
    becomes PLACEHOLDER."""
    out, replaced = [], 0
    for ch in unicodedata.normalize("NFC", text):
        if ch.isascii() or _printable_char(ch):
            out.append(ch)
        else:
            out.append(PLACEHOLDER)
            replaced += 1
    return "".join(out), replaced


def _printable_char(ch: str) -> bool:
    if ord(ch) not in _cmap():
        return False
    if unicodedata.category(ch)[0] in "LM":  # a letter or a mark: only the scripts named
        return unicodedata.name(ch, "").startswith(SCRIPTS)
    return True


_CMAP: set[int] = set()


def _cmap() -> set[int]:
    if not _CMAP:
        from fontTools.ttLib import TTFont

        with TTFont(FONTS / "DejaVuSans.ttf", lazy=True) as f:
            _CMAP.update(f.getBestCmap())
    return _CMAP


def _content(r: dict, users: dict[str, dict]) -> list[tuple[str, str]]:
    """The note as (kind, text) lines: title, heading or line."""
    out: list[tuple[str, str]] = []

    def line(text: str) -> None:
        out.append(("line", text))

    def heading(text: str) -> None:
        out.append(("heading", text))

    out.append(("title", f"Procedure note: {KIND.get(r['kind'], r['kind'])}"))
    p = r["patient"]
    name = ", ".join(x for x in (p["family_name"], p.get("given_name")) if x)
    line(f"Patient: {name}   MRN {p['mrn']}   born {p.get('birth_date') or '?'}   "
         f"weight {_v(r.get('weight_kg'), '?')} kg")
    line(f"Indication: {r.get('indication') or '-'}")
    line(f"Physician: {wording.who(users, r.get('physician_id'))}   Nurse: "
         f"{wording.who(users, r.get('nurse_id'))}")
    line(f"Start {_t(r['started_at'])}   End {_t(r.get('ended_at'))}")
    line(f"Time-out: identity {_yn(r['timeout_identity'])}, consent "
         f"{_yn(r['timeout_consent'])}, side {_yn(r['timeout_side'])}")
    line(f"Pain NRS 0-10: before {_v(r.get('pain_before'))}, after "
         f"{_v(r.get('pain_after'))}   Billing: {' '.join(r['billing_codes']) or '-'}")
    heading("Vials")
    for v in r["vials"]:
        line(_vial(v))
    heading("Injections")
    product = {v["id"]: f"{v['product']} lot {v.get('lot') or '?'}" for v in r["vials"]}
    strength = {v["id"]: v.get("mg_per_ml") for v in r["vials"]}
    muscle = _muscle_names()
    for i in r["injections"]:
        flags = (" VOIDED" if i["voided"] else "") + (" (amended)" if i.get("amended") else "")
        if i["voided"] and not i.get("muscle") and i["units"] is None:
            # struck out before anything was entered: nothing was given, nothing to list
            line(f"{i['seq']:>3}. {_clock(i['at'])}  VOIDED: nothing was given")
            continue
        needle = " ".join(x for x in (
            f"{i['needle_gauge']:g}G" if i.get("needle_gauge") is not None else "",
            f"{i['needle_length_mm']:g} mm" if i.get("needle_length_mm") is not None else "")
            if x)
        parts = [f"{i['seq']:>3}. {_clock(i['at'])}  {i.get('side') or ''} "
                 f"{muscle.get(i.get('muscle'), i.get('muscle') or '?')} "
                 f"site {i.get('site') or '?'}: {_dose(i, strength.get(i['vial_id']))} "
                 f"{product.get(i['vial_id'], '')}",
                 f"needle {needle}" if needle else "", i.get("guidance") or "",
                 f"LTR {_yn(i.get('twitch'))}" if i.get("twitch") is not None else "",
                 f"AE: {i['adverse_event']}" if i.get("adverse_event") else ""]
        line("  ".join(x for x in parts if x) + flags)
        if i.get("emg_source"):  # a line of its own, so it is never lost in the wrapping
            line(f"       EMG: {i['emg_source']['label']}")
    heading("Totals (per product; units of different products are not comparable)")
    for key, t in r["totals"].items():
        amount = f"{t['dose_mg']:g} mg" if t["dose_mg"] else f"{t['units']:g} U"
        line(f"{key}: {amount} in {t['volume_ml']:g} mL, {t['injections']} injections")
    voided = {i["id"] for i in r["injections"] if i["voided"]}
    open_warnings = [w for w in r["dose_warnings"] if wording.warning_state(
        w, users, w.get("injection_id") in voided).startswith("OPEN")]
    if r["dose_warnings"]:
        heading("Dose warnings")
        seq = {i["id"]: i["seq"] for i in r["injections"]}
        for w in r["dose_warnings"]:
            where = f"{seq[w['injection_id']]}. " if w.get("injection_id") in seq else ""
            line(where + wording.warning(w, users, w.get("injection_id") in voided))
    if r.get("observations"):
        heading("Observations")
        for text in scales.lines(r["observations"]):  # current values, grades as text
            line(text)
    if r["amendments"]:
        heading("Amendments after sign-off")
        for a in r["amendments"]:
            line(wording.amendment(a, users, r.get("signed_by"), r, local=True))
    heading("Signature")
    if r.get("signed_at"):
        line(f"Signed {_t(r['signed_at'])} by {wording.who(users, r.get('signed_by'))}")
    if open_warnings:
        # No signature block: a paper signed with a warning nobody decided is what the
        # logbook refuses, and so does the note.
        line(f"CANNOT BE SIGNED YET: {len(open_warnings)} dose warning(s) OPEN (not "
             "overridden). A physician decides each one in the logbook first.")
    elif not r.get("signed_at"):
        line("NOT SIGNED")
    line(f"Record {r['id']}")
    head = r.get("audit_head")
    if head:
        line(f"Audit trail when printed: {head['entries']} entries; its head (SHA-256), to "
             "check this paper against the logbook or a backup:")
        line(f"    {head['hash']}")
    return out


def _vial(v: dict) -> str:
    """A toxin's units and dilution, or a solution's mg/mL; waste only when recorded."""
    if v.get("mg_per_ml") is not None:
        strength = f"{v['mg_per_ml']:g} mg/mL"
    else:
        strength = f"{_v(v.get('vial_units'), '?')} U"
        if v.get("diluent_ml") is not None:
            strength += f" in {v.get('diluent') or 'diluent'} {v['diluent_ml']:g} mL"
    parts = [f"{v['product']}  {strength}", f"lot {v.get('lot') or '?'}",
             f"exp {v.get('expiry') or '?'}",
             f"prepared {_t(v['reconstituted_at'])}" if v.get("reconstituted_at") else "",
             f"wasted {v['units_wasted']:g} U" if v.get("units_wasted") is not None else ""]
    return "  ".join(x for x in parts if x)


def _dose(i: dict, mg_per_ml: float | None) -> str:
    """Units, or mg with the solution's strength for an anaesthetic, and the volume."""
    volume = f" {i['volume_ml']:g} mL" if i.get("volume_ml") is not None else ""
    if i.get("units") is not None:
        return f"{i['units']:g} U{volume}"
    mg = i.get("dose_mg")
    if mg is None and mg_per_ml is not None and i.get("volume_ml") is not None:
        mg = i["volume_ml"] * mg_per_ml
    if mg is not None:
        of = f" of {mg_per_ml:g} mg/mL" if mg_per_ml is not None and volume else ""
        return f"{mg:g} mg ({volume.strip()}{of})" if volume else f"{mg:g} mg"
    return f"no dose{volume}"


def _muscle_names() -> dict[str, str]:
    try:
        return {k: m["name"] for k, m in catalogue.default().muscles.items()}
    except LogbookError:  # no catalogue: the ids are still readable
        return {}


def _line(pdf: FPDF, text: str, h: float = 4.6) -> None:
    pdf.multi_cell(0, h, text, align="L", new_x="LMARGIN", new_y="NEXT")


def _t(stamp: str | None) -> str:
    return localtime.date_time(stamp, seconds=True)


def _clock(stamp: str) -> str:
    return localtime.time_of_day(stamp, seconds=True)


def _yn(v) -> str:
    return "-" if v is None else ("yes" if v else "no")


def _v(v, missing: str = "-") -> str:
    return missing if v is None else f"{v:g}"
