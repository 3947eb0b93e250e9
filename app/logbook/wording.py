"""How every export words a dose warning's state and an amendment, so that the PDF note,
the CSV and the FHIR bundle say the same thing of the same record. `users` maps a user id
to its row (name); an unknown id shows as its first 8 characters."""

from __future__ import annotations


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


def amendment(a: dict, users: dict, signed_by: str | None) -> str:
    """Time, author (a physician other than the signer is named as co-signer), each change
    old -> new, the reason."""
    author = who(users, a["by"])
    if signed_by and a["by"] != signed_by:
        author += f" (co-signer; signed by {who(users, signed_by)})"
    changes = "; ".join(f"{k} {_v(c['old'])} -> {_v(c['new'])}"
                        for k, c in a["changes"].items())
    return (f"{a['at'][:19].replace('T', ' ')} {author}: {a['tbl'][:-1]} {changes}. "
            f"Reason: {a['reason']}")


def _v(v) -> str:
    if v is None:
        return "-"
    return f"{v:g}" if isinstance(v, float) else str(v)
