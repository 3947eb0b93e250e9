"""Push: the tablet's logbook to the clinic server, in commit order, idempotently.

What goes up is the audit trail, entry by entry in its order (its `seq`), and with each
`insert` entry the row it created, as that entry recorded it (`new`: every column but the
EMG samples; a user's PIN hash as its SHA-256). So the server's row is the row as first
written, whenever the push happens, and every later change (an edit before sign-off, a
warning overridden, a pending mark taken) is the later entry that says so, pushed after
it: the rows as they now read are the trail replayed (app.logbook.audit.replay), which is
the pull's job (pull.py). Then the EMG samples of every snippet and pending mark already on
the server (`emg_samples`).

Idempotent: every INSERT is ON CONFLICT (id) DO NOTHING, the push starts after the last
entry the server holds for this tablet, and each batch of entries commits with its rows.
A push killed half-way leaves whole batches; the next one goes on from there; a retried
push changes nothing. Before anything goes up the new entries are checked to follow the
server's last one for this tablet and each other (hash and link): a logbook whose trail
does not continue what the server holds (restored from an older backup, replaced, edited)
is refused, nothing pushed.

Only this tablet's own records go up: what it pulled from the others is in clinic_audit
and carries an `origin`, never in the local trail this push reads, and the EMG it sends is
looked up for the server's rows of this tablet only.

Connects as the tablet's own role (clinic.json), which may only INSERT rows of its tablet.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import psycopg

from app.clinic import credentials, server
from app.clinic.errors import ClinicError
from app.clinic.schema import RECORDS, SCHEMA, quote
from app.logbook import Logbook
from app.logbook.audit import GENESIS, carried, check_entries
from app.logbook.pulled import ENTRY, WITH_EMG

BATCH = 500  # audit entries a transaction
ROWS = tuple(t for t in RECORDS if t not in ("audit", "emg_samples"))  # rows from the trail


@dataclass
class Pushed:
    entries: int = 0  # audit entries the server did not hold
    rows: int = 0  # rows created on the server
    emg: int = 0  # snippets' and pending marks' samples


def push(lb: Logbook, creds: dict) -> Pushed:
    """Push `lb` (open, read-only is enough) as the tablet of `creds` (clinic.json)."""
    done = Pushed()
    with server.connect(creds["dsn"]) as conn:
        try:
            if conn.execute(f"SELECT {SCHEMA}.my_tablet()").fetchone()[0] != creds["tablet"]:
                raise ClinicError(f"the clinic server does not know this tablet as "
                                  f"{creds['tablet']}: join again")
            last, head = _server_head(conn)
            entries = _new_entries(lb, last, head)
            for start in range(0, len(entries), BATCH):
                with conn.transaction():
                    for e in entries[start:start + BATCH]:
                        done.rows += _push_entry(conn, creds["tablet"], e)
                        done.entries += 1
            done.emg = _push_emg(conn, lb, creds["tablet"])
            conn.execute(f"SELECT {SCHEMA}.seen()")
            credentials.record_push(creds["tablet"], entries[-1]["seq"] if entries else last)
        except psycopg.errors.UndefinedTable:
            # a record table this Needlepoint writes (a newer migration) is not there yet
            raise ClinicError("the clinic server's schema is older than this Needlepoint's: "
                              "its administrator runs needlepoint clinic init --dsn URL to "
                              "bring it forward (what was pushed before stays; nothing is "
                              "lost)") from None
        except psycopg.Error as e:
            raise ClinicError(f"the clinic server refused the push: {server.first_line(e)} "
                              f"(what was pushed before stays; nothing is lost)") from None
    return done


def _server_head(conn: psycopg.Connection) -> tuple[int, str]:
    row = conn.execute(f"SELECT seq, hash FROM {SCHEMA}.audit WHERE tablet = "
                       f"{SCHEMA}.my_tablet() ORDER BY seq DESC LIMIT 1").fetchone()
    return (row[0], row[1]) if row else (0, GENESIS)


def _new_entries(lb: Logbook, last: int, head: str) -> list[dict]:
    """The local entries after `last`, checked to continue the server's `head`."""
    if last:
        mine = lb.db.execute("SELECT hash FROM audit WHERE seq = ?", [last]).fetchone()
        if mine is None or mine[0] != head:
            raise ClinicError(f"this logbook's audit trail does not continue the one the "
                              f"clinic server holds for this tablet (entry {last} differs): "
                              "nothing pushed")
    cur = lb.db.execute(f"SELECT {', '.join(ENTRY)} FROM audit WHERE seq > ? ORDER BY seq",
                        [last])
    entries = [dict(zip(ENTRY, values, strict=True)) for values in cur]
    _check(entries, head)
    return entries


def _check(entries: list[dict], head: str) -> None:
    """The tablet's own check before anything goes up (the server checks again, on
    arrival: schema 0002_audit_chain_checked)."""
    problems = check_entries(entries, head, limit=0)[2]
    if problems:
        raise ClinicError(f"this logbook's {problems[0]} (needlepoint logbook verify): "
                          "nothing pushed")


def _push_entry(conn: psycopg.Connection, tablet: str, e: dict) -> int:
    """The entry, and the row it created if it is an insert into a table the server keeps;
    1 if that row was new to the server."""
    made = 0
    if e["action"] == "insert" and e["tbl"] in ROWS:
        row = carried(e["tbl"], json.loads(e["new"]))
        row["tablet"] = tablet
        made = _insert(conn, e["tbl"], row)
    _insert(conn, "audit", {**e, "tablet": tablet})
    return made


def _insert(conn: psycopg.Connection, table: str, row: dict) -> int:
    cols = ", ".join(quote(c) for c in row)
    marks = ", ".join(["%s"] * len(row))
    cur = conn.execute(f"INSERT INTO {SCHEMA}.{table} ({cols}) VALUES ({marks}) "
                       "ON CONFLICT (id) DO NOTHING", list(row.values()))
    return cur.rowcount


def _push_emg(conn: psycopg.Connection, lb: Logbook, tablet: str) -> int:
    """The samples of this tablet's snippets and pending marks that the server has the row
    of but not the samples, a transaction each (about 280 KB)."""
    missing = {tbl: [r[0] for r in conn.execute(
        f"SELECT t.id FROM {SCHEMA}.{tbl} t WHERE t.tablet = {SCHEMA}.my_tablet() AND NOT "
        f"EXISTS (SELECT 1 FROM {SCHEMA}.emg_samples s WHERE s.id = t.id)")]
        for tbl in WITH_EMG}
    count = 0
    for tbl, ids in missing.items():
        for row_id in ids:
            found = lb.db.execute(f"SELECT samples, sha256 FROM {tbl} WHERE id = ?",
                                  [row_id]).fetchone()
            if found is None:
                continue
            with conn.transaction():
                count += _insert(conn, "emg_samples", {"id": row_id, "tablet": tablet,
                                                       "tbl": tbl, "samples": found[0],
                                                       "sha256": found[1]})
    return count
