"""How every export words a dose warning's state and an amendment, so that the PDF note,
the CSV and the FHIR bundle say the same thing of the same record. `users` maps a user id
to its row (name); an unknown id shows as its first 8 characters. With `local`, times read
as screens and paper say them (app.logbook.localtime); without, as the data exports keep
them (UTC)."""

from __future__ import annotations

from app.logbook import localtime


def who(users: dict, user_id: str | None) -> str:
    if not user_id:
        return "-"
    return (users.get(user_id) or {}).get("name") or user_id[:8]


def dose(i: dict, volume: bool = False) -> str:
    """An injection's dose as every screen and export says it: units, else mg, else "no
    dose"; with `volume`, its volume after it in brackets."""
    amount = (f"{i['units']:g} U" if i.get("units") is not None else
              f"{i['dose_mg']:g} mg" if i.get("dose_mg") is not None else "no dose")
    if volume and i.get("volume_ml") is not None:
        amount += f" ({i['volume_ml']:g} mL)"
    return amount


def warning_state(w: dict, users: dict, voided: bool = False) -> str:
    """OVERRIDDEN (by whom, why), WITHDRAWN (why), on a voided injection, or OPEN."""
    if w.get("override_reason"):
        return f"OVERRIDDEN by {who(users, w['override_by'])}: {w['override_reason']}"
    if w.get("withdrawn_at"):
        return f"WITHDRAWN by {who(users, w['withdrawn_by'])}: {w['withdrawn_note']}"
    return "injection VOIDED" if voided else "OPEN (not overridden)"


def warning(w: dict, users: dict, voided: bool = False) -> str:
    return f"{w['message']}  [{warning_state(w, users, voided)}]"


# An amended field as the screens say it: its word and the unit after the new value
# ("volume 1.4 -> 1.2 mL"), never the stored column's name.
FIELDS = {"units": ("units", "U"), "volume_ml": ("volume", "mL"), "dose_mg": ("dose", "mg"),
          "vial_id": ("vial", ""), "at": ("time", ""), "needle_gauge": ("needle", "G"),
          "needle_length_mm": ("needle length", "mm"), "emg_findings": ("EMG findings", ""),
          "adverse_event": ("adverse event", ""), "vial_units": ("vial", "U"),
          "mg_per_ml": ("strength", "mg/mL"), "diluent_ml": ("diluent", "mL"),
          "reconstituted_at": ("reconstituted", ""), "units_wasted": ("units wasted", "U"),
          "physician_id": ("physician", ""), "nurse_id": ("nurse", ""),
          "weight_kg": ("weight", "kg"), "timeout_at": ("time-out", ""),
          "started_at": ("started", ""), "ended_at": ("ended", ""),
          "billing_codes": ("billing codes", ""), "pain_before": ("pain before", "/10"),
          "pain_after": ("pain after", "/10")}
YES_NO = {"voided", "twitch", "timeout_identity", "timeout_consent", "timeout_side"}
TIMES = {"at", "reconstituted_at", "timeout_at", "started_at", "ended_at"}


def change(field: str, old, new, users: dict | None = None, local: bool = False) -> str:
    """One amended field in words with its unit: "units 70 -> 60 U", "volume 1.4 -> 1.2
    mL", "physician Dr A -> Dr B"; with `local`, a time as the screens show it."""
    word, unit = FIELDS.get(field, (field.replace("_", " "), ""))
    if field in ("physician_id", "nurse_id"):
        return f"{word} {who(users or {}, old)} -> {who(users or {}, new)}"
    if field in YES_NO:
        return f"{word} {_yes(old)} -> {_yes(new)}"
    if local and field in TIMES:
        return f"{word} {localtime.date_time(old)} -> {localtime.date_time(new)}"
    after = "" if not unit or new is None else ("" if unit.startswith("/") else " ") + unit
    return f"{word} {_v(old)} -> {_v(new)}{after}"


def amendment(a: dict, users: dict, signed_by: str | None, rec: dict | None = None,
              local: bool = False) -> str:
    """Time, author (a physician other than the signer is named as co-signer), what was
    amended (with `rec`, the procedure's record: which injection by its number, which vial
    by its lot), each change in words old -> new with its unit, the reason. With `local`
    (screens, paper) the time is local with its zone; without (CSV, FHIR) UTC as stored."""
    author = who(users, a["by"])
    if signed_by and a["by"] != signed_by:
        author += f" (co-signer; signed by {who(users, signed_by)})"
    changes = "; ".join(change(k, c["old"], c["new"], users, local)
                        for k, c in a["changes"].items())
    at = (localtime.date_time(a["at"], seconds=True) if local
          else a["at"][:19].replace("T", " "))
    return f"{at} {author}: {_what(a, rec)}: {changes}. Reason: {a['reason']}"


def _what(a: dict, rec: dict | None) -> str:
    """"injection 2", "vial lot C1234C3", "procedure"; the table's word alone without the
    record."""
    for i in (rec or {}).get("injections", []) if a["tbl"] == "injections" else []:
        if i["id"] == a["row_id"]:
            return f"injection {i['seq']}"
    for v in (rec or {}).get("vials", []) if a["tbl"] == "vials" else []:
        if v["id"] == a["row_id"] and v.get("lot"):
            return f"vial lot {v['lot']}"
    return a["tbl"][:-1]


def _v(v) -> str:
    if v is None:
        return "-"
    return f"{v:g}" if isinstance(v, float) else str(v)


def _yes(v) -> str:
    return "-" if v is None else "yes" if v else "no"
