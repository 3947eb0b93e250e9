"""`verify`: is this file an intact logbook? SQLite's integrity check, foreign keys, the
schema (every table, index and trigger, the protective triggers included, as this
Needlepoint's migrations make them, nothing missing, changed or added), the audit chain, the
trail replayed against the tables, every snippet against its hash, and, given the head hash
a printed note or a backup carries, whether that entry is still in the chain (a trail
rewritten and re-hashed from some entry on keeps a whole chain, but loses the heads it had).

Works on any open database, current or older schema, without changing it, so `restore` can
judge a backup before it replaces anything.
"""

from __future__ import annotations

import functools
import sqlite3

from sqlite_utils import Database

from app.logbook import audit, snippets
from app.logbook.migrations import AUDITED, NOT_AUDITED, PULLED, SET_NAME, migrations, names


def verify_db(db: Database, heads: tuple[str, ...] = ()) -> dict:
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
    if not unknown:
        problems += schema_problems(db, tuple(applied))
    fk = db.execute("PRAGMA foreign_key_check").fetchall()
    if fk:
        problems.append(f"foreign keys: {len(fk)} rows point at missing rows "
                        f"(first in table {fk[0][0]})")
    entries, head, chain = audit.check_chain(db)
    problems += chain
    found_heads = {}
    for given in heads:
        row = db.execute("SELECT seq FROM audit WHERE hash = ?", [given.strip().lower()]
                         ).fetchone()
        found_heads[given] = row[0] if row else None
        if row is None:
            problems.append(f"head {given} (from a note or a backup) is not in this "
                            "logbook's audit trail: the trail was rewritten or cut after it")
    present = [t for t in AUDITED if t in tables]
    problems += audit.replay(db, present, NOT_AUDITED)
    pulled = _pulled(db, tables)
    problems += pulled["problems"]
    checked = 0
    for table, what in (("snippets", "snippet"), ("pending_marks", "pending mark")):
        if table not in tables:
            continue
        # a pulled row's EMG is in clinic_emg once fetched; until then there is none here
        sql = (f"SELECT t.id, coalesce(e.samples, t.samples), t.sha256 FROM {table} t "
               f"LEFT JOIN clinic_emg e ON e.id = t.id WHERE t.origin IS NULL OR e.id IS "
               "NOT NULL" if "clinic_emg" in tables else
               f"SELECT id, samples, sha256 FROM {table}")
        for sid, blob, sha in db.execute(sql):
            checked += 1
            try:
                ok = snippets.sha256_of(blob) == sha
            except Exception:  # zlib.error or worse: the blob itself is damaged
                ok = False
            if not ok:
                problems.append(f"{what} {sid}: samples do not match their hash")
    counts = {t: db.execute(f"SELECT count(*) FROM [{t}]").fetchone()[0] for t in present}
    return _report(not problems, problems, integrity=integrity == ["ok"], schema=applied,
                   audit_entries=entries, head=head, heads_given=found_heads,
                   snippets_checked=checked, counts=counts, pulled=pulled["tablets"])


def _pulled(db: Database, tables: set[str]) -> dict:
    """Each other tablet's pulled trail (clinic_audit): its chain, whole from entry 1, and
    the rows pulled from it replayed against it, as this tablet's own are."""
    if "clinic_audit" not in tables:
        return {"problems": [], "tablets": {}}
    problems: list[str] = []
    found = {}
    for (tablet,) in db.execute("SELECT DISTINCT tablet FROM clinic_audit ORDER BY tablet"
                                ).fetchall():
        cur = db.execute("SELECT seq, id, at, user_id, action, tbl, row_id, old, new, "
                         "reason, prev_hash, hash FROM clinic_audit WHERE tablet = ? ORDER "
                         "BY seq", [tablet])
        keys = [d[0] for d in cur.description]
        gaps = []

        def entries(cur=cur, keys=keys, gaps=gaps):  # one at a time, never the whole trail
            for n, values in enumerate(cur, start=1):
                e = dict(zip(keys, values, strict=True))
                if e["seq"] != n and not gaps:
                    gaps.append(f"audit entry {n}: missing (the next one held is "
                                f"{e['seq']})")
                yield e

        count, head, chain = audit.check_entries(entries())
        problems += [f"pulled from {tablet}: {p}" for p in chain + gaps]
        problems += audit.replay(db, [t for t in PULLED if t in tables], NOT_AUDITED,
                                 origin=tablet)
        found[tablet] = {"entries": count, "head": head}
    return {"problems": problems, "tablets": found}


def schema_problems(db: Database, applied: tuple[str, ...]) -> list[str]:
    """Every table, index and trigger against what the applied migrations make: a
    protective trigger dropped or rewritten, a table changed, or an object added."""
    want, have = expected_schema(applied), _schema(db)
    problems = []
    for (kind, name), sql in sorted(want.items()):
        if (kind, name) not in have:
            problems.append(f"schema: {kind} {name} is missing")
        elif have[(kind, name)] != sql:
            problems.append(f"schema: {kind} {name} differs from this Needlepoint's")
    problems += [f"schema: {kind} {name} is not this Needlepoint's"
                 for kind, name in sorted(set(have) - set(want))]
    return problems


@functools.lru_cache(maxsize=8)
def expected_schema(applied: tuple[str, ...]) -> dict[tuple[str, str], str]:
    """The schema these migrations make, from an empty database in memory."""
    fresh = Database(memory=True)
    pending = [n for n in names() if n not in applied]
    migrations.apply(fresh, stop_before=pending[0] if pending else None)
    return _schema(fresh)


def _schema(db: Database) -> dict[tuple[str, str], str]:
    return {(kind, name): " ".join((sql or "").split()) for kind, name, sql in db.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")}


def _report(ok: bool, problems: list[str], **extra) -> dict:
    return {"ok": ok, "problems": problems, **extra}
