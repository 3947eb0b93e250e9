"""Identifiers and timestamps shared by every table.

Rows are keyed by UUIDs (records may one day be merged from several tablets) and stamped in
UTC as ISO 8601 text with microseconds and a Z, which sorts as it reads."""

from __future__ import annotations

import datetime
import uuid

UTC = datetime.UTC


def new_id() -> str:
    return str(uuid.uuid4())


def now() -> str:
    return stamp(datetime.datetime.now(UTC))


def stamp(t: datetime.datetime) -> str:
    """A datetime as the logbook stores it. A naive datetime is taken to be UTC already."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse(text: str) -> datetime.datetime:
    """A stored timestamp (or a date, taken as midnight UTC) back as an aware datetime."""
    t = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def to_stamp(value) -> str:
    """Accept a datetime or a timestamp text from a caller; store one canonical form."""
    if isinstance(value, datetime.datetime):
        return stamp(value)
    return stamp(parse(str(value)))
