"""`needlepoint clinic sync`'s push against a real, throwaway PostgreSQL (tests/pgserver.py):
every audit entry and every row a tablet's logbook holds, in commit order, once; a retried
or interrupted push neither loses nor duplicates anything."""

from __future__ import annotations

import psycopg
import pytest

from app.clinic import credentials, server, sync
from app.clinic.errors import ClinicError
from app.clinic.schema import SCHEMA
from app.commands.cli import main
from app.logbook import Logbook, demo
from app.logbook.audit import carried
from app.logbook.migrations import NOT_AUDITED
from tests.clinicutil import admin

__all__ = ["admin"]  # a fixture


@pytest.fixture
def tablet(admin, tmp_path, monkeypatch):
    """Tablet room-a joined, with a logbook holding a signed demo procedure with snippets;
    the logbook's path."""
    monkeypatch.setenv("NEEDLEPOINT_HOME", str(tmp_path))
    server.join(admin, "room-a")
    path = tmp_path / "logbook.db"
    with Logbook(path) as lb:
        demo.procedure(lb)
    return path


def local(path) -> dict:
    """What the logbook holds: its audit entries (seq, id, hash) in order and its rows by
    table, as the trail carries them."""
    with Logbook(path, readonly=True) as lb:
        entries = [tuple(r) for r in lb.db.execute("SELECT seq, id, hash FROM audit ORDER BY seq")]
        rows = {t: {r["id"]: carried(t, {k: v for k, v in r.items()
                                         if k not in NOT_AUDITED.get(t, ())})
                    for r in lb.db[t].rows} for t in sync.ROWS}
        emg = {r[0]: r[1] for t in sync.WITH_EMG
               for r in lb.db.execute(f"SELECT id, samples FROM {t}")}
    return {"entries": entries, "rows": rows, "emg": emg}


def on_server(url) -> dict:
    with psycopg.connect(url) as conn:
        entries = [tuple(r) for r in conn.execute(
            f"SELECT seq, id, hash FROM {SCHEMA}.audit WHERE tablet = 'room-a' ORDER BY seq")]
        rows = {}
        for t in sync.ROWS:
            cur = conn.execute(f"SELECT * FROM {SCHEMA}.{t}")
            cols = [d.name for d in cur.description]
            rows[t] = {r[0]: dict(zip(cols, r, strict=True)) for r in cur}
        emg = dict(conn.execute(f"SELECT id, samples FROM {SCHEMA}.emg_samples").fetchall())
    return {"entries": entries, "rows": rows, "emg": emg}


def push(path, capsys) -> str:
    assert main(["clinic", "sync", "--db", str(path)]) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def test_a_push_sends_every_entry_and_row_in_commit_order(tablet, admin, capsys):
    out = push(tablet, capsys)
    mine, there = local(tablet), on_server(admin)
    assert there["entries"] == mine["entries"]  # the same chain, in the same order
    assert f"{len(mine['entries'])} audit entries" in out
    for t in sync.ROWS:
        assert set(there["rows"][t]) == set(mine["rows"][t]), t
    assert all(mine["rows"][t] for t in ("users", "patients", "procedures", "vials",
                                          "injections", "snippets"))
    # a row that never changed arrives as it is, its stamps as the tablet wrote them
    for t in ("patients", "injections", "snippets"):
        for row_id, row in mine["rows"][t].items():
            server_row = there["rows"][t][row_id]
            assert server_row["tablet"] == "room-a"
            assert {k: server_row[k] for k in row} == row
    assert all(u["pin_hash"].startswith("sha256:") for u in there["rows"]["users"].values())
    assert there["emg"] == mine["emg"] and mine["emg"]
    with psycopg.connect(admin) as conn:
        assert conn.execute(f"SELECT last_seen IS NOT NULL FROM {SCHEMA}.tablets"
                            ).fetchone() == (True,)


def test_a_retried_push_changes_nothing_and_the_next_sends_only_whats_new(tablet, admin,
                                                                          capsys):
    push(tablet, capsys)
    before = on_server(admin)
    assert "0 audit entries, 0 rows, 0 EMG samples" in push(tablet, capsys)
    assert on_server(admin) == before
    with Logbook(tablet) as lb:
        demo.procedure(lb, patient_id=next(iter(before["rows"]["patients"])), sign=False)
    out = push(tablet, capsys)
    mine, there = local(tablet), on_server(admin)
    assert there["entries"] == mine["entries"]
    assert f"{len(mine['entries']) - len(before['entries'])} audit entries" in out
    assert {t: set(r) for t, r in there["rows"].items()} == \
        {t: set(r) for t, r in mine["rows"].items()}


def test_a_push_cut_off_half_way_is_finished_by_the_next(tablet, admin, capsys, monkeypatch):
    """The connection lost after some batches: those stay, whole; the next push goes on
    from the server's last entry and ends with every entry once."""
    monkeypatch.setattr(sync, "BATCH", 4)
    real, calls = sync._push_entry, []

    def flaky(conn, name, e):
        calls.append(e["seq"])
        if len(calls) == 11:  # in the third batch
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        return real(conn, name, e)

    monkeypatch.setattr(sync, "_push_entry", flaky)
    creds = credentials.read(credentials.path())
    with Logbook(tablet, readonly=True) as lb, pytest.raises(ClinicError, match="nothing is lost"):
        sync.push(lb, creds)
    assert [e[0] for e in on_server(admin)["entries"]] == list(range(1, 9))
    monkeypatch.setattr(sync, "_push_entry", real)
    push(tablet, capsys)
    assert on_server(admin)["entries"] == local(tablet)["entries"]


def test_a_logbook_that_does_not_continue_the_servers_trail_is_refused(tablet, admin, capsys,
                                                                       tmp_path):
    push(tablet, capsys)
    other = tmp_path / "other.db"
    with Logbook(other) as lb:
        demo.procedure(lb)
    before = on_server(admin)
    assert main(["clinic", "sync", "--db", str(other)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not continue" in err
    assert on_server(admin) == before


def test_sync_before_join_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NEEDLEPOINT_HOME", str(tmp_path))
    assert main(["clinic", "sync"]) == 1
    assert "clinic join" in capsys.readouterr().err
