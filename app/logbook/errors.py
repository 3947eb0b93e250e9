"""What the logbook raises. Messages say what failed, never whose record: no names, MRNs or
birth dates, so an error can go to a log or a crash report as it is."""

from __future__ import annotations

import math
import sqlite3


class LogbookError(Exception):
    """A request the logbook cannot carry out; nothing was changed."""


class NotALogbook(LogbookError):
    """The file is not a Needlepoint logbook: not SQLite, damaged, foreign or newer."""


class PinLocked(LogbookError):
    """Too many wrong PINs in a row: this user may try again in `wait_s` whole seconds. The
    PIN given was not accepted (while held out it is not even checked)."""

    def __init__(self, wait_s: float):
        self.wait_s = max(1, math.ceil(wait_s))
        super().__init__(f"too many wrong PINs: try again in {self.wait_s} s")


class DiskFull(LogbookError):
    """SQLite could not write: the change was rolled back and the caller still holds it."""


def is_full(e: Exception) -> bool:
    return "full" in str(e).lower()


def integrity_words(e: sqlite3.IntegrityError) -> str:
    text = str(e)
    if "UNIQUE constraint failed: patients.mrn" in text:
        return "a patient with this MRN already exists"
    return text
