"""A first run killed while it creates the logbook is recognised and finished on the next
start, never refused as "another application's"; a database that really is another
application's is still refused and left untouched."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from app.logbook import Logbook, NotALogbook
from app.logbook.migrations import migrations, names
from tests.forked import Forked


def _full(path: Path) -> None:
    with Logbook(path) as lb:
        rep = lb.verify()
        assert rep["ok"], rep["problems"]
        assert rep["schema"] == names()


def test_killed_after_the_migrations_table_and_before_the_first_migration(tmp_path):
    """The state a kill leaves between sqlite-utils making its table and 0001 committing
    (each migration is one transaction; the table before it is not)."""
    path = tmp_path / "logbook.db"
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    db = Database(path)
    db.enable_wal()
    migrations.ensure_migrations_table(db)  # the real first step of the real set
    db.close()
    _full(path)


def test_killed_between_the_migrations_table_and_its_index(tmp_path):
    path = tmp_path / "logbook.db"
    db = Database(path)
    db.execute("CREATE TABLE _sqlite_migrations (id INTEGER PRIMARY KEY, migration_set TEXT,"
               " name TEXT, applied_at TEXT)")
    db.close()
    _full(path)
    with Database(path) as db:  # made again whole: with its unique index
        assert any(i.unique for i in db["_sqlite_migrations"].indexes)


def test_another_applications_databases_are_still_refused_untouched(tmp_path):
    other = tmp_path / "other.db"
    db = Database(other)
    theirs = Migrations("someone.else")

    @theirs()
    def m1(db):
        db["notes"].insert({"text": "theirs"})
    theirs.apply(db)
    db.close()
    before = other.read_bytes()
    with pytest.raises(NotALogbook, match="another application's migrations"):
        Logbook(other)
    assert other.read_bytes() == before

    # an empty migrations table beside tables of its own: not a first run of ours
    mixed = tmp_path / "mixed.db"
    db = Database(mixed)
    migrations.ensure_migrations_table(db)
    db["notes"].insert({"text": "theirs"})
    db.close()
    with pytest.raises(NotALogbook):
        Logbook(mixed)
    assert Database(mixed)["notes"].count == 1


CHILD = ("import sys; from app.logbook import Logbook; print('ready', flush=True); "
         "Logbook(sys.argv[1]).close()")


def test_a_first_run_killed_at_any_moment_is_finished_by_the_next(tmp_path):
    """SIGKILL at moments spread over one whole creation (timed here, so the spread fits
    this machine; the outcome must be the same wherever a kill lands): each logbook left
    behind opens whole. Each child is forked with its imports made (tests/forked.py): the
    kill is placed after them."""
    started = time.monotonic()
    Logbook(tmp_path / "timed.db").close()
    create = time.monotonic() - started
    with Forked(tmp_path / "io", CHILD, "from app.logbook import Logbook") as forked:
        for k in range(16):
            path = tmp_path / f"killed{k}.db"
            pid, stdout = forked.start(path)
            with stdout:
                stdout.readline()  # imported: the creation starts now
                time.sleep(create * 1.2 * k / 15)
                forked.kill(pid)
                stdout.read()
            code, err = forked.reap(pid)
            assert code in (0, -signal.SIGKILL), err.decode()[-2000:]
            if path.exists():
                _full(path)
