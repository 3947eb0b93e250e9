"""Every field a person types, checked: `parse_*` returns `Checked(value, message)`, where
`message` is the one clear line shown beside the field ("" when it is fine). Nothing here
changes what was typed: the screen keeps the text as it is, so a mistake loses nothing.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from app.logbook import pins
from app.logbook.rules import expiry_date
from app.workflow import gs1


@dataclass(frozen=True)
class Checked:
    value: object = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return not self.message


EMPTY = Checked(None, "")
MAX_UNITS = 10000.0  # far above any label's session maximum: a typo, not a dose
MAX_VOLUME_ML = 20.0
MAX_WEIGHT_KG = 400.0
MAX_PAIN = 10
MAX_SITE = 99


def number(text: str, what: str, *, required: bool, unit: str = "") -> Checked:
    t = (text or "").strip().replace(",", ".")
    if not t:
        return Checked(None, f"{what} is needed" if required else "")
    try:
        v = float(t)
    except ValueError:
        return Checked(None, f"{what} must be a number{(' in ' + unit) if unit else ''}, "
                             f"not {text.strip()!r}")
    if v != v or v in (float("inf"), float("-inf")):
        return Checked(None, f"{what} must be a number")
    return Checked(v, "")


def parse_units(text: str, required: bool = False) -> Checked:
    c = number(text, "Units", required=required, unit="units")
    if c.value is None:
        return c
    if c.value <= 0:
        return Checked(None, "Units must be more than 0")
    if c.value > MAX_UNITS:
        return Checked(None, f"{c.value:g} units is not a dose: check the number")
    return c


def parse_volume(text: str, required: bool = False) -> Checked:
    c = number(text, "Volume", required=required, unit="mL")
    if c.value is None:
        return c
    if c.value < 0:
        return Checked(None, "Volume cannot be negative")
    if c.value == 0:
        return Checked(None, "Volume must be more than 0 mL")
    if c.value > MAX_VOLUME_ML:
        return Checked(None, f"{c.value:g} mL is too much for one site: check the number")
    return c


def parse_diluent(text: str, required: bool = True) -> Checked:
    c = number(text, "Diluent", required=required, unit="mL")
    if c.value is None:
        return c
    if c.value <= 0:
        return Checked(None, "Diluent must be more than 0 mL")
    if c.value > MAX_VOLUME_ML:
        return Checked(None, f"{c.value:g} mL of diluent is more than a vial holds")
    return c


def parse_weight(text: str, required: bool = False) -> Checked:
    c = number(text, "Weight", required=required, unit="kg")
    if c.value is None:
        return c
    if not 0 < c.value <= MAX_WEIGHT_KG:
        return Checked(None, "Weight must be between 0 and 400 kg")
    return c


def parse_vial_units(text: str, allowed: list | None = None) -> Checked:
    c = number(text, "Vial strength", required=True, unit="units")
    if c.value is None:
        return c
    if c.value <= 0:
        return Checked(None, "Vial strength must be more than 0 units")
    if allowed and c.value not in [float(a) for a in allowed]:
        sizes = ", ".join(f"{a:g}" for a in allowed)
        return Checked(None, f"This product comes in {sizes} unit vials")
    return c


def parse_pain(text: str, required: bool = False) -> Checked:
    t = (text or "").strip()
    if not t:
        return Checked(None, "Pain score is needed (0 to 10)" if required else "")
    if not re.fullmatch(r"\d{1,2}", t) or int(t) > MAX_PAIN:
        return Checked(None, "Pain score is a whole number from 0 to 10")
    return Checked(int(t), "")


def parse_site(text: str, required: bool = False) -> Checked:
    t = (text or "").strip()
    if not t:
        return Checked(None, "Site number is needed" if required else "")
    if not re.fullmatch(r"\d{1,2}", t) or not 1 <= int(t) <= MAX_SITE:
        return Checked(None, "Site is a whole number from 1 to 99")
    return Checked(int(t), "")


def parse_text(text: str, what: str, required: bool = True, longest: int = 200) -> Checked:
    t = (text or "").strip()
    if not t:
        return Checked(None, f"{what} is needed" if required else "")
    if len(t) > longest:
        return Checked(None, f"{what} is at most {longest} characters")
    return Checked(t, "")


def parse_mrn(text: str) -> Checked:
    t = (text or "").strip()
    if not t:
        return Checked(None, "MRN is needed")
    if not re.fullmatch(r"[A-Za-z0-9\-/.]{2,32}", t):
        return Checked(None, "MRN is 2 to 32 letters, digits, - / or .")
    return Checked(t, "")


def parse_date(text: str, what: str, *, required: bool = False,
               today: datetime.date | None = None) -> Checked:
    """A past date (birth, follow-up): YYYY-MM-DD, never in the future."""
    t = (text or "").strip()
    if not t:
        return Checked(None, f"{what} is needed" if required else "")
    try:
        d = datetime.date.fromisoformat(t)
    except ValueError:
        return Checked(None, f"{what} is a date like 1961-05-17")
    today = today or datetime.date.today()
    if d > today:
        return Checked(None, f"{what} cannot be in the future")
    if d.year < 1900:
        return Checked(None, f"{what} is before 1900: check the year")
    return Checked(d.isoformat(), "")


def parse_expiry(text: str, *, today: datetime.date | None = None) -> Checked:
    """A label's expiry as scanned or typed: YYYY-MM-DD, YYYY-MM, or a GS1 string's AI 17
    (YYMMDD, app.workflow.gs1: its century rule, day 00 the month's last). An expired lot is
    accepted with its warning in the message's place of a refusal: the value is kept,
    `expired` is said, the dose rules record it."""
    t = (text or "").strip()
    if not t:
        return Checked(None, "Expiry is needed (YYYY-MM or YYYY-MM-DD)")
    m = re.fullmatch(r"17(\d{6})", t)
    scanned = gs1.gs1_date(m.group(1)) if m else (gs1.parse(t).expiry
                                                   if gs1.looks_like(t) else None)
    if scanned:
        t = scanned.isoformat()
    elif m or gs1.looks_like(t):
        return Checked(None, "The scan holds no expiry (AI 17): type it (YYYY-MM)")
    if not re.fullmatch(r"\d{4}-\d{2}(-\d{2})?", t):
        return Checked(None, "Expiry is YYYY-MM or YYYY-MM-DD")
    try:
        expiry_date(t)
    except ValueError:
        return Checked(None, "Expiry is not a real date")
    return Checked(t, "")


def is_expired(expiry: str, today: datetime.date | None = None) -> bool:
    return expiry_date(expiry) < (today or datetime.date.today())


def parse_lot(text: str) -> Checked:
    """Lot as typed, or a GS1 string's AI 10 (app.workflow.gs1); a lot the scan leaves in
    doubt (a separator missing) is refused with the scan's reason: type it."""
    t = (text or "").strip()
    if not t:
        return Checked(None, "Lot is needed")
    if gs1.looks_like(t):
        scan = gs1.parse(t)
        if scan.ambiguous or not scan.lot:
            why = next((m for m in scan.messages if "lot" in m.lower()), "")
            return Checked(None, why or "The scan holds no lot (AI 10): type it")
        t = scan.lot
    if not re.fullmatch(r"[A-Za-z0-9\-/.]{1,40}", t):
        return Checked(None, "Lot is letters and digits (up to 40)")
    return Checked(t, "")


def parse_time_today(text: str, *, now: datetime.datetime | None = None) -> Checked:
    """Reconstitution time: HH:MM today (local), not in the future."""
    t = (text or "").strip()
    now = now or datetime.datetime.now().astimezone()
    if not t:
        return Checked(None, "Reconstitution time is needed (HH:MM)")
    m = re.fullmatch(r"(\d{1,2})[:.h](\d{2})", t)
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        return Checked(None, "Time is HH:MM, like 08:30")
    at = now.replace(hour=int(m.group(1)), minute=int(m.group(2)), second=0, microsecond=0)
    if at > now + datetime.timedelta(minutes=1):
        return Checked(None, "Reconstitution time cannot be in the future")
    return Checked(at, "")


def parse_pin(text: str, new: bool = False) -> Checked:
    """A PIN typed to sign in (any a user may have), or a `new` one (the clinic's minimum
    length): the logbook's rule (app.logbook.pins)."""
    t = (text or "").strip()
    if not pins.well_formed(t, new):
        return Checked(None, f"A PIN is {pins.rule(new)}")
    return Checked(t, "")


def parse_muscle(muscle_id: str | None, known: dict) -> Checked:
    if not muscle_id:
        return Checked(None, "Choose a muscle")
    if muscle_id not in known:
        return Checked(None, "That muscle is not in the catalogue")
    return Checked(muscle_id, "")


def parse_reason(text: str, what: str = "A reason") -> Checked:
    t = (text or "").strip()
    if len(t) < 3:
        return Checked(None, f"{what} is needed (a few words)")
    return Checked(t, "")
