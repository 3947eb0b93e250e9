"""GS1 element strings as a scanner sends them: the GTIN, lot, expiry and serial of a vial's
label, read without guessing where a guess could give a wrong lot.

What arrives (any of):

- an optional symbology identifier: `]` + a code letter + a modifier digit (ISO/IEC 15424),
  `]C1` GS1-128, `]e0` GS1 DataBar, `]d2` GS1 DataMatrix, `]Q3` GS1 QR Code, `]J1` GS1
  DotCode; any other `]` + letter + digit is taken off too and named. `]E0` (EAN-13 or UPC-A)
  and `]E4` (EAN-8) carry a bare GTIN, no application identifiers;
- element strings: an application identifier (AI) and its data, again and again. FNC1 ends
  a variable-length field; it reaches us as the GS character (0x1D), or not at all: keyboard
  wedge scanners often drop it;
- the human-readable form, each AI in brackets: "(01)00312345678906(17)300930(10)C5512".

AIs read: 01 GTIN (14 digits, mod-10 check digit), 17 expiry (YYMMDD), 10 lot (up to 20
characters), 21 serial (up to 20). Every other AI in the tables below is known by its length
and stepped over; an AI in no table is named in the messages, and what follows it is read
only where its end can be found (a GS, a bracket).

A missing GS. A fixed-length AI needs none: its end is known from the table. A
variable-length field (10, 21, ...) ends at a GS or at the end of the string. With no GS
anywhere in the scan, the scanner may have dropped them, so a field may run into the next
one: "10C551217300930" is either lot "C5512" then expiry 2030-09-30, or lot "C551217300930".
What we do:

1. A GS anywhere in the scan shows that this scanner sends them: every variable field runs to
   the next GS or the end, no splitting.
2. With none, a variable field runs to the end unless its tail reads, to the very end, as
   element strings that begin with a predefined-length AI whose data checks (a real date for
   11-17, a right check digit for 00-02, digits for 20 and 31nn-36nn, 41n) and repeat no AI
   already read. A checked date or GTIN right after a lot is most likely what a dropped
   separator leaves (a label with its expiry after the lot); but a lot may hold those very
   characters. So a split taken is never silent: `ambiguous` is set and the message gives both
   readings, unless the whole would pass the field's maximum length, which leaves the split
   the only reading. More than one possible split: no lot at all, and the message says why.
3. A variable field longer than its maximum (20 for a lot) with no split found: a separator
   was lost and the field cannot be read; no lot, and the message says so.

A variable field followed by another variable field with no GS ("10C551221SER9") cannot be
told from one long field; nothing here can see it (the lot would read "C551221SER9").
Set such a scanner to send GS (most can: "FNC1 as GS", or a symbology identifier and GS).

Sources, each looked up for this module:

- Which AIs have a predefined length (no FNC1 after them) and every length used here: the
  GS1 Barcode Syntax Dictionary (github.com/gs1/gs1-syntax-dictionary,
  gs1-syntax-dictionary.txt, maintained by GS1 AISBL, "a specification similar to that
  contained in the GS1 General Specifications"): "*" marks a pre-defined length AI, and it
  gives 00 N18, 01 and 02 N14, 11, 12, 13, 15, 16, 17 N6, 20 N2, 3100-3695 N6, 410-417 N13;
  10, 21, 22 X..20, 235 X..28, 240, 241, 250, 251, 400 X..30, 242 N..6, 30 and 37 N..8,
  710-715 X..20; and the fixed-but-separated 7001 N13, 7003 N6+N4, 7006 N6, 8005 N6, 422,
  424, 426 N3. The decimal digits 6-9 of 31nn-36nn, which it leaves unassigned, are read
  with the same length: their family's.
- How many digits an AI has, from its first two: GS1 Tag Data Translation 2.0 table K
  (https://ref.gs1.org/standards/tdt/2.0.0/TDT_TableK.json, "based on GS1 Gen Specs v22
  Figure 7.8.2-1 GS1 Application Identifier lengths"), used to name an AI in no table and
  step over it to the next GS.
- GS1 General Specifications 7.12, "Determination of century in dates": the two-digit year
  minus the current year's two digits; 51 to 99 means the previous century, -99 to -50 the
  next, anything else this century (as GS1-aware parsers implement it, e.g. Odoo's
  barcodes_gs1_nomenclature gs1_date_to_date, which cites 7.12). Day "00": the last day of
  the month (AI 17 is "yymmd0" in the Syntax Dictionary: a day of 00 is allowed).
- FNC1 transmitted as GS (ASCII 29): GS1 GSCN 16-477 "FNC1 vs. <GS>".
- Symbology identifiers: ISO/IEC 15424, as GS1 carriers transmit them (]C1 GS1-128, ]e0
  GS1 DataBar, ]d2 GS1 DataMatrix, ]Q3 GS1 QR Code, ]J1 GS1 DotCode; ]E0 EAN-13/UPC-A,
  ]E4 EAN-8), as decoders list them.
- GTIN check digit: GS1 mod-10, weights 3 and 1 alternating from the right.
"""

