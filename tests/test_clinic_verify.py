"""`needlepoint clinic verify` against a real, throwaway PostgreSQL (tests/pgserver.py):
three tablets' chains checked as the tablet checks its own, and an entry changed or removed
on the server afterwards (by the database's owner, behind the tablets' back) found with its
number."""

from __future__ import annotations

import psycopg

from app.clinic.schema import SCHEMA
from app.commands.cli import main
from tests.clinicutil import TABLETS, admin, clinic, local_entries, push_all, server_entries

__all__ = ["admin", "clinic"]  # fixtures


def verify(url: str, capsys) -> tuple[int, list[str]]:
    code = main(["clinic", "verify", "--dsn", url])
    return code, capsys.readouterr().out.splitlines()


def test_three_tablets_push_and_every_chain_verifies(clinic, admin, monkeypatch, capsys):
    push_all(clinic, monkeypatch, capsys)  # every entry passed the server's check
    with psycopg.connect(admin) as conn:  # real entries: the SQL hash is the tablet's
        total, same = conn.execute(f"SELECT count(*), count(*) FILTER (WHERE hash = "
                                   f"{SCHEMA}.audit_hash(a)) FROM {SCHEMA}.audit a").fetchone()
    assert same == total == sum(local_entries(path) for path in clinic.values())
    code, lines = verify(admin, capsys)
    assert code == 0
    for name, line in zip(TABLETS, lines, strict=True):
        trail = server_entries(admin, name)
        assert line == f"{name}: {len(trail)} entries, head {trail[-1][1][:16]}, OK"


def test_an_entry_altered_or_removed_on_the_server_is_found(clinic, admin, monkeypatch,
                                                            capsys):
    push_all(clinic, monkeypatch, capsys)
    with psycopg.connect(admin) as conn:  # the database's owner
        conn.execute(f"UPDATE {SCHEMA}.audit SET reason = 'tidied' "
                     "WHERE tablet = 'room-2' AND seq = 7")
    code, lines = verify(admin, capsys)
    assert code == 1
    assert lines[0].endswith(", OK") and lines[2].endswith(", OK")
    assert lines[1].startswith("room-2: ") and lines[1].endswith(
        "BROKEN at audit entry 7: its hash does not match its contents (the entry was "
        "altered)")
    with psycopg.connect(admin) as conn:
        conn.execute(f"DELETE FROM {SCHEMA}.audit WHERE tablet = 'room-3' AND seq = 5")
    code, lines = verify(admin, capsys)
    assert code == 1 and "BROKEN at audit entry 5: missing" in lines[2]


def test_verify_without_a_server_is_one_line(tmp_path, capsys):
    assert main(["clinic", "verify", "--dsn", f"host={tmp_path} dbname=clinic"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot reach the clinic server" in err
