"""Each tablet's audit chain checked by the clinic server on arrival (issue 32, item 5),
against a real, throwaway PostgreSQL (tests/pgserver.py): the server recomputes every
arriving entry's hash in SQL exactly as the tablet does (byte for byte: here on awkward
text, in tests/test_clinic_verify.py on three tablets' real entries) and refuses a break,
nothing of that batch stored."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest

from app.clinic import credentials, server, sync
from app.clinic.schema import SCHEMA
from app.logbook.audit import GENESIS, entry_hash
from tests.clinicutil import admin, as_tablet, clinic, server_entries

__all__ = ["admin", "clinic"]  # fixtures
# what json.dumps escapes and what it leaves as it is: the server must do the same
AWKWARD = ['plain', 'quote " and \\ backslash', "new\nline\ttab\rreturn\b\x0c", "\x01\x1f\x7f",
           "Zoë Łódź 東京 😀", "\u2028\u2029 separators", "</script>/slash", "", "null"]


def test_the_servers_hash_is_the_tablets_byte_for_byte(admin):
    """needlepoint.audit_hash() against app.logbook.audit.entry_hash on awkward text."""
    with psycopg.connect(admin) as conn:
        for i, text in enumerate(AWKWARD):
            e = {"seq": 1, "id": f"id-{i}", "at": "2026-12-07T10:00:00.000000Z",
                 "user_id": None if i % 2 else text, "action": "insert", "tbl": "notes",
                 "row_id": text, "old": None, "new": '{"text":' + repr(text) + "}",
                 "reason": text, "prev_hash": GENESIS}
            sql = conn.execute(
                f"SELECT {SCHEMA}.audit_hash(ROW(%(id)s, 'x', %(seq)s, %(at)s, %(user_id)s, "
                f"%(action)s, %(tbl)s, %(row_id)s, %(old)s, %(new)s, %(reason)s, "
                f"%(prev_hash)s, '')::{SCHEMA}.audit)", e).fetchone()[0]
            assert sql == entry_hash(GENESIS, e), repr(text)


def test_a_logbook_tampered_with_locally_is_refused_by_the_server(clinic, admin, monkeypatch,
                                                                  capsys):
    """The tablet's own check taken out (a client that does not check, or a bug): the
    server refuses the entry on arrival, and nothing of that batch is stored."""
    path = clinic["room-1"]
    with sqlite3.connect(path) as db:
        db.execute("DROP TRIGGER audit_no_update")
        db.execute("UPDATE audit SET reason = 'not what was written' WHERE seq = 9")
    assert as_tablet(path, monkeypatch, "sync") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "logbook's audit entry 9: its hash" in err  # the tablet's
    monkeypatch.setattr(sync, "_check", lambda entries, head: None)
    monkeypatch.setattr(sync, "BATCH", 4)
    assert as_tablet(path, monkeypatch, "sync") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "audit entry 9 of tablet room-1 breaks its chain: its hash does not match its " \
        "contents" in err
    assert [seq for seq, _ in server_entries(admin, "room-1")] == list(range(1, 9))


def test_the_server_refuses_a_break_from_a_tablets_own_role(admin, tmp_path, monkeypatch):
    """Straight SQL as a tablet: an entry out of place, not following, or not its own
    content's hash is refused; the chain's start is the only first entry."""
    monkeypatch.setenv("NEEDLEPOINT_HOME", str(tmp_path))
    creds = credentials.read(server.join(admin, "room-2"))
    e = {"id": "e1", "tablet": "room-2", "seq": 1, "at": "2026-12-07T10:00:00.000000Z",
         "user_id": None, "action": "insert", "tbl": "notes", "row_id": "r1", "old": None,
         "new": "{}", "reason": None, "prev_hash": GENESIS}
    good = {**e, "hash": entry_hash(GENESIS, e)}
    cases = [({**good, "seq": 2}, "entry 1 is not on the server"),
             ({**e, "prev_hash": "1" * 64, "hash": entry_hash("1" * 64, e)},
              "does not follow entry 0"),
             ({**good, "reason": "edited"}, "its hash does not match its contents")]
    with psycopg.connect(creds["dsn"], autocommit=True) as conn:
        insert = (f"INSERT INTO {SCHEMA}.audit ({', '.join(good)}) VALUES "
                  f"({', '.join(['%s'] * len(good))})")
        for row, words in cases:
            with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match=words):
                conn.execute(insert, list(row.values()))
        conn.execute(insert, list(good.values()))
        after = {**e, "id": "e2", "seq": 2, "prev_hash": good["hash"]}
        conn.execute(insert, [*{**after, "hash": entry_hash(good["hash"], after)}.values()])
    assert len(server_entries(admin, "room-2")) == 2
