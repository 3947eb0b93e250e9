"""PINs (issue 25): digits only, the clinic's minimum length; wrong PINs in a row hold the
user out for longer and longer, across restarts; every attempt audited, and neither a PIN
nor a PIN hash in the audit trail; the idle lock cannot be turned off. The lockout's clock
is stepped, never waited for."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from app.logbook import Logbook, LogbookError, lockout, pins
from app.logbook.errors import PinLocked
from app.workflow.access import LOCK_CEILING_S, LOCK_FLOOR_S, Access

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "logbook"
DOC_PIN, NURSE_PIN = "1357", "2468"


@pytest.fixture
def t(monkeypatch):
    """The lockout's clock, stepped by hand: t[0] seconds since the epoch."""
    now = [1_800_000_000.0]
    monkeypatch.setattr(lockout, "clock", lambda: now[0])
    return now


@pytest.fixture
def users(lb):
    doc = lb.add_user({"name": "Dr A", "role": "physician", "pin": DOC_PIN})
    nurse = lb.add_user({"name": "N B", "role": "nurse", "pin": NURSE_PIN}, by=doc["id"])
    return {"doc": doc["id"], "nurse": nurse["id"]}


def audit_text(lb) -> str:
    rows = lb.db.execute("SELECT * FROM audit ORDER BY seq")
    return "\n".join(str(v) for row in rows for v in row)


def fail(lb, user_id: str, *wrong: str) -> None:
    """Wrong PINs in a row; a hold they start is not waited out."""
    for pin in wrong:
        with contextlib.suppress(PinLocked):
            assert lb.check_pin(user_id, pin) is False


def held(lb, user_id: str, pin: str) -> int:
    with pytest.raises(PinLocked) as e:
        lb.check_pin(user_id, pin)
    return e.value.wait_s


# the PIN itself ------------------------------------------------------------------------

@pytest.mark.parametrize("pin", ["abcd", "12a4", "12 34", "\u0661\u0662\u0663\u0664", "123",
                                 "1234567890123", "", None, 1234])
def test_a_pin_is_4_to_12_ascii_digits(lb, pin):
    with pytest.raises(LogbookError) as e:
        lb.add_user({"name": "Dr A", "role": "physician", "pin": pin})
    assert str(e.value) == "pin: a PIN is 4 to 12 digits"
    assert lb.users() == []


def test_a_refusal_never_echoes_the_pin(lb):
    with pytest.raises(LogbookError) as e:
        pins.hash_pin("98765x")
    assert "98765" not in str(e.value) and str(e.value).startswith("pin:")


def test_the_clinic_sets_the_minimum_length_and_old_pins_keep_working(lb, monkeypatch):
    monkeypatch.setattr(pins, "MIN_LENGTH", 4)
    doc = lb.add_user({"name": "Dr A", "role": "physician", "pin": "1234"})
    assert pins.set_min_length(6) == 6
    with pytest.raises(LogbookError, match="6 to 12 digits"):
        lb.add_user({"name": "N B", "role": "nurse", "pin": "12345"}, by=doc["id"])
    lb.add_user({"name": "N B", "role": "nurse", "pin": "123456"}, by=doc["id"])
    assert lb.check_pin(doc["id"], "1234")  # set before the clinic raised it
    # a settings file cannot go below the floor or past the longest PIN
    assert pins.set_min_length(0) == 4 and pins.set_min_length(20) == 12
    pins.set_min_length(6)
    access = Access(lb)
    assert access.sign_in(doc["id"], "1234") == ""  # signing in takes any PIN a user may have
    assert access.add_first_user("X", "12345") == (None, "Users exist already: sign in")


def test_the_app_cost_is_2_15_and_older_hashes_carry_their_own(monkeypatch):
    monkeypatch.setattr(pins, "COST", pins.PRODUCTION_COST)
    stored = pins.hash_pin("2468")
    assert stored.startswith("scrypt$32768$8$1$")  # above OpenSSL's default 32 MB: maxmem
    assert pins.check_pin("2468", stored) and not pins.check_pin("2469", stored)
    monkeypatch.setattr(pins, "COST", (2**14, 8, 1))  # what Needlepoint stored before
    older = pins.hash_pin("2468")
    monkeypatch.setattr(pins, "COST", pins.PRODUCTION_COST)
    assert pins.check_pin("2468", older)
    salt, digest = stored.split("$")[4:]
    for bad in (f"scrypt${2**24}$8$1${salt}${digest}", f"scrypt$1000$8$1${salt}${digest}",
                "bcrypt$x", "", None):
        assert not pins.check_pin("2468", bad)


# the lockout ------------------------------------------------------------------------------

