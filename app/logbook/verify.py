"""`verify`: is this file an intact logbook? SQLite's integrity check, foreign keys, the
audit chain, the trail replayed against the tables, and every snippet against its hash.

Works on any open database, current or older schema, without changing it, so `restore` can
judge a backup before it replaces anything.
"""

from __future__ import annotations

import sqlite3

from sqlite_utils import Database

from app.logbook import audit, snippets
from app.logbook.migrations import AUDITED, NOT_AUDITED, SET_NAME, names


def verify_db(db: Database) -> dict:
    problems: list[str] = []
    try:
        integrity = [r[0] for r in db.execute("PRAGMA integrity_check").fetchall()]
    except sqlite3.DatabaseError as e:
        return _report(False, [f"not a readable SQLite database: {e}"])
    if integrity != ["ok"]:
        problems += [f"integrity: {line}" for line in integrity[:20]]
    tables = set(db.table_names())
    if "_sqlite_migrations" not in tables or "audit" not in tables:
        return _report(False, problems + ["not a Needlepoint logbook (no schema record or "
                                          "audit trail)"])
    applied = [r[0] for r in db.execute(
        "SELECT name FROM _sqlite_migrations WHERE migration_set = ? ORDER BY id", [SET_NAME])]
    unknown = [n for n in applied if n not in names()]
    if unknown:
        problems.append(f"written by a newer Needlepoint (schema {', '.join(unknown)})")
    fk = db.execute("PRAGMA foreign_key_check").fetchall()
    if fk:
        problems.append(f"foreign keys: {len(fk)} rows point at missing rows "
                        f"(first in table {fk[0][0]})")
    entries, head, chain = audit.check_chain(db)
    problems += chain
    present = [t for t in AUDITED if t in tables]
    problems += audit.replay(db, present, NOT_AUDITED)
    checked = 0
    for table, what in (("snippets", "snippet"), ("pending_marks", "pending mark")):
        if table not in tables:
            continue
        for sid, blob, sha in db.execute(f"SELECT id, samples, sha256 FROM {table}"):
            checked += 1
            try:
                ok = snippets.sha256_of(blob) == sha
            except Exception:  # zlib.error or worse: the blob itself is damaged
                ok = False
            if not ok:
                problems.append(f"{what} {sid}: samples do not match their hash")
    counts = {t: db.execute(f"SELECT count(*) FROM [{t}]").fetchone()[0] for t in present}
    return _report(not problems, problems, integrity=integrity == ["ok"], schema=applied,
                   audit_entries=entries, head=head, snippets_checked=checked, counts=counts)


def _report(ok: bool, problems: list[str], **extra) -> dict:
    return {"ok": ok, "problems": problems, **extra}
