"""`clinic verify`: every tablet's audit chain as the clinic server holds it, checked here,
in Python, exactly as the tablet checks its own (app.logbook.audit.check_entries: each
entry follows the one before it and hashes to what it says), and its local sequence
whole (1, 2, 3, ...). The server refuses a break on arrival (schema
0002_audit_chain_checked); this finds what was changed afterwards, behind the tablets' back
(an UPDATE or DELETE by the database's owner or a superuser, a restored dump).

Run by the clinic's administrator (the database's owner); a tablet's role may read the
trails too.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from app.clinic import server
from app.clinic.errors import ClinicError
from app.clinic.schema import SCHEMA
from app.clinic.sync import ENTRY
from app.logbook.audit import GENESIS, check_entries

HEAD_SHOWN = 16  # hex digits of the head hash printed


@dataclass
class Chain:
    tablet: str
    entries: int
    head: str
    problem: str | None  # the first break, or None

    def line(self) -> str:
        head = "-" if self.head == GENESIS else self.head[:HEAD_SHOWN]
        state = "OK" if self.problem is None else f"BROKEN at {self.problem}"
        return f"{self.tablet}: {self.entries} entries, head {head}, {state}"


def chains(url: str) -> list[Chain]:
    """Each enrolled tablet's chain on the server, by tablet name."""
    with server.connect(url) as conn:
        try:
            names = [r[0] for r in conn.execute(
                f"SELECT name FROM {SCHEMA}.tablets ORDER BY name")]
            return [_chain(conn, name) for name in names]
        except psycopg.Error as e:
            raise ClinicError(f"the clinic server refused to be read: "
                              f"{server.first_line(e)}") from None


def _chain(conn: psycopg.Connection, tablet: str) -> Chain:
    with conn.transaction():  # one snapshot: the count, the head and the walk agree
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        count, head = conn.execute(
            f"SELECT count(*), (SELECT hash FROM {SCHEMA}.audit WHERE tablet = %(t)s "
            f"ORDER BY seq DESC LIMIT 1) FROM {SCHEMA}.audit WHERE tablet = %(t)s",
            {"t": tablet}).fetchone()
        return Chain(tablet, count, head or GENESIS, _first_break(conn, tablet))


def _first_break(conn: psycopg.Connection, tablet: str) -> str | None:
    missing: list[str] = []
    # a server-side cursor: a tablet's whole trail is never held here at once
    with conn.cursor(name="trail") as cur:
        cur.execute(f"SELECT {', '.join(ENTRY)} FROM {SCHEMA}.audit WHERE tablet = %s "
                    "ORDER BY seq", (tablet,))

        def entries():
            for n, values in enumerate(cur, start=1):
                e = dict(zip(ENTRY, values, strict=True))
                if e["seq"] != n:  # the walk stops here
                    missing.append(f"audit entry {n}: missing (the next one is "
                                   f"{e['seq']}: removed or renumbered on the server)")
                    return
                yield e

        problems = check_entries(entries(), limit=0)[2]
    first = (problems + missing)[:1]  # the walk stops at the first of either
    return first[0] if first else None