from __future__ import annotations

import calendar
import datetime
import re
from dataclasses import dataclass, field

from app.logbook.catalogue import gtin_check_digit as check_digit

GS = "\x1d"

# AI -> data length, predefined: no FNC1 after them (Syntax Dictionary "*").
PREDEFINED = {"00": 18, "01": 14, "02": 14, "11": 6, "12": 6, "13": 6, "15": 6, "16": 6,
              "17": 6, "20": 2,
              **{f"{p}{d}": 6 for p in range(310, 370) for d in range(10)},
              **{f"41{d}": 13 for d in range(8)}}
# Fixed length but FNC1 still required after them: their length is known all the same.
FIXED = {"7001": 13, "7003": 10, "7006": 6, "8005": 6, "422": 3, "424": 3, "426": 3}
# AI -> the most characters a variable-length field holds.
VARIABLE = {"10": 20, "21": 20, "22": 20, "235": 28, "240": 30, "241": 30, "242": 6,
            "243": 20, "250": 30, "251": 30, "30": 8, "37": 8, "400": 30, "7004": 4,
            "7020": 20, "710": 20, "711": 20, "712": 20, "713": 20, "714": 20, "715": 20,
            "8012": 20}
NAMES = {"00": "SSCC", "01": "GTIN", "02": "GTIN of contents", "10": "lot", "11":
         "production date", "13": "packaging date", "15": "best before", "16": "sell by",
         "17": "expiry", "20": "variant", "21": "serial", "240": "additional id",
         "30": "count", "7003": "expiry date and time", "710": "national number (PZN)",
         "711": "national number (CIP)", "712": "national number (CN)",
         "713": "national number (DRN)", "714": "national number (AIM)",
         "715": "national number (NDC)"}
DATES = {"11", "12", "13", "15", "16", "17"}
CHECKED = {"00", "01", "02"} | {f"41{d}" for d in range(8)}

SYMBOLOGY = re.compile(r"^\][A-Za-z][0-9]")
BRACKET = re.compile(r"\((\d{2,4})\)")
GS1_CARRIERS = {"]C1": "GS1-128", "]e0": "GS1 DataBar", "]d2": "GS1 DataMatrix",
                "]Q3": "GS1 QR Code", "]J1": "GS1 DotCode", "]E0": "EAN-13/UPC-A",
                "]E4": "EAN-8"}


@dataclass
class Scan:
    """What one scan said. `gtin` only with a right check digit; `ambiguous` when a
    separator was missing and the lot was split by guess (the messages say how)."""

    gtin: str | None = None
    lot: str | None = None
    expiry: datetime.date | None = None
    serial: str | None = None
    symbology: str = ""
    elements: list[tuple[str, str]] = field(default_factory=list)  # (AI, data) as read
    skipped: list[str] = field(default_factory=list)  # AIs stepped over, unused or unknown
    messages: list[str] = field(default_factory=list)
    ambiguous: bool = False

    @property
    def found(self) -> bool:
        """Anything a vial form uses."""
        return bool(self.gtin or self.lot or self.expiry or self.serial)


# -- the pieces --------------------------------------------------------------------------

def valid_gtin(text: str) -> bool:
    return (len(text) in (8, 12, 13, 14) and text.isdigit()
            and check_digit(text[:-1]) == int(text[-1]))


def gs1_date(yymmdd: str, today: datetime.date | None = None) -> datetime.date | None:
    """YYMMDD by the Gen Specs 7.12 century rule; day 00 is the month's last day. None
    when it is no date."""
    if len(yymmdd) != 6 or not yymmdd.isdigit():
        return None
    yy, mm, dd = int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:])
    today = today or datetime.date.today()
    century = today.year // 100
    diff = yy - today.year % 100
    if 51 <= diff <= 99:
        century -= 1
    elif -99 <= diff <= -50:
        century += 1
    year = century * 100 + yy
    if not 1 <= mm <= 12:
        return None
    if dd == 0:
        dd = calendar.monthrange(year, mm)[1]
    try:
        return datetime.date(year, mm, dd)
    except ValueError:
        return None


def strip_symbology(text: str) -> tuple[str, str]:
    """(identifier, the rest): '' when the text starts with none."""
    m = SYMBOLOGY.match(text)
    return (m.group(0), text[3:]) if m else ("", text)


