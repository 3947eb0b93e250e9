"""Shared by the clinic server's tests (tests/test_clinic_*.py): a clinic database of its
own on the session's throwaway PostgreSQL (tests/pgserver.py), tablets joined to it, each
with its own NEEDLEPOINT_HOME and logbook, and the commands run as one of them."""

from __future__ import annotations

import secrets

import psycopg
import pytest

from app.clinic import server
from app.clinic.schema import SCHEMA
from app.commands.cli import main
from app.logbook import Logbook, demo

TABLETS = ("room-1", "room-2", "room-3")


@pytest.fixture
def admin(pg_server):
    """A clinic database of its own, its schema made: the administrator's DSN."""
    name = f"clinic_{secrets.token_hex(4)}"
    with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = pg_server.dsn(name)
    server.init(url)
    return url


@pytest.fixture
def clinic(admin, tmp_path, monkeypatch):
    """Three tablets joined, each with its own home and a logbook holding a signed demo
    procedure; {name: logbook path}."""
    return joined(admin, tmp_path, monkeypatch, TABLETS, demo.procedure)


def joined(admin: str, tmp_path, monkeypatch, names, fill) -> dict:
    """Tablets `names` joined, each with its home in tmp_path and a logbook that `fill`
    (a function of the open logbook) has written to; {name: logbook path}."""
    books = {}
    for name in names:
        monkeypatch.setenv("NEEDLEPOINT_HOME", str(tmp_path / name))
        server.join(admin, name)
        books[name] = tmp_path / name / "logbook.db"
        with Logbook(books[name]) as lb:
            fill(lb)
    return books


def as_tablet(path, monkeypatch, *args: str) -> int:
    """`needlepoint clinic <args> --db <path>` on the tablet whose logbook is `path`."""
    monkeypatch.setenv("NEEDLEPOINT_HOME", str(path.parent))
    return main(["clinic", *args, "--db", str(path)])


def push_all(books: dict, monkeypatch, capsys) -> None:
    for path in books.values():
        assert as_tablet(path, monkeypatch, "sync") == 0, capsys.readouterr().err
    capsys.readouterr()


def server_entries(url: str, tablet: str) -> list[tuple]:
    """(seq, hash) of the tablet's audit entries on the server, in order."""
    with psycopg.connect(url) as conn:
        return conn.execute(f"SELECT seq, hash FROM {SCHEMA}.audit WHERE tablet = %s "
                            "ORDER BY seq", (tablet,)).fetchall()


def local_entries(path) -> int:
    with Logbook(path, readonly=True) as lb:
        return lb.db.execute("SELECT count(*) FROM audit").fetchone()[0]
