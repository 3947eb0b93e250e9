"""Other tablets' records, pulled from the clinic server (issue 32), as this logbook keeps
them. The logbook does not know the server: app/clinic/pull.py fetches, this stores.

- Each other tablet's audit entries go to `clinic_audit` as that tablet wrote them, and
  only if they continue what was pulled from it before (`app.logbook.audit.check_entries`
  from the last entry held, numbered one after the other): a break is refused, nothing of
  the batch stored.
- Its rows are that trail replayed into the same tables as this tablet's, marked with
  `origin` (the tablet's name): an insert entry makes the row as it recorded it (a PIN
  hash as its SHA-256, app.logbook.audit.carried, so no pulled user can sign in here), an
  update entry applies its `new` values to that tablet's own row. Entries of tables the
  server does not keep (the PIN lockout) are kept in the trail and change no row.
- The local `audit` trail stays this tablet's own: nothing here writes to it, so a push
  (which goes by that trail) never sends a pulled row, and `verify` replays the pulled
  rows against their own tablet's trail.
- Snippets and pending marks arrive without their EMG (`samples` empty); it comes later,
  checked against the row's SHA-256, into `clinic_emg`.
"""

from __future__ import annotations

import datetime
import json
import sqlite3

from sqlite_utils import Database

from app.logbook import errors, ids, localtime, snippets
from app.logbook.audit import GENESIS, carried, check_entries
from app.logbook.errors import LogbookError
from app.logbook.migrations import PULLED

STALE_S = 15 * 60  # a dose check says when other rooms were last seen past this
WITH_EMG = ("snippets", "pending_marks")
ENTRY = ("seq", "id", "at", "user_id", "action", "tbl", "row_id", "old", "new", "reason",
         "prev_hash", "hash")
NEVER = "other rooms never seen: this tablet has not synced with the clinic server yet"


class Refused(LogbookError):
    """Entries pulled from a tablet that this logbook will not store (a chain break, a row
    it refuses): nothing of their batch is stored."""


class Waiting(LogbookError):
    """An entry needs a row written on another tablet that is not here yet (pulled later)."""


def held(db: Database, tablet: str) -> tuple[int, str]:
    """(seq, hash) of the last entry pulled from `tablet`; (0, the chain's start) before
    the first."""
    row = db.execute("SELECT seq, hash FROM clinic_audit WHERE tablet = ? ORDER BY seq DESC "
                     "LIMIT 1", [tablet]).fetchone()
    return (row[0], row[1]) if row else (0, GENESIS)


def take(db: Database, tablet: str, entries: list[dict]) -> int:
    """Store `entries` of `tablet` (in seq order) and apply them to its rows; the caller
    holds the transaction. Entries already held are skipped. Returns the rows made or
    changed."""
    last, head = held(db, tablet)
    entries = [e for e in entries if e["seq"] > last]
    if not entries:
        return 0
    for n, e in enumerate(entries, start=last + 1):
        if e["seq"] != n:
            raise Refused(f"audit entry {n} of tablet {tablet} is missing on the clinic "
                          f"server (the next one there is {e['seq']}): nothing of "
                          f"{tablet} stored")
    problems = check_entries(entries, head, limit=0)[2]
    if problems:
        raise Refused(f"tablet {tablet}'s {problems[0]}: nothing of {tablet} stored")
    at = ids.now()
    columns: dict[str, set[str]] = {}
    changed = 0
    for e in entries:
        db.execute(f"INSERT INTO clinic_audit (tablet, pulled_at, {', '.join(ENTRY)}) VALUES "
                   f"(?, ?, {', '.join('?' * len(ENTRY))})",
                   [tablet, at, *(e[k] for k in ENTRY)])
        if e["tbl"] in PULLED:
            if e["tbl"] not in columns:
                columns[e["tbl"]] = {c[1] for c in db.execute(
                    f"PRAGMA table_info([{e['tbl']}])")}
            changed += _apply(db, tablet, e, columns[e["tbl"]])
    return changed