def test_wrong_pins_in_a_row_hold_the_user_out_longer_and_longer(lb, users, t):
    nurse = users["nurse"]
    for _ in range(4):  # slips of the finger: free
        assert lb.check_pin(nurse, "0000") is False
    assert held(lb, nurse, "0000") == 30  # the 5th starts a hold
    t[0] += 10
    assert held(lb, nurse, NURSE_PIN) == 20  # the right PIN during a hold: refused unchecked
    for wait in (60, 120, 240, 480):
        t[0] += 30 if wait == 60 else wait // 2
        assert held(lb, nurse, "0000") == wait
    t[0] += 480
    assert held(lb, nurse, "0000") == 15 * 60  # the 10th: locked out
    t[0] += 15 * 60 - 1
    assert held(lb, nurse, NURSE_PIN) == 1
    t[0] += 1
    assert held(lb, nurse, "0000") == 15 * 60  # and each further wrong PIN as long
    assert lb.check_pin(users["doc"], DOC_PIN)  # one user's lockout is theirs alone
    t[0] += 15 * 60
    assert lb.check_pin(nurse, NURSE_PIN) is True  # the right PIN clears the count
    assert lb.check_pin(nurse, "0000") is False
    assert lb.verify()["ok"]


def test_the_policy_numbers(lb):
    assert [lockout.hold_s(n) for n in range(1, 13)] == [
        0, 0, 0, 0, 30, 60, 120, 240, 480, 900, 900, 900]


def test_a_hold_outlasts_closing_and_reopening_the_logbook(tmp_path, t):
    path = tmp_path / "lb.db"
    with Logbook(path) as book:
        doc = book.add_user({"name": "Dr A", "role": "physician", "pin": DOC_PIN})["id"]
        for _ in range(9):
            fail(book, doc, "0000")
            t[0] += 480
        assert held(book, doc, "0000") == 900
    t[0] += 100
    with Logbook(path) as book:
        assert held(book, doc, DOC_PIN) == 800
        assert book.verify()["ok"]


def test_a_clock_set_back_cannot_stretch_a_hold(lb, users, t):
    fail(lb, users["nurse"], *["0000"] * 5)
    t[0] -= 10**6  # the tablet's clock set back a fortnight
    assert held(lb, users["nurse"], NURSE_PIN) == 30


def test_an_unknown_or_inactive_user_is_simply_wrong(lb, users):
    before = lb.db.execute("SELECT count(*) FROM audit").fetchone()[0]
    assert lb.check_pin("no-such-user", DOC_PIN) is False
    assert lb.db.execute("SELECT count(*) FROM audit").fetchone()[0] == before


# the audit trail --------------------------------------------------------------------------

def test_every_attempt_is_audited_and_no_pin_or_pin_hash_is(lb, users, t):
    # PINs of 12 digits: a shorter one could turn up by chance in a UUID, a time or a hash.
    mine = "240613579864"
    nurse = lb.add_user({"name": "N C", "role": "nurse", "pin": mine}, by=users["doc"])["id"]
    wrong = ["908172635443", "726354431908", "554433221100", "332110998877", "661005544332"]
    fail(lb, nurse, *wrong)
    held(lb, nurse, mine)
    t[0] += 30
    assert lb.check_pin(nurse, mine)
    actions = [r[0] for r in lb.db.execute(
        "SELECT action FROM audit WHERE tbl = 'pin_attempts' AND row_id = ? ORDER BY seq",
        [nurse])]
    assert actions == ["insert"] + ["pin_wrong"] * 5 + ["pin_refused", "pin_right"]
    who = [r[0] for r in lb.db.execute(
        "SELECT user_id FROM audit WHERE action LIKE 'pin_%' ORDER BY seq")]
    assert who == [None] * 6 + [nurse]  # a wrong PIN's typist is unknown
    text = audit_text(lb)
    for pin in [*wrong, mine]:
        assert pin not in text
    assert "scrypt" not in text
    for (stored,) in lb.db.execute("SELECT pin_hash FROM users"):
        for part in stored.split("$")[4:]:  # the salt and the digest
            assert part not in text
    assert lb.verify()["ok"]


def test_a_pin_hash_or_a_count_changed_behind_the_trails_back_shows_in_verify(lb, users, t):
    fail(lb, users["nurse"], *["0000"] * 5)
    forged = pins.hash_pin("1111")
    lb.db.execute("UPDATE users SET pin_hash = ? WHERE id = ?", [forged, users["doc"]])
    lb.db.execute("UPDATE pin_attempts SET failures = 0, locked_until = NULL")
    lb.db.conn.commit()
    problems = lb.verify()["problems"]
    assert f"users row {users['doc']}: pin_hash differs from its audit trail " \
           "(changed behind its back)" in problems
    assert any("pin_attempts" in p and "failures" in p for p in problems)
    with pytest.raises(sqlite3.IntegrityError, match="never deleted"):
        lb.db.execute("DELETE FROM pin_attempts")


