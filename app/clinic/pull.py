"""Pull: every other tablet's audit entries and rows, from the clinic server into this
tablet's logbook, marked with their tablet of origin (issue 32).

For each other tablet, its entries after the last one this logbook holds from it, in seq
order, read in one snapshot of the server (REPEATABLE READ); then taken into the logbook
in batches of BATCH, each batch one local transaction with its entries
(app.logbook.pulled.take: the chain checked to continue what was pulled before, the
entries replayed into rows: an insert makes the row as it was recorded, an update applies
its new values). A pull killed half-way leaves whole batches; a retried pull changes
nothing. The app writes the same logbook meanwhile: a batch is short, so its own commits
wait for at most one batch.

A tablet whose chain breaks (or whose rows this logbook refuses) is refused whole: nothing
of that batch is stored, the other tablets are still pulled, and `pull` then raises
PullRefused (one line, with what was pulled). An entry that needs another tablet's row
not pulled yet (a procedure of room 3 for a patient row made in room 2) waits: the batch
is retried smaller, after the other tablets' batches, until it goes in.

Rows arrive without their EMG: `pull` does not fetch it; `pull_emg` does, a transaction
a sample (about 280 KB), each checked against the SHA-256 its row carries. Until then
`Logbook.snippet` gives no samples and `on_clinic_server` True.

Connects as this tablet's own role (clinic.json), which may read every tablet's rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg

from app.clinic import server
from app.clinic.errors import ClinicError
from app.clinic.schema import SCHEMA
from app.logbook import Logbook, LogbookError
from app.logbook.pulled import ENTRY, Refused, Waiting

BATCH = 50  # entries a local transaction: 4-11 ms each here, what an app commit may wait
WINDOW = 2000  # entries read from the server per tablet per round


@dataclass
class Pulled:
    entries: int = 0  # other tablets' audit entries taken
    rows: int = 0  # rows created or changed locally
    emg: int = 0  # EMG samples fetched (pull_emg; pull itself fetches none)
    tablets: list[str] = field(default_factory=list)  # the tablets pulled from
    waiting: int = 0  # entries read but waiting for another tablet's rows (next pull)


class PullRefused(ClinicError):
    """One or more tablets refused (a chain break, a row this logbook refuses); `pulled`:
    what was pulled from the others."""

    def __init__(self, message: str, pulled: Pulled):
        super().__init__(message)
        self.pulled = pulled


def pull(lb: Logbook, creds: dict) -> Pulled:
    """Pull every other tablet's new entries and rows into `lb` (open to write) as the
    tablet of `creds` (clinic.json). Raises Unreachable (no connection), ClinicError (the
    server refused, or this logbook could not store), PullRefused (a tablet refused)."""
    tablet = creds["tablet"]
    done = Pulled()
    refused: dict[str, str] = {}
    _local(lb.clinic_link, tablet)
    with server.connect(creds["dsn"]) as conn:
        try:
            if conn.execute(f"SELECT {SCHEMA}.my_tablet()").fetchone()[0] != tablet:
                raise ClinicError(f"the clinic server does not know this tablet as {tablet}: "
                                  "join again")
            others = [r[0] for r in conn.execute(
                f"SELECT name FROM {SCHEMA}.tablets WHERE name <> %s ORDER BY name",
                (tablet,))]
            while True:
                fetched = _fetch(conn, lb, [t for t in others if t not in refused])
                moved = _take(lb, fetched, done, refused)
                if not (moved and any(len(e) == WINDOW for e in fetched.values())):
                    break
        except psycopg.Error as e:
            raise ClinicError(f"the clinic server refused the pull: {server.first_line(e)} "
                              "(what was pulled before stays)") from None
    done.tablets = [t for t in others if t not in refused]
    if refused:
        raise PullRefused(f"{'; '.join(refused.values())} (the other tablets were pulled)",
                          done)
    _local(lb.clinic_link, tablet, reached=True)
    return done


def _fetch(conn: psycopg.Connection, lb: Logbook, tablets: list[str]) -> dict[str, list]:
    """Each tablet's entries after those held, up to WINDOW, in one snapshot (an entry of
    one tablet that needs another's row finds that row's entry read too)."""
    out = {}
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        for t in tablets:
            last = lb.clinic_held(t)[0]
            out[t] = [dict(zip(ENTRY, values, strict=True)) for values in conn.execute(
                f"SELECT {', '.join(ENTRY)} FROM {SCHEMA}.audit WHERE tablet = %s AND "
                "seq > %s ORDER BY seq LIMIT %s", (t, last, WINDOW))]
    return out


def _take(lb: Logbook, fetched: dict[str, list], done: Pulled, refused: dict) -> bool:
    """Take the tablets' entries a batch at a time, in turn; a batch that waits for another
    tablet's row is halved and tried again after the others. True if any went in."""
    queues = {t: e for t, e in fetched.items() if e}
    size = dict.fromkeys(queues, BATCH)
    progress = False
    while queues:
        moved = False
        for t in list(queues):
            batch = queues[t][:size[t]]
            try:
                done.rows += _local(lb.take_pulled, t, batch)
            except Waiting:
                if size[t] > 1:
                    size[t] = max(1, size[t] // 2)
                    moved = True
                continue
            except Refused as e:
                refused[t] = str(e)
                del queues[t]
                continue
            done.entries += len(batch)
            queues[t] = queues[t][len(batch):]
            size[t] = BATCH
            moved = progress = True
            if not queues[t]:
                del queues[t]
        if not moved:
            break
    done.waiting = sum(len(q) for q in queues.values())
    return progress


def _local(step, *args, **kw):
    """A write to this logbook; its failure (a full disk, a read-only file) as one line."""
    try:
        return step(*args, **kw)
    except (Refused, Waiting):
        raise
    except LogbookError as e:
        raise ClinicError(f"this logbook could not store the pull: {e}") from None


def pull_emg(lb: Logbook, creds: dict, limit: int | None = None) -> int:
    """Fetch the EMG of pulled snippets and pending marks that is not here yet (at most
    `limit`), oldest first, a local transaction each; each checked against the SHA-256 its
    row carries before it is stored. EMG its tablet has not pushed yet is left for later.
    Returns how many were stored; raises ClinicError for one that does not match (the
    others are stored)."""
    missing = lb.emg_missing(limit)
    if not missing:
        return 0
    count, bad = 0, []
    with server.connect(creds["dsn"]) as conn:
        for tbl, row_id, sha in missing:
            try:
                found = conn.execute(f"SELECT samples FROM {SCHEMA}.emg_samples WHERE id = %s",
                                     (row_id,)).fetchone()
            except psycopg.Error as e:
                raise ClinicError(f"the clinic server refused the EMG: "
                                  f"{server.first_line(e)}") from None
            if found is None:
                continue
            try:
                _local(lb.keep_pulled_emg, tbl, row_id, sha, bytes(found[0]))
                count += 1
            except Refused as e:
                bad.append(str(e))
    if bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise ClinicError(bad[0] + more)
    return count