def _apply(db: Database, tablet: str, e: dict, columns: set[str]) -> int:
    tbl, row_id = e["tbl"], e["row_id"]
    values = carried(tbl, json.loads(e["new"]) if e["new"] else {}) or {}
    unknown = set(values) - columns
    if unknown:
        raise Refused(f"tablet {tablet} writes {tbl} with {', '.join(sorted(unknown))}, "
                      "which this Needlepoint does not know: update it")
    try:
        if e["action"] == "insert":
            row = {**values, "origin": tablet}
            if tbl in WITH_EMG:
                row["samples"] = b""  # its EMG follows (clinic_emg)
            db.execute(f"INSERT INTO [{tbl}] ({', '.join(f'[{c}]' for c in row)}) VALUES "
                       f"({', '.join('?' * len(row))})", list(row.values()))
            return 1
        if not values:
            return 0
        cur = db.execute(f"UPDATE [{tbl}] SET {', '.join(f'[{c}] = ?' for c in values)} "
                         "WHERE id = ? AND origin = ?", [*values.values(), row_id, tablet])
    except sqlite3.IntegrityError as x:
        if "FOREIGN KEY" in str(x):
            raise Waiting(f"{tbl} row {row_id} of {tablet} refers to a row not here yet"
                          ) from None
        raise Refused(f"tablet {tablet}'s audit entry {e['seq']} ({e['action']} of {tbl}) "
                      f"is refused by this logbook: {errors.integrity_words(x)}") from None
    if cur.rowcount == 1:
        return 1
    owner = db.execute(f"SELECT origin FROM [{tbl}] WHERE id = ?", [row_id]).fetchone()
    if owner is None:
        raise Waiting(f"{tbl} row {row_id} changed by {tablet} is not here yet")
    raise Refused(f"tablet {tablet}'s audit entry {e['seq']} changes a {tbl} row of "
                  f"{owner[0] or 'this tablet'}: a tablet changes only its own rows")


# the clinic link: which tablet this logbook is, when it last reached the server ----------

def link(db: Database, tablet: str) -> None:
    """Record that this logbook is the clinic tablet `tablet` (once)."""
    db.execute("INSERT OR IGNORE INTO clinic_link (tablet, known_at) VALUES (?, ?)",
               [tablet, ids.now()])


def reached(db: Database, tablet: str, at: str | None = None) -> None:
    link(db, tablet)
    db.execute("UPDATE clinic_link SET reached_at = ? WHERE tablet = ?",
               [at or ids.now(), tablet])


def last_reached(db: Database) -> tuple[bool, str | None]:
    """(joined, the last successful pull's stamp or None)."""
    row = db.execute("SELECT count(*), max(reached_at) FROM clinic_link").fetchone()
    return bool(row[0]), row[1]


def note(joined: bool, last: str | None, now: str | datetime.datetime | None = None,
         stale_s: float = STALE_S) -> str | None:
    """What a dose check says beside its result when other rooms' injections may be
    missing from it: None when this tablet is in no clinic or pulled within `stale_s`."""
    if not joined:
        return None
    if last is None:
        return NEVER
    when = ids.parse(ids.to_stamp(now)) if now is not None else datetime.datetime.now(ids.UTC)
    if (when - ids.parse(last)).total_seconds() <= stale_s:
        return None
    same_day = localtime.date(last) == localtime.date(ids.stamp(when))
    shown = localtime.time_of_day(last) if same_day else localtime.date_time(last)
    return f"other rooms last seen {shown}"


# EMG ------------------------------------------------------------------------------------

def missing_emg(db: Database, limit: int | None = None) -> list[tuple[str, str, str]]:
    """(table, id, sha256) of pulled snippets and pending marks whose EMG is not here."""
    sql = " UNION ALL ".join(
        f"SELECT '{t}', t.id, t.sha256, t.created_at FROM {t} t WHERE t.origin IS NOT NULL "
        f"AND NOT EXISTS (SELECT 1 FROM clinic_emg e WHERE e.id = t.id)" for t in WITH_EMG)
    sql += " ORDER BY 4" + (f" LIMIT {int(limit)}" if limit is not None else "")
    return [(r[0], r[1], r[2]) for r in db.execute(sql)]


def keep_emg(db: Database, tbl: str, row_id: str, sha256: str, blob: bytes) -> None:
    """A pulled row's EMG, stored only if it is the EMG its row's hash names."""
    try:
        ok = snippets.sha256_of(blob) == sha256
    except Exception:  # zlib.error or worse: not EMG at all
        ok = False
    if not ok:
        raise Refused(f"the clinic server's EMG for {tbl[:-1].replace('_', ' ')} {row_id} "
                      "does not match the hash its row carries: not stored")
    db.execute("INSERT OR IGNORE INTO clinic_emg (id, tbl, samples, pulled_at) VALUES "
               "(?, ?, ?, ?)", [row_id, tbl, blob, ids.now()])


def emg_of(db: Database, row_id: str) -> bytes | None:
    row = db.execute("SELECT samples FROM clinic_emg WHERE id = ?", [row_id]).fetchone()
    return row[0] if row else None
