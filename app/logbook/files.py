"""The logbook file on disk: created owner-only, checked to be ours before SQLite writes to
it (a first run killed half-way is recognised and finished), permissions tightened when
they are looser."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

from sqlite_utils import Database

from app.logbook.errors import LogbookError, NotALogbook
from app.logbook.migrations import SET_NAME, migrations, names

SQLITE_HEADER = b"SQLite format 3\x00"


def prepare_file(path: Path, create: bool) -> None:
    """Create the file owner-only before SQLite does (SQLite gives its -wal and -shm files
    the database's mode), or check that an existing file is an SQLite database."""
    if path.exists():
        if path.is_dir():
            raise NotALogbook(f"{path} is a folder, not a logbook file")
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_HEADER))
        if head and head != SQLITE_HEADER:
            raise NotALogbook(f"{path} is not a Needlepoint logbook (not an SQLite database); "
                              "it was left untouched")
        return
    if not create:
        raise LogbookError(f"no logbook at {path}")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    os.close(fd)


def tighten(path: Path) -> None:
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            if p.exists() and stat.S_IMODE(p.stat().st_mode) & 0o077:
                os.chmod(p, 0o600)
        except OSError:
            pass  # not ours to change (a read-only copy): reading still works


def connect_readonly(path: Path) -> sqlite3.Connection:
    """A connection that never writes: `mode=ro`, which reads a logbook's write-ahead log
    too; on read-only media where SQLite cannot open the log's index (-shm), `immutable=1`,
    but only when there is no log to miss (it would read the file without the records the
    log holds)."""
    uri = path.absolute().as_uri()
    conn = sqlite3.connect(f"{uri}?mode=ro", uri=True)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        conn.close()
    wal = Path(f"{path}-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise LogbookError(f"{path} cannot be read where it is: records in its write-ahead "
                           f"log ({wal.name}) need its -shm file, which read-only media cannot "
                           "hold; copy the folder to writable storage and read it there")
    conn = sqlite3.connect(f"{uri}?immutable=1", uri=True)
    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    return conn


def read_only(path: Path, e: Exception | None = None) -> bool:
    """Is the logbook's folder (or the file) on read-only media or not writable?"""
    if e is not None and "readonly" in str(e).replace("-", "").replace(" ", "").lower():
        return True
    folder = path.parent if path.parent.exists() else Path(".")
    return not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK))


def read_only_words(path: Path) -> str:
    return (f"{path} is on read-only media (or not writable): nothing was changed; list, "
            "show, lot, verify, export and backup still read it")


def check_ours(db: Database, path: Path, finish: bool = True) -> None:
    tables = set(db.table_names())
    if not tables:
        return
    if "_sqlite_migrations" not in tables:
        raise NotALogbook(f"{path} is an SQLite database but not a Needlepoint logbook; it "
                          "was left untouched")
    applied = [m.name for m in migrations.applied(db)]
    if not applied and half_made(db, tables):
        if not finish:
            raise NotALogbook(f"{path} is a logbook whose first run was cut short: open it "
                              "once to write (any command that writes) to finish it")
        # A first run killed after sqlite-utils made its migrations table and before the
        # first migration committed (each migration is one transaction, the table and its
        # index are not): nothing else was written. Start it again, as a new logbook.
        db.execute("DROP TABLE _sqlite_migrations")
        return
    if not applied:
        raise NotALogbook(f"{path} holds another application's migrations, not a "
                          f"Needlepoint logbook ({SET_NAME})")
    unknown = [n for n in applied if n not in names()]
    if unknown:
        raise NotALogbook(f"{path} was written by a newer Needlepoint (schema "
                          f"{', '.join(unknown)}): update Needlepoint to open it")


def half_made(db: Database, tables: set[str]) -> bool:
    """The migrations table alone, empty: a Needlepoint first run cut short, not another
    application's database (that has its own tables, or its own migrations recorded)."""
    return tables == {"_sqlite_migrations"} and not db.execute(
        "SELECT count(*) FROM _sqlite_migrations").fetchone()[0]
