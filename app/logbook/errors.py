"""What the logbook raises. Messages say what failed, never whose record: no names, MRNs or
birth dates, so an error can go to a log or a crash report as it is."""

from __future__ import annotations

import sqlite3


class LogbookError(Exception):
    """A request the logbook cannot carry out; nothing was changed."""


class NotALogbook(LogbookError):
    """The file is not a Needlepoint logbook: not SQLite, damaged, foreign or newer."""


class DiskFull(LogbookError):
    """SQLite could not write: the change was rolled back and the caller still holds it."""


def is_full(e: Exception) -> bool:
    return "full" in str(e).lower()


def integrity_words(e: sqlite3.IntegrityError) -> str:
    text = str(e)
    if "UNIQUE constraint failed: patients.mrn" in text:
        return "a patient with this MRN already exists"
    return text
