"""Who is signed in, and the idle lock. The lock hides records; it never touches the live
screen, the sound or marking (the app keeps those outside of it). No Kivy: the clock is
passed in, so tests run the idle timer without waiting.

The idle lock cannot be turned off: `lock_after_s` is kept within LOCK_FLOOR_S (30 s) and
LOCK_CEILING_S (30 min), whatever the settings say (0 once meant never)."""

from __future__ import annotations

import time
from collections.abc import Callable

from app.logbook import Logbook
from app.logbook.errors import PinLocked
from app.workflow.fields import parse_pin

ROLES = {"physician": "Physician", "nurse": "Nurse", "admin": "Admin"}
LOCK_FLOOR_S, LOCK_CEILING_S = 30.0, 30 * 60.0
WRONG_PIN = "Wrong PIN: try again"


class Access:
    def __init__(self, lb: Logbook, lock_after_s: float = 120,
                 clock: Callable[[], float] = time.monotonic,
                 post: Callable[[Callable[[], None]], None] | None = None):
        self.lb = lb
        # Runs a function on the thread that owns the logbook (the app's main thread, at its
        # next frame); without one, a PIN check runs to its end in the caller.
        self.post = post
        self.lock_after_s = lock_after_s
        self.clock = clock
        self.user: dict | None = None
        self.last_activity = clock()
        # Called with the user still signed in, just before any lock: what they typed and
        # did not confirm is theirs to record (the entry closing confirms it).
        self.before_lock: list[Callable[[], None]] = []

    @property
    def lock_after_s(self) -> float:
        return self._lock_after_s

    @lock_after_s.setter
    def lock_after_s(self, seconds: float) -> None:
        self._lock_after_s = min(max(float(seconds or 0), LOCK_FLOOR_S), LOCK_CEILING_S)

    @property
    def locked(self) -> bool:
        return self.user is None

    def users(self) -> list[dict]:
        """Who may sign in here: this tablet's active users (one pulled from another
        tablet is enrolled there, not here)."""
        return [u for u in self.lb.users() if u["active"] and not u.get("origin")]

    def sign_in(self, user_id: str, pin: str) -> str:
        """"" when signed in, else the words to show beside the PIN."""
        c = parse_pin(pin)
        if not c.ok:
            return c.message
        said = self._pin(user_id, c.value)
        if said:
            return said
        self.user = next(u for u in self.users() if u["id"] == user_id)
        self.last_activity = self.clock()
        return ""

    def sign_in_later(self, user_id: str, pin: str, done: Callable[[str], None]) -> None:
        """`sign_in` that never holds the UI for the PIN's hash (`check_later`)."""

        def then(refused: str) -> None:
            if not refused:
                self.user = next(u for u in self.users() if u["id"] == user_id)
                self.last_activity = self.clock()
            done(refused)

        self.check_later(user_id, pin, None, then)

    def check(self, user_id: str, pin: str, role: str | None = None) -> str:
        """Someone else's PIN for one act (a physician's override or signature while the
        nurse is signed in): "" when it is theirs and they have the role."""
        refused, digits = self._on_its_face(user_id, pin, role)
        return refused or self._pin(user_id, digits)

    def check_later(self, user_id: str, pin: str, role: str | None,
                    done: Callable[[str], None]) -> None:
        """`check` that never holds the UI for the PIN's hash: `done` is called with the
        same words, at a later frame (at once when the PIN cannot be right on its face)."""
        refused, digits = self._on_its_face(user_id, pin, role)
        if refused or self.post is None:
            done(refused or self._pin(user_id, digits))
            return

        def verdict(result) -> None:
            if isinstance(result, PinLocked):
                done(f"Too many wrong PINs: try again in {result.wait_s} s")
            else:
                done("" if result else WRONG_PIN)

        self.lb.check_pin_later(user_id, digits, verdict, self.post)

    def _on_its_face(self, user_id: str, pin: str, role: str | None) -> tuple[str, str]:
        """(why this cannot be right without checking the hash, or ""; the PIN's digits)."""
        user = next((u for u in self.users() if u["id"] == user_id), None)
        if user is None:
            return "Choose who you are", ""
        if role and user["role"] != role:
            return f"Only a {role} may do this", ""
        c = parse_pin(pin)
        return c.message, c.value or ""

    def _pin(self, user_id: str, pin: str) -> str:
        """"" for the user's PIN, else what to show: wrong, or how long they are held out."""
        try:
            return "" if self.lb.check_pin(user_id, pin) else WRONG_PIN
        except PinLocked as e:
            return f"Too many wrong PINs: try again in {e.wait_s} s"

    def lock(self) -> None:
        if self.user is not None:
            for fn in self.before_lock:
                fn()
        self.user = None

    def activity(self) -> None:
        self.last_activity = self.clock()

    def tick(self) -> bool:
        """Call now and then; locks after `lock_after_s` without a touch or key. True when
        this call locked."""
        if self.user is None:
            return False
        if self.clock() - self.last_activity >= self.lock_after_s:
            self.lock()
            return True
        return False

    def add_first_user(self, name: str, pin: str) -> tuple[dict | None, str]:
        """The tablet's first user: a physician (who can then add the others)."""
        if self.users():
            return None, "Users exist already: sign in"
        c = parse_pin(pin, new=True)
        if not c.ok:
            return None, c.message
        if not (name or "").strip():
            return None, "A name is needed"
        user = self.lb.add_user({"name": name.strip(), "role": "physician", "pin": c.value})
        return user, ""

    def role(self) -> str:
        return self.user["role"] if self.user else ""
