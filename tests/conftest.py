"""Shared test set-up."""

from __future__ import annotations

import pytest

from app.logbook import Logbook, demo, pins
from tests.pgserver import PgServer, Unavailable


@pytest.fixture(autouse=True, scope="session")
def cheap_pin_hashes():
    """PIN hashes at a cost a test can afford (n=2^10, not the app's 2^15): the suite adds and
    checks hundreds of PINs. The hash carries its parameters, so nothing else changes;
    tests/test_logbook_pins.py checks the production cost itself."""
    saved = pins.COST
    pins.COST = (2**10, 8, 1)
    yield
    pins.COST = saved


@pytest.fixture
def lb(tmp_path):
    """A fresh logbook in the test's own folder (a test file may define its own)."""
    with Logbook(tmp_path / "lb.db") as book:
        yield book


@pytest.fixture
def staff(lb):
    """The demo's physician and nurse, in `lb`."""
    return demo.users(lb)


@pytest.fixture(scope="session")
def pg_server():
    """A throwaway PostgreSQL (tests/pgserver.py) for the whole run, started only when a test
    asks for it, stopped and removed at the end; skipped, with the Debian package to install,
    where PostgreSQL is not installed."""
    try:
        server = PgServer.start()
    except Unavailable as e:
        pytest.skip(str(e))
    yield server
    server.stop()