def test_old_trails_keep_their_pin_hashes_and_still_verify(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript((FIXTURES / "0003_snippet_source.sql").read_text(encoding="utf-8"))
    conn.close()
    with Logbook(path) as book:
        old = audit_text(book)
        assert "scrypt$" in old  # append-only: written so before 0004, and kept
        doc = next(u for u in book.users() if u["role"] == "physician")
        assert book.check_pin(doc["id"], "1234")
        book.add_user({"name": "N New", "role": "nurse", "pin": "864297531086"},
                      by=doc["id"])
        new = audit_text(book)[len(old):]
        assert "scrypt" not in new and "864297531086" not in new
        assert book.verify()["ok"], book.verify()["problems"]


# the screens' side --------------------------------------------------------------------------

def test_sign_in_and_a_signature_say_how_long_to_wait(lb, users, t):
    access = Access(lb)
    for _ in range(4):
        assert access.sign_in(users["nurse"], "0000") == "Wrong PIN: try again"
    assert access.sign_in(users["nurse"], "0000") == "Too many wrong PINs: try again in 30 s"
    t[0] += 12
    assert access.sign_in(users["nurse"], NURSE_PIN) == \
        "Too many wrong PINs: try again in 18 s"
    assert access.locked
    assert access.sign_in(users["doc"], DOC_PIN) == ""
    for _ in range(4):
        access.check(users["doc"], "0000", role="physician")
    assert access.check(users["doc"], DOC_PIN, role="physician") == ""  # cleared the count
    for _ in range(5):
        said = access.check(users["doc"], "0000", role="physician")
    assert said == "Too many wrong PINs: try again in 30 s"


def test_a_pin_checked_later_leaves_the_caller_and_counts_as_a_pin_checked_now(lb, users, t):
    """The hash is checked on a thread of its own; the count is written by the caller's
    thread (here, the test's queue standing for the app's next frame), with the same
    verdicts, lockout and audit entries as a check made at once."""
    import queue
    import threading

    posted: queue.Queue = queue.Queue()
    access = Access(lb, post=posted.put)
    said: list[str] = []
    main = threading.get_ident()

    def run(user: str, pin: str, role: str | None = "physician") -> str:
        access.check_later(user, pin, role, lambda words: said.append(
            (words, threading.get_ident() == main)))
        while len(said) == 0:
            posted.get(timeout=30)()  # the caller's thread runs what was posted
        return said.pop()

    assert run(users["doc"], DOC_PIN) == ("", True)
    assert run(users["doc"], "0000") == ("Wrong PIN: try again", True)
    assert run(users["nurse"], NURSE_PIN) == ("Only a physician may do this", True)
    words, on_main = run(users["doc"], "12")  # not a PIN on its face: never hashed, counted
    assert words == "A PIN is 4 to 12 digits" and on_main
    for _ in range(3):
        run(users["doc"], "0000")
    assert run(users["doc"], "0000") == ("Too many wrong PINs: try again in 30 s", True)
    assert run(users["doc"], DOC_PIN) == ("Too many wrong PINs: try again in 30 s", True)
    actions = [r[0] for r in lb.db.execute(
        "SELECT action FROM audit WHERE tbl = 'pin_attempts' AND row_id = ? ORDER BY seq",
        [users["doc"]])]
    assert actions == ["insert", "pin_right"] + ["pin_wrong"] * 5 + ["pin_refused"]
    assert lb.verify()["ok"]


@pytest.mark.parametrize(("asked", "kept"), [(0, LOCK_FLOOR_S), (None, LOCK_FLOOR_S),
                                             (1, LOCK_FLOOR_S), (-5, LOCK_FLOOR_S),
                                             (120, 120), (10**6, LOCK_CEILING_S)])
def test_the_idle_lock_cannot_be_turned_off(lb, users, asked, kept):
    now = [0.0]
    access = Access(lb, lock_after_s=asked, clock=lambda: now[0])
    assert access.lock_after_s == kept
    assert access.sign_in(users["nurse"], NURSE_PIN) == ""
    now[0] = kept - 1
    assert not access.tick()
    now[0] = kept
    assert access.tick() and access.locked
    access.lock_after_s = 0  # set later (a test, a settings screen): the same floor
    assert access.lock_after_s == LOCK_FLOOR_S
    assert (LOCK_FLOOR_S, LOCK_CEILING_S) == (30, 1800)
