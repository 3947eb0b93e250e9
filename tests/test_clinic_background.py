"""The clinic sync inside the app (app/clinic/background.py) against a real, throwaway
PostgreSQL (tests/pgserver.py): each round a child process; new rows pushed within a run;
a server gone is "not reachable" with a growing wait, and the sync resumes once it is back;
stop() kills a running child and reaps it. Driven by run_once() and kick(), waiting on
events with generous timeouts: nothing here depends on the machine's speed."""

from __future__ import annotations

import os
import secrets
import time

import psycopg
import pytest

from app.clinic import background, server
from app.clinic.background import BACKOFF_S, Syncer
from app.clinic.schema import SCHEMA
from app.logbook import Logbook, demo
from tests.clinicutil import admin, local_entries, server_entries
from tests.pgserver import PgServer, Unavailable

__all__ = ["admin"]  # a fixture

WAIT_S = 120  # generous: a round is a Python start-up and a push on a shared machine


def joined(url: str, home, monkeypatch, name: str = "room-a"):
    monkeypatch.setenv("NEEDLEPOINT_HOME", str(home))
    server.join(url, name)
    path = home / "logbook.db"
    with Logbook(path) as lb:
        mrn = lb.patient(demo.procedure(lb)["patient_id"])["mrn"]
    return path, mrn


def clinic_db(srv: PgServer) -> str:
    name = f"clinic_{secrets.token_hex(4)}"
    with psycopg.connect(srv.dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = srv.dsn(name)
    server.init(url)
    return url


def until(done, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not done():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.05)


def test_the_thread_pushes_at_start_and_after_a_kick_then_stops(admin, tmp_path, monkeypatch):
    path, _ = joined(admin, tmp_path, monkeypatch)
    assert background.joined()
    syncer = Syncer(path, every_s=3600, first_s=0)  # only the start and the kick
    assert syncer.state.line() == "Clinic: not synced yet"
    syncer.start()
    try:
        assert syncer.done.wait(WAIT_S)
        state = syncer.state
        assert state.error is None and state.synced_at and state.waiting == 0
        assert len(server_entries(admin, "room-a")) == local_entries(path)
        assert state.line().startswith("Clinic: synced ") and state.line().endswith(
            " · 0 waiting")
        with Logbook(path) as lb:  # more work, then a signature's kick
            demo.procedure(lb)
        assert len(server_entries(admin, "room-a")) < local_entries(path)
        syncer.done.clear()
        syncer.kick()
        assert syncer.done.wait(WAIT_S)
        assert len(server_entries(admin, "room-a")) == local_entries(path)
        assert syncer.state.waiting == 0 and syncer.state.rounds == 2
        assert syncer.report["pushed"]["entries"] > 0
    finally:
        syncer.stop()
    assert not syncer.alive()


def test_a_server_gone_is_not_reachable_backs_off_and_the_sync_resumes(tmp_path,
                                                                       monkeypatch):
    try:
        srv = PgServer.start()  # its own: this one is killed and started again
    except Unavailable as e:
        pytest.skip(str(e))
    try:
        url = clinic_db(srv)
        path, mrn = joined(url, tmp_path, monkeypatch)
        syncer = Syncer(path, every_s=60)
        assert syncer.run_once().error is None and syncer.next_delay() == 60
        pushed = local_entries(path)
        srv.kill()
        with Logbook(path) as lb:
            demo.procedure(lb)
        waiting = local_entries(path) - pushed
        state = syncer.run_once()
        assert state.down_since and state.failures == 1 and state.waiting == waiting > 0
        line = state.line()
        assert line.startswith(f"Clinic: {waiting} waiting · server not reachable since ")
        assert "\n" not in state.error and mrn not in state.error + line
        assert syncer.next_delay() == BACKOFF_S
        since = state.down_since
        state = syncer.run_once()
        assert state.down_since == since and syncer.next_delay() == 2 * BACKOFF_S
        srv.restart()
        state = syncer.run_once()
        assert state.error is None and state.down_since is None and state.waiting == 0
        assert syncer.next_delay() == 60
        assert len(server_entries(url, "room-a")) == local_entries(path)
    finally:
        srv.stop()


def test_stop_kills_a_running_child_and_reaps_it(admin, tmp_path, monkeypatch):
    path, _ = joined(admin, tmp_path, monkeypatch)
    with psycopg.connect(admin) as hold:
        # the push waits on this lock: a round that is running when the app exits
        hold.execute(f"LOCK TABLE {SCHEMA}.audit IN ACCESS EXCLUSIVE MODE")
        syncer = Syncer(path, every_s=3600, first_s=0)
        syncer.start()
        until(lambda: syncer.child_pid is not None, "a child running")
        pid = syncer.child_pid
        syncer.stop()
        assert not syncer.alive() and syncer.child_pid is None
        with pytest.raises(ProcessLookupError):  # killed and reaped: no zombie left
            os.kill(pid, 0)
        assert syncer.report["error"] == "stopped with the app"
        hold.rollback()
    assert syncer.run_once().error == "stopped with the app"  # none after stop()


def test_a_child_that_dies_is_one_line_without_its_traceback():
    err = ("Traceback (most recent call last):\n  File ...\n"
           "KeyError: 'DEMO-4F2A11 Demo Patient'\n")
    report = background.parse(1, "", err)
    assert report == {"ok": False, "reachable": True, "waiting": None,
                      "error": "the sync process ended without a result (exit 1, KeyError)"}
    state = background.after(background.SyncState(joined=True), report)
    assert "DEMO" not in state.line() and state.failures == 1
    assert background.SyncState().line() == ""  # not joined: nothing on screen


def test_a_round_that_left_more_to_pull_is_followed_soon(tmp_path):
    syncer = Syncer(tmp_path / "logbook.db", every_s=60)
    syncer.report = {"ok": True, "pulled": {"entries": 3, "emg_samples": 2, "waiting": 0}}
    assert syncer.next_delay() == 60
    for more in ({"emg_samples": background.EMG_PER_ROUND}, {"waiting": 4}):
        syncer.report = {"ok": True, "pulled": {"entries": 0, **more}}
        assert syncer.next_delay() == background.MORE_S
