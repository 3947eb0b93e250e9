"""A vial label's barcode scanned into whichever field of the vial form had the focus.

A scanner is a keyboard: its characters land in the focused field, after what the field
held. `landed` tells a scan from typing (app.workflow.gs1.looks_like: a symbology
identifier, a GS, a bracketed AI, AI 01 with its GTIN), and says what the form does: the
field it landed in holds again what it held before, Lot and Expiry take the scan's (expiry
as the form shows a full date, YYYY-MM-DD), the product is picked by its GTIN where
products.json lists it, and one line says what was filled. Nothing the scan lacks is
touched: a scan without a lot leaves the Lot field as it was. No Kivy here; the set-up
screen (app/ui/setup.py) applies it."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from app.logbook.catalogue import Catalogue
from app.workflow import dose, gs1


@dataclass(frozen=True)
class Landed:
    keep: str  # the text the field it landed in holds again
    lot: str | None  # Lot's new text; None: Lot stays as it is
    expiry: str | None  # Expiry's new text (YYYY-MM-DD); None: stays
    product: str | None  # the product to pick; None: the choice stays
    line: str  # the one line said over the form
    lot_message: str  # beside Lot: why to check it against the label ("" when sure)
    scan: gs1.Scan


def start(text: str, before: str = "") -> int | None:
    """Where a scan begins in a field's text, given what the field held before; None when
    the text is typing."""
    if gs1.looks_like(text):
        return 0
    if before and text.startswith(before) and gs1.looks_like(text[len(before):]):
        return len(before)
    return gs1.find_start(text)


def landed(cat: Catalogue, text: str, before: str = "", *, chosen: str | None = None,
           today: datetime.date | None = None) -> Landed | None:
    """What the form does with `text`, a field's content after an edit (`before`: what it
    held; `chosen`: the product picked now), or None when it is not a scan."""
    at = start(text or "", before)
    if at is None:
        return None
    scan = gs1.parse(text[at:], today)
    expiry = scan.expiry.isoformat() if scan.expiry else None
    product = cat.product_of_gtin(scan.gtin)
    parts = []
    if scan.lot:
        parts.append(f"lot {scan.lot}" + (" (check it)" if scan.ambiguous else ""))
    if expiry:
        parts.append(f"expiry {expiry}" + (" EXPIRED" if scan.expiry < (
            today or datetime.date.today()) else ""))
    if product:
        name = dose.short_name(cat, product)
        was = f" (was {dose.short_name(cat, chosen)})" if chosen and chosen != product else ""
        parts.append(f"product {name}{was}")
    elif scan.gtin:
        parts.append(f"GTIN {scan.gtin} not in products.json: choose the product")
    line = "Scanned: " + (", ".join(parts) or "nothing this form uses")
    if scan.messages:
        line += ". " + ". ".join(scan.messages)
    lot_message = ""
    if scan.ambiguous:
        lot_message = next((m for m in scan.messages if "separator" in m), "")
    return Landed(keep=text[:at], lot=scan.lot, expiry=expiry, product=product, line=line,
                  lot_message=lot_message, scan=scan)

