"""The append-only, hash-chained audit trail, and the checks that read it back.

Every insert and every change to an audited table goes through `append`, in the same
transaction as the change itself, so a crash keeps both or neither. Each entry's hash covers
its predecessor's hash and its own stored text, so altering, removing or reordering an entry
breaks the chain. `replay` then folds the trail into the rows it describes and compares
them with the tables: a row edited behind the trail's back (plain SQL, another tool) shows up
as a difference. The one thing a chain alone cannot see is its own tail cut off together with
the rows it described; `verify` prints the head hash so that a copy kept elsewhere (a backup,
a printed note) can be compared.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from sqlite_utils import Database

from app.logbook.ids import new_id, now
from app.logbook.migrations import DIGESTED

GENESIS = "0" * 64
DIGEST_PREFIX = "sha256:"


def canonical(value) -> str | None:
    """The one JSON text of a value that the chain hashes (None stays SQL NULL)."""
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def carried(tbl: str, values: dict | None) -> dict | None:
    """A row's values as the trail carries them: DIGESTED columns (a user's PIN hash) as the
    SHA-256 of their value. A value already in that form stays as it is, so a trail entry
    and a table row compare alike, and an old entry that carried the value itself (written
    before 0004_pin_attempts) still matches its row."""
    cols = DIGESTED.get(tbl, ())
    if values is None or not cols:
        return values
    return {k: _digest(v) if k in cols else v for k, v in values.items()}


def _digest(value):
    if not isinstance(value, str) or value.startswith(DIGEST_PREFIX):
        return value
    return DIGEST_PREFIX + hashlib.sha256(value.encode("utf-8")).hexdigest()


def entry_hash(prev_hash: str, entry: dict) -> str:
    fields = [entry["id"], entry["at"], entry["user_id"], entry["action"], entry["tbl"],
              entry["row_id"], entry["old"], entry["new"], entry["reason"]]
    text = json.dumps(fields, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + "\n" + text).encode("utf-8")).hexdigest()


def head(db: Database) -> tuple[int, str]:
    row = db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    return (row[0], row[1]) if row else (0, GENESIS)


def append(db: Database, *, user_id: str | None, action: str, tbl: str, row_id: str,
           old: dict | None = None, new: dict | None = None, reason: str | None = None,
           at: str | None = None) -> dict:
    """Add one entry after the current head. Call inside the transaction of the change."""
    _, prev = head(db)
    entry = {"id": new_id(), "at": at or now(), "user_id": user_id, "action": action,
             "tbl": tbl, "row_id": row_id, "old": canonical(carried(tbl, old)),
             "new": canonical(carried(tbl, new)),
             "reason": reason, "prev_hash": prev}
    entry["hash"] = entry_hash(prev, entry)
    db.execute(
        "INSERT INTO audit (id, at, user_id, action, tbl, row_id, old, new, reason, prev_hash,"
        " hash) VALUES (:id, :at, :user_id, :action, :tbl, :row_id, :old, :new, :reason,"
        " :prev_hash, :hash)", entry)
    return entry


def check_chain(db: Database) -> tuple[int, str, list[str]]:
    """(entries, head hash, problems): every entry follows its predecessor and hashes to
    what it says."""
    cur = db.execute("SELECT seq, id, at, user_id, action, tbl, row_id, old, new, reason, "
                     "prev_hash, hash FROM audit ORDER BY seq")
    keys = [d[0] for d in cur.description]
    return check_entries(dict(zip(keys, values, strict=True)) for values in cur)


def check_entries(entries: Iterable[dict], prev: str = GENESIS, limit: int = 50
                  ) -> tuple[int, str, list[str]]:
    """check_chain's walk over entries (dicts of the audit's columns) in their order, the
    first following `prev`; it stops past `limit` problems (0: at the first). The clinic
    server's trails are checked by it too (app/clinic)."""
    problems: list[str] = []
    count = 0
    for e in entries:
        count += 1
        if e["prev_hash"] != prev:
            problems.append(f"audit entry {e['seq']}: does not follow the entry before it "
                            "(an entry was removed or reordered)")
        if entry_hash(e["prev_hash"], e) != e["hash"]:
            problems.append(f"audit entry {e['seq']}: its hash does not match its contents "
                            "(the entry was altered)")
        prev = e["hash"]
        if len(problems) > limit:
            if limit:
                problems.append(f"... (stopped after {limit} problems)")
            break
    return count, prev, problems


def replay(db: Database, tables: Iterable[str], skip: dict[str, tuple[str, ...]],
           origin: str | None = None) -> list[str]:
    """Fold the trail into rows and compare them with the tables, both ways: this
    tablet's own trail and rows (origin NULL), or, given `origin`, the trail pulled from
    that tablet (clinic_audit) and the rows pulled with it."""
    problems: list[str] = []
    tables = list(tables)
    state: dict[tuple[str, str], dict] = {}
    trail = (db.execute("SELECT tbl, row_id, action, old, new FROM audit ORDER BY seq")
             if origin is None else
             db.execute("SELECT tbl, row_id, action, old, new FROM clinic_audit WHERE "
                        "tablet = ? ORDER BY seq", [origin]))
    for tbl, row_id, action, old, new in trail:
        if tbl not in tables:
            continue
        key = (tbl, row_id)
        changes = carried(tbl, json.loads(new) if new else {})
        if action == "insert":
            if key in state:
                problems.append(f"{tbl} row {row_id}: created twice in the audit trail")
            state[key] = changes
        elif key not in state:
            problems.append(f"{tbl} row {row_id}: changed in the audit trail before it "
                            "was created")
        else:
            before = carried(tbl, json.loads(old) if old else {})
            for field, value in before.items():
                if state[key].get(field) != value:
                    problems.append(f"{tbl} row {row_id}: the trail's old value of {field} "
                                    "is not what the trail last recorded")
            state[key].update(changes)
    for tbl in tables:
        hidden = set(skip.get(tbl, ()))
        seen = set()
        pulled = "origin" in {c[1] for c in db.execute(f"PRAGMA table_info([{tbl}])")}
        cur = (db.execute(f"SELECT * FROM [{tbl}] WHERE origin IS ?", [origin]) if pulled
               else db.execute(f"SELECT * FROM [{tbl}]"))
        cols = [d[0] for d in cur.description]
        for values in cur:
            row = carried(tbl, {c: v for c, v in zip(cols, values, strict=True)
                                if c not in hidden})
            key = (tbl, row["id"])
            seen.add(key)
            recorded = state.get(key)
            if recorded is None:
                problems.append(f"{tbl} row {row['id']}: not in the audit trail "
                                "(written behind its back)")
                continue
            for field in row:
                if recorded.get(field) != row[field]:
                    problems.append(f"{tbl} row {row['id']}: {field} differs from its audit "
                                    "trail (changed behind its back)")
        for key in state:
            if key[0] == tbl and key not in seen:
                problems.append(f"{tbl} row {key[1]}: in the audit trail but missing")
        if len(problems) > 50:
            problems = problems[:50] + ["... (stopped after 50 problems)"]
            break
    return problems if origin is None else [f"pulled from {origin}: {p}" for p in problems]
