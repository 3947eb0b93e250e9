"""The needle of a procedure: asked once (a default per kind of procedure from
assets/needles.json, clinic-editable), carried onto every injection logged after it, so the
record and the note say which needle went in."""

from __future__ import annotations

import json
from dataclasses import dataclass

from app.logbook.catalogue import find
from app.logbook.errors import LogbookError

FILE = "needles.json"


@dataclass(frozen=True)
class Needles:
    defaults: dict[str, dict]  # kind -> {"gauge", "length_mm"}
    gauges: list[int]
    lengths_mm: list[float]


def load() -> Needles:
    """The clinic's needles file (or the shipped one); a clear error for a broken file."""
    path = find(FILE)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        defaults = {k: {"gauge": v.get("gauge"), "length_mm": v.get("length_mm")}
                    for k, v in data["defaults"].items()}
        return Needles(defaults, [int(g) for g in data["gauges"]],
                       [float(v) for v in data["lengths_mm"]])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise LogbookError(f"{path}: not a needles file ({type(e).__name__}: {e}); it needs "
                           "'defaults' by kind, 'gauges' and 'lengths_mm'") from None


def text(needle: dict | None) -> str:
    """'27G x 37 mm', as screens and the note say it ('' for none)."""
    if not needle:
        return ""
    g, mm = needle.get("gauge"), needle.get("length_mm")
    return " x ".join(x for x in (f"{g:g}G" if g is not None else "",
                                  f"{mm:g} mm" if mm is not None else "") if x)
