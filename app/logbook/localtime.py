"""A stored time as a person reads it: the tablet's local time, with its zone as an offset
from UTC. The logbook keeps UTC (app.logbook.ids); every screen, the PDF note and the
command line's text show it through these functions, so they all say a time the same way:

    date_time("2026-12-07T08:43:12.000000Z")  ->  "2026-12-07 09:43 (UTC+01:00)"
    time_of_day(...)                          ->  "09:43 (UTC+01:00)"
    date(...)                                 ->  "2026-12-07"  (the local day)

The zone is the offset, never the abbreviation: "CST" is China's, Cuba's or the American
Central time, "IST" India's, Ireland's or Israel's, and many zones have none ("+03"); an
offset is never ambiguous and is always there. It is the offset in force at that moment,
so a time from summer reads "(UTC+02:00)" beside a winter one's "(UTC+01:00)". Data meant
for other programs (JSON, CSV, FHIR, EDF) keeps UTC as stored."""

from __future__ import annotations

import datetime as _dt

from app.logbook import ids


def local(stamp: str) -> _dt.datetime:
    """A stored timestamp (or date) as an aware datetime in the tablet's zone (TZ)."""
    return ids.parse(stamp).astimezone()


def zone(stamp: str) -> str:
    """'(UTC+01:00)': the offset from UTC of the tablet's zone at that moment."""
    z = local(stamp).strftime("%z")  # +0100
    return f"(UTC{z[:3]}:{z[3:5]})"


def date_time(stamp: str | None, seconds: bool = False, missing: str = "-") -> str:
    """'2026-12-07 09:43 (UTC+01:00)', with ':12' after the minutes when `seconds`."""
    if not stamp:
        return missing
    return f"{local(stamp).strftime('%Y-%m-%d ' + _clock(seconds))} {zone(stamp)}"


def time_of_day(stamp: str | None, seconds: bool = False, missing: str = "-") -> str:
    """'09:43 (UTC+01:00)', with ':12' after the minutes when `seconds`."""
    if not stamp:
        return missing
    return f"{local(stamp).strftime(_clock(seconds))} {zone(stamp)}"


def date(stamp: str | None, missing: str = "-") -> str:
    """'2026-12-07': the local day (a procedure at 00:30 in Berlin is on that day, not on
    the UTC day before)."""
    return local(stamp).date().isoformat() if stamp else missing  # (strftime: 1.5x slower)


def _clock(seconds: bool) -> str:
    return "%H:%M:%S" if seconds else "%H:%M"
