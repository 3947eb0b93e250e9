"""The lockout: wrong PINs in a row hold a user out for longer and longer.

Kept per user in the table pin_attempts (migration 0004_pin_attempts), so a restart forgets
nothing, and written through the audit trail: every attempt is an entry whose action is its
outcome (pin_right, pin_wrong, pin_refused) on the user's row, never the PIN. `attempt`
decides; Logbook.check_pin reads the row and writes the decision.

The policy (docs/logbook.md, "PINs: threat model"):
- the first FREE (4) wrong PINs in a row cost nothing: slips of the finger;
- the 5th holds the user out for FIRST_HOLD_S (30 s), each further one twice as long as the
  one before: 60, 120, 240, 480 s;
- the LOCK_AT-th (10th) and every one after it: LOCKOUT_S (15 minutes);
- while held out, every PIN, the right one too, is refused unchecked (PinLocked, with the
  seconds left); the right PIN otherwise clears the count.
"""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass

from app.logbook import ids, pins

FREE = 4
FIRST_HOLD_S = 30
LOCK_AT = 10
LOCKOUT_S = 15 * 60

# Seconds since the epoch: the wall clock, since a hold must outlast a restart. Tests replace
# it and step it.
clock = time.time


def hold_s(failures: int) -> float:
    """How long the `failures`-th wrong PIN in a row holds the user out."""
    if failures <= FREE:
        return 0.0
    if failures >= LOCK_AT:
        return float(LOCKOUT_S)
    return float(FIRST_HOLD_S * 2 ** (failures - FREE - 1))


def wait_s(state: dict, t: float) -> float:
    """Seconds before this user may try again (0: now)."""
    if not state["locked_until"]:
        return 0.0
    left = ids.parse(state["locked_until"]).timestamp() - t
    # A clock set back cannot stretch a hold beyond the policy's own length for it.
    return max(0.0, min(left, hold_s(state["failures"])))


def fresh(user_id: str) -> dict:
    """A user's row before the first attempt."""
    return {"id": user_id, "failures": 0, "attempts": 0, "last_at": None,
            "locked_until": None}


@dataclass(frozen=True)
class Attempt:
    action: str  # pin_right, pin_wrong or pin_refused: the audit entry's action
    changes: dict  # to the user's pin_attempts row
    wait_s: float = 0.0  # > 0: held out (refused, or this wrong PIN started a hold)

    @property
    def right(self) -> bool:
        return self.action == "pin_right"


def attempt(state: dict, stored_hash: str, pin, *, right: bool | None = None) -> Attempt:
    """One try of `pin` against the user's stored hash, given their pin_attempts row.
    `right`: the hash already checked against this PIN (off the UI thread), by the caller
    that read both."""
    t = clock()
    counted = {"attempts": state["attempts"] + 1, "last_at": _stamp(t)}
    wait = wait_s(state, t)
    if wait > 0:
        return Attempt("pin_refused", counted, wait)
    if pins.check_pin(pin, stored_hash) if right is None else right:
        return Attempt("pin_right", {**counted, "failures": 0, "locked_until": None})
    failures = state["failures"] + 1
    hold = hold_s(failures)
    return Attempt("pin_wrong", {**counted, "failures": failures,
                                 "locked_until": _stamp(t + hold) if hold else None}, hold)


def _stamp(t: float) -> str:
    return ids.stamp(datetime.datetime.fromtimestamp(t, ids.UTC))