def looks_like(text: str) -> bool:
    """A scan rather than a typed value: a symbology identifier, a GS, a bracketed AI, or
    AI 01 and 14 digits with a right check digit or followed by another element."""
    t = (text or "").strip(" \r\n\t")  # str.strip() alone would take a GS too
    if SYMBOLOGY.match(t) or GS in t or re.match(r"\(\d{2,4}\)", t):
        return True
    m = re.match(r"01(\d{14})", t)
    if not m:
        return False
    return valid_gtin(m.group(1)) or bool(re.match(r"(17\d{6}|10.|21.|11\d{6})", t[16:]))


def find_start(text: str) -> int | None:
    """Where a scan starts inside a field's text (after what was typed there), or None."""
    for i in range(len(text)):
        rest = text[i:]
        if (SYMBOLOGY.match(rest) or re.match(r"\((01|17|10)\)", rest)
                or (rest[:2] == "01" and looks_like(rest))):
            return i
    return None


# -- reading -------------------------------------------------------------------------------

def parse(text: str, today: datetime.date | None = None) -> Scan:
    """Read a scan. Never raises: what could not be read is said in `messages`."""
    scan = Scan()
    t = (text or "").strip(" \r\n\t")
    scan.symbology, t = strip_symbology(t)
    if scan.symbology and scan.symbology not in GS1_CARRIERS:
        scan.messages.append(f"Symbology identifier {scan.symbology} is not a GS1 carrier's: "
                             "read as GS1 all the same")
    if scan.symbology in ("]E0", "]E4") and t.isdigit() and GS not in t:
        _take(scan, "01", t.zfill(14), today)
        return scan
    if t.startswith("("):
        elements = _bracketed(t, scan)
    else:
        elements = _raw(t.lstrip(GS), scan, GS in t, today)
    for ai, data in elements:
        _take(scan, ai, data, today)
    if not elements and not scan.messages:
        scan.messages.append("No GS1 element string found")
    return scan


def _bracketed(t: str, scan: Scan) -> list[tuple[str, str]]:
    parts = BRACKET.split(t)
    if parts[0].strip(GS):
        scan.messages.append(f"Before the first bracketed AI: {parts[0]!r} (not read)")
    out = []
    for ai, data in zip(parts[1::2], parts[2::2], strict=True):
        out.append((ai, data.replace(GS, "").strip()))
    return out


def _length(ai_and_rest: str) -> tuple[str, str, int | None] | None:
    """The AI at the start, its kind ('fixed' or 'variable') and its data length (fixed) or
    maximum (variable); None for an AI in no table."""
    for n in (2, 3, 4):
        ai = ai_and_rest[:n]
        if len(ai) < n or not ai.isdigit():
            return None
        if ai in PREDEFINED:
            return ai, "fixed", PREDEFINED[ai]
        if ai in FIXED:
            return ai, "fixed", FIXED[ai]
        if ai in VARIABLE:
            return ai, "variable", VARIABLE[ai]
    return None


def ai_length(two: str) -> int | None:
    """How many digits an AI has, from its first two (GS1 TDT table K, after the Gen Specs'
    table of AI lengths); None for a start no AI has."""
    if not (len(two) == 2 and two.isdigit()):
        return None
    n = int(two)
    if n <= 22 or n in (30, 37) or n >= 90:
        return 2
    if 23 <= n <= 25 or 40 <= n <= 49 or n == 71:
        return 3
    if 31 <= n <= 36 or n in (39, 70, 72) or 80 <= n <= 82:
        return 4
    return None


def _raw(t: str, scan: Scan, with_gs: bool, today, seen: frozenset = frozenset()
         ) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(t):
        if t[i] == GS:
            i += 1
            continue
        head = _length(t[i:])
        if head is None:
            n = ai_length(t[i:i + 2])
            end = t.find(GS, i)
            if n is None:
                scan.messages.append(f"No AI at {t[i:i + 4]!r}: the rest ({t[i:]!r}) not read")
                break
            if end < 0:
                scan.messages.append(f"AI {t[i:i + n]} is not one this app reads and its "
                                     f"end is not marked: the rest ({t[i:]!r}) not read")
                break
            _unknown(scan, t[i:i + n])
            i = end
            continue
        ai, kind, size = head
        start = i + len(ai)
        if kind == "fixed":
            data = t[start:start + size]
            if len(data) < size or GS in data:
                scan.messages.append(f"AI {ai} needs {size} characters, the scan has "
                                     f"{len(data.split(GS)[0])}: not read")
                break
            out.append((ai, data))
            i = start + size
            continue
        end = t.find(GS, start)
        if end >= 0 or with_gs:
            end = end if end >= 0 else len(t)
            out.append((ai, t[start:end]))
            i = end
            continue
        # No GS anywhere: this field may hide a dropped separator.
        data, rest = _split_variable(ai, t[start:], size, scan, today,
                                     seen | {a for a, _ in out})
        if data is not None:
            out.append((ai, data))
        out.extend(rest)
        break
    return out


