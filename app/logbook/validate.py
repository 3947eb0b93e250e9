"""The one place a record's fields are checked, whatever the caller: the screens, the CLI,
a bulk import, a script. Each field is typed (`Field`) and checked against its kind, range
and length, and against the catalogue (products, their vial sizes, muscles). A refusal is a
LogbookError naming the field and what it must be, never the value: a birth date or a name
must not reach a log through an error. Nothing that passes can break a later write: dates
are ISO, numbers finite, texts bounded.

The screens keep their own friendlier checks (app.workflow.fields) for the words beside a
field; this is the boundary that holds when they are bypassed.
"""

from __future__ import annotations

import datetime
import json
import math
import re
from dataclasses import dataclass

from app.logbook import ids, scales
from app.logbook.errors import LogbookError
from app.logbook.records import normalise, to_json
from app.logbook.rules import expiry_date

CODE_RE = r"[A-Za-z0-9\-/.]"


@dataclass(frozen=True)
class Field:
    """One stored field: its kind and its bounds. No refusal quotes the value."""

    name: str
    kind: str  # text, enum, number, integer, date, expiry, stamp, flag, json, id
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False  # lo itself refused (a dose of 0)
    longest: int = 200
    pattern: str | None = None
    choices: tuple = ()
    what: str = ""  # how to write it, for the message

    def check(self, value):
        """The stored form of `value`, or LogbookError. None stays None (the field is
        empty); required fields are the caller's."""
        if value is None:
            return None
        return getattr(self, f"_{self.kind}")(value)

    def _refuse(self, must: str):
        raise LogbookError(f"{self.name}: {must}")

    def _text(self, v):
        if not isinstance(v, str):
            self._refuse("must be text")
        v = v.strip()
        if not v:
            return None
        if len(v) > self.longest:
            self._refuse(f"is at most {self.longest} characters")
        if self.pattern and not re.fullmatch(self.pattern, v):
            self._refuse(self.what or "has characters it may not have")
        if any(ord(c) < 32 and c not in "\n\t" for c in v):
            self._refuse("has control characters")
        return v

    def _id(self, v):
        if not isinstance(v, str) or not re.fullmatch(r"[A-Za-z0-9\-]{1,64}", v):
            self._refuse("must be a record id")
        return v

    def _enum(self, v):
        if v not in self.choices:
            self._refuse(f"is one of {', '.join(map(str, self.choices))}")
        return v

    def _number(self, v):
        if isinstance(v, bool) or not isinstance(v, int | float) and not hasattr(v, "item"):
            self._refuse(f"must be a number{self._range()}")
        v = float(v)
        if not math.isfinite(v):
            self._refuse(f"must be a finite number{self._range()}")
        if (self.lo is not None and (v < self.lo or (self.lo_open and v == self.lo))) or \
                (self.hi is not None and v > self.hi):
            self._refuse(f"must be{self._range()}")
        return v

    def _integer(self, v):
        n = self._number(v)
        if n != int(n):
            self._refuse(f"must be a whole number{self._range()}")
        return int(n)

    def _range(self) -> str:
        if self.lo is None and self.hi is None:
            return ""
        lo = "" if self.lo is None else f"{'over' if self.lo_open else 'from'} {self.lo:g}"
        hi = "" if self.hi is None else f"{'to' if lo else 'at most'} {self.hi:g}"
        return " " + " ".join(p for p in (lo, hi) if p) + (f" {self.what}" if self.what else "")

    def _date(self, v):
        if not isinstance(v, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", v.strip()):
            self._refuse("is a date written YYYY-MM-DD")
        try:
            d = datetime.date.fromisoformat(v.strip())
        except ValueError:
            self._refuse("is not a real date (YYYY-MM-DD)")
        if d > datetime.date.today():
            self._refuse("cannot be in the future")
        if d.year < 1900:
            self._refuse("is before 1900")
        return d.isoformat()

    def _expiry(self, v):
        if not isinstance(v, str) or not re.fullmatch(r"\d{4}-\d{2}(-\d{2})?", v.strip()):
            self._refuse("is YYYY-MM or YYYY-MM-DD")
        try:
            expiry_date(v.strip())
        except ValueError:
            self._refuse("is not a real date (YYYY-MM or YYYY-MM-DD)")
        return v.strip()

    def _stamp(self, v):
        if not isinstance(v, str | datetime.datetime):
            self._refuse("is a time written ISO 8601 (2026-12-07T14:30:00+01:00)")
        try:
            stamp = ids.to_stamp(v)
            when = ids.parse(stamp)
        except (ValueError, TypeError):
            self._refuse("is a time written ISO 8601 (2026-12-07T14:30:00+01:00)")
        if when.year < 2000 or when > datetime.datetime.now(datetime.UTC) + \
                datetime.timedelta(days=1):
            self._refuse("is not a time this record can have (before 2000 or in the future)")
        return stamp

    def _flag(self, v):
        if v in (True, False, 0, 1) and not isinstance(v, float):
            return int(bool(v))
        self._refuse("is true or false")

    def _json(self, v):
        if isinstance(v, str):
            try:
                v = json.loads(v)
            except ValueError:
                self._refuse("is not valid JSON")
        text = to_json(v)
        if len(text) > self.longest:
            self._refuse(f"is at most {self.longest} characters as JSON")
        return text


SIDES = ("left", "right", "midline")
SEXES = ("female", "male", "other", "unknown")
KINDS = ("botulinum", "trigger_point", "dry_needling")
GUIDANCE = ("emg", "emg_stimulation", "ultrasound", "palpation", "landmarks")
WEIGHT = dict(lo=0.5, hi=400.0, what="kg")

PATIENT = (
    Field("mrn", "text", longest=32, pattern=f"{CODE_RE}{{2,32}}",
          what="is 2 to 32 letters, digits, - / or ."),
    Field("family_name", "text", longest=100),
    Field("given_name", "text", longest=100),
    Field("birth_date", "date"),
    Field("sex", "enum", choices=SEXES),
    Field("weight_kg", "number", **WEIGHT),
)
PROCEDURE = (
    Field("kind", "enum", choices=KINDS),
    Field("indication", "text", longest=200),
    Field("physician_id", "id"),
    Field("nurse_id", "id"),
    Field("weight_kg", "number", **WEIGHT),
    Field("timeout_identity", "flag"),
    Field("timeout_consent", "flag"),
    Field("timeout_side", "flag"),
    Field("timeout_at", "stamp"),
    Field("started_at", "stamp"),
    Field("ended_at", "stamp"),
    Field("billing_codes", "json", longest=400),
    Field("pain_before", "integer", lo=0, hi=10),
    Field("pain_after", "integer", lo=0, hi=10),
    Field("notes", "text", longest=4000),
)
VIAL = (
    Field("product", "text", longest=64),
    Field("vial_units", "number", lo=0, lo_open=True, hi=100000, what="units"),
    Field("mg_per_ml", "number", lo=0, lo_open=True, hi=1000, what="mg/mL"),
    Field("lot", "text", longest=40, pattern=f"{CODE_RE}{{1,40}}",
          what="is letters, digits, - / or . (up to 40)"),
    Field("expiry", "expiry"),
    Field("diluent", "text", longest=100),
    Field("diluent_ml", "number", lo=0, lo_open=True, hi=20, what="mL"),
    Field("volume_ml", "number", lo=0, lo_open=True, hi=100, what="mL"),
    Field("reconstituted_at", "stamp"),
    Field("units_wasted", "number", lo=0, hi=100000, what="units"),
)
INJECTION = (
    Field("vial_id", "id"),
    Field("at", "stamp"),
    Field("muscle", "text", longest=64),
    Field("side", "enum", choices=SIDES),
    Field("site", "integer", lo=1, hi=99),
    Field("units", "number", lo=0, lo_open=True, hi=10000, what="units"),
    Field("volume_ml", "number", lo=0, lo_open=True, hi=20, what="mL"),
    Field("dose_mg", "number", lo=0, lo_open=True, hi=5000, what="mg"),
    Field("needle_gauge", "integer", lo=18, hi=34),
    Field("needle_length_mm", "number", lo=5, hi=150, what="mm"),
    Field("guidance", "enum", choices=GUIDANCE),
    Field("emg_findings", "json", longest=20000),
    Field("twitch", "flag"),
    Field("adverse_event", "text", longest=1000),
    Field("voided", "flag"),
)
OBSERVATION = (
    Field("scale", "text", longest=40, pattern=r"[a-z_]{2,40}",
          what="is a scale's name (pain_nrs, modified_ashworth, twstrs...)"),
    Field("timepoint", "enum", choices=("before", "after", "followup")),
    Field("muscle", "text", longest=64),
    Field("side", "enum", choices=SIDES),
    Field("value", "number", lo=-1000, hi=1000),
    Field("at", "stamp"),
    Field("grade", "enum", choices=scales.ASHWORTH),
    Field("goal", "text", longest=300),
    Field("supersedes", "id"),
)
TABLES = {"patients": PATIENT, "procedures": PROCEDURE, "vials": VIAL,
          "injections": INJECTION}
REASON_LONGEST = 1000


def clean(table: str, values: dict) -> dict:
    """The table's fields among `values`, checked and in their stored form; anything else
    in `values` is left out."""
    fields = {f.name: f for f in TABLES[table]}
    given = normalise({k: v for k, v in values.items() if k in fields})
    return {k: fields[k].check(v) for k, v in given.items()}


def observation(values: dict) -> dict:
    """A score on or after the day, checked: its scale and timepoint required, and for the
    scales the logbook knows (app.logbook.scales) its value within the scale: a Modified
    Ashworth grade as its text with its muscle (`value` then follows from the grade), a GAS
    level with its goal's text, whole numbers in range for the others. Pain before and
    after are the procedure's own fields, not observations."""
    fields = {f.name: f for f in OBSERVATION}
    out = {k: fields[k].check(values.get(k)) for k in fields}
    for required in ("scale", "timepoint"):
        if out[required] is None:
            raise LogbookError(f"{required} is required")
    scale = scales.SCALES.get(out["scale"])
    if out["scale"] == "modified_ashworth":
        if out["grade"] is None:
            raise LogbookError("grade: a Modified Ashworth grade is one of "
                               + ", ".join(scales.ASHWORTH))
        if out["muscle"] is None:
            raise LogbookError("muscle: a Modified Ashworth grade is of one muscle")
        if out["value"] is not None and out["value"] != scales.rank(out["grade"]):
            raise LogbookError("value: a Modified Ashworth grade is given as its text "
                               "(grade), not as a number")
        out["value"] = float(scales.rank(out["grade"]))
    elif out["grade"] is not None:
        raise LogbookError("grade: only a Modified Ashworth value has a grade")
    if out["value"] is None:
        raise LogbookError("value is required")
    if (out["goal"] is None) == bool(scale and scale.get("goal")):
        raise LogbookError("goal: a GAS level is given with its goal's text, and only it")
    if out["scale"] == "pain_nrs" and out["timepoint"] != "followup":
        raise LogbookError("timepoint: pain before and after are the procedure's own "
                           "pain_before and pain_after")
    if scale and out["scale"] != "modified_ashworth" and (
            out["value"] != int(out["value"])
            or not scale["lo"] <= out["value"] <= scale["hi"]):
        raise LogbookError(f"value: {scale['label']} is a whole number from "
                           f"{scale['lo']} to {scale['hi']}")
    return out


def reason(text, what: str = "reason") -> str:
    """A reason (an override's, an amendment's, a void's): a few words, bounded."""
    if not isinstance(text, str) or len(text.strip()) < 3:
        raise LogbookError(f"{what}: a few words are needed")
    if len(text.strip()) > REASON_LONGEST:
        raise LogbookError(f"{what}: at most {REASON_LONGEST} characters")
    return text.strip()


def in_catalogue(cat, table: str, values: dict, product: str | None = None) -> None:
    """Products, their vial sizes and muscles that the catalogue knows."""
    if table == "vials":
        key = values.get("product", product)
        prod = cat.product(key) if key else None
        if key is not None and prod is None:
            raise LogbookError("product: not in the catalogue (assets/products.json): add "
                               "it there first")
        sizes = (prod or {}).get("vial_units") or []
        if values.get("vial_units") is not None and sizes and \
                float(values["vial_units"]) not in [float(s) for s in sizes]:
            raise LogbookError("vial_units: this product comes in "
                               f"{', '.join(f'{s:g}' for s in sizes)} unit vials")
    if table == "injections" and values.get("muscle") is not None \
            and values["muscle"] not in cat.muscles:
        raise LogbookError("muscle: not in the catalogue (assets/muscles.json)")