def _split_variable(ai: str, tail: str, size: int, scan: Scan, today, seen
                    ) -> tuple[str | None, list[tuple[str, str]]]:
    """A variable field with no GS after it: the field alone to the end, or the one split
    where what follows reads as checked predefined-length elements to the very end."""
    splits = []
    for j in range(1, len(tail)):
        if j > size:
            break
        elements = _tail(tail[j:], today, seen | {ai})
        if elements is not None:
            splits.append((tail[:j], elements))
    what = NAMES.get(ai, f"AI {ai}")
    whole = len(tail) <= size
    if len(splits) == 1 and not whole:  # the one reading there is
        return splits[0]
    if len(splits) > 1:
        readings = "; ".join(f"{what} {d!r}" for d, _ in splits)
        scan.ambiguous = True
        scan.messages.append(f"The scanner sent no separator after the {what}, and "
                             f"{len(splits)} readings are possible ({readings}, or all of "
                             f"{tail!r}): {what} not read, type it from the label")
        return None, []
    if len(splits) == 1:
        data, elements = splits[0]
        scan.ambiguous = True
        after = ", ".join(f"({a}){d}" for a, d in elements)
        scan.messages.append(f"The scanner sent no separator after the {what}: read as "
                             f"{what} {data} then {after}; if the label's {what} is "
                             f"{tail}, type it")
        return data, elements
    if not whole:
        scan.messages.append(f"{what.capitalize()} {tail!r} is longer than {size} "
                             "characters: a separator was lost; type it from the label")
        return None, []
    return tail, []


def _tail(t: str, today, seen) -> list[tuple[str, str]] | None:
    """`t` read to its end as elements starting with a checked predefined-length one, no AI
    twice; None otherwise."""
    head = _length(t)
    if head is None or head[1] != "fixed" or head[0] not in PREDEFINED:
        return None
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(t):
        head = _length(t[i:])
        if head is None or head[0] in seen or head[0] in dict(out):
            return None
        ai, kind, size = head
        start = i + len(ai)
        data = t[start:] if kind == "variable" else t[start:start + size]
        if not data or len(data) > size or not _checks(ai, data, today):
            return None
        out.append((ai, data))
        i = start + len(data)
    return out


def _checks(ai: str, data: str, today) -> bool:
    if ai in DATES:
        return gs1_date(data, today) is not None
    if ai in CHECKED:
        return data.isdigit() and check_digit(data[:-1]) == int(data[-1])
    if ai in PREDEFINED or ai in FIXED:
        return data.isdigit()
    return True


def _unknown(scan: Scan, ai: str) -> None:
    scan.skipped.append(ai)
    scan.messages.append(f"AI {ai} is not one this app reads: skipped")


READ = {"01": "gtin", "17": "expiry", "10": "lot", "21": "serial"}


def _take(scan: Scan, ai: str, data: str, today) -> None:
    if ai in READ and any(a == ai and d != data for a, d in scan.elements):
        setattr(scan, READ[ai], None)
        scan.messages.append(f"AI {ai} ({NAMES[ai]}) twice with different values: "
                             f"{NAMES[ai]} not read")
        return
    scan.elements.append((ai, data))
    if ai not in READ and (ai in PREDEFINED or ai in FIXED or ai in VARIABLE):
        scan.skipped.append(ai)
    size = PREDEFINED.get(ai) or FIXED.get(ai)
    if size and len(data) != size:
        scan.messages.append(f"AI {ai} ({NAMES.get(ai, 'fixed length')}) needs {size} "
                             f"characters, not {len(data)}: not read")
        return
    if ai in VARIABLE and len(data) > VARIABLE[ai]:
        scan.messages.append(f"{NAMES.get(ai, 'AI ' + ai).capitalize()} {data!r} is longer "
                             f"than {VARIABLE[ai]} characters: not read")
        return
    if ai == "01":
        if valid_gtin(data):
            scan.gtin = data
        else:
            right = check_digit(data[:-1]) if data[:-1].isdigit() else "?"
            scan.messages.append(f"GTIN {data} has a wrong check digit (it would end in "
                                 f"{right}): the product is not picked from it")
    elif ai == "17":
        expiry = gs1_date(data, today)
        if expiry is None:
            scan.messages.append(f"Expiry {data} is not a date (YYMMDD): not read")
        else:
            scan.expiry = expiry
    elif ai == "10":
        scan.lot = data
    elif ai == "21":
        scan.serial = data
    elif ai not in PREDEFINED and ai not in FIXED and ai not in VARIABLE:
        _unknown(scan, ai)
