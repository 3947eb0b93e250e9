"""Who is signed in, and the idle lock. The lock hides records; it never touches the live
screen, the sound or marking (the app keeps those outside of it). No Kivy: the clock is
passed in, so tests run the idle timer without waiting."""

from __future__ import annotations

import time
from collections.abc import Callable

from app.logbook import Logbook
from app.workflow.fields import parse_pin

ROLES = {"physician": "Physician", "nurse": "Nurse", "admin": "Admin"}


class Access:
    def __init__(self, lb: Logbook, lock_after_s: float = 120,
                 clock: Callable[[], float] = time.monotonic):
        self.lb = lb
        self.lock_after_s = float(lock_after_s)
        self.clock = clock
        self.user: dict | None = None
        self.last_activity = clock()

    @property
    def locked(self) -> bool:
        return self.user is None

    def users(self) -> list[dict]:
        return [u for u in self.lb.users() if u["active"]]

    def sign_in(self, user_id: str, pin: str) -> str:
        """"" when signed in, else the words to show beside the PIN."""
        c = parse_pin(pin)
        if not c.ok:
            return c.message
        if not self.lb.check_pin(user_id, c.value):
            return "Wrong PIN: try again"
        self.user = next(u for u in self.users() if u["id"] == user_id)
        self.last_activity = self.clock()
        return ""

    def check(self, user_id: str, pin: str, role: str | None = None) -> str:
        """Someone else's PIN for one act (a physician's override or signature while the
        nurse is signed in): "" when it is theirs and they have the role."""
        user = next((u for u in self.users() if u["id"] == user_id), None)
        if user is None:
            return "Choose who you are"
        if role and user["role"] != role:
            return f"Only a {role} may do this"
        c = parse_pin(pin)
        if not c.ok:
            return c.message
        return "" if self.lb.check_pin(user_id, c.value) else "Wrong PIN: try again"

    def lock(self) -> None:
        self.user = None

    def activity(self) -> None:
        self.last_activity = self.clock()

    def tick(self) -> bool:
        """Call now and then; locks after `lock_after_s` without a touch or key (0: never).
        True when this call locked."""
        if self.user is None or self.lock_after_s <= 0:
            return False
        if self.clock() - self.last_activity >= self.lock_after_s:
            self.lock()
            return True
        return False

    def add_first_user(self, name: str, pin: str) -> tuple[dict | None, str]:
        """The tablet's first user: a physician (who can then add the others)."""
        if self.users():
            return None, "Users exist already: sign in"
        c = parse_pin(pin)
        if not c.ok:
            return None, c.message
        if not (name or "").strip():
            return None, "A name is needed"
        user = self.lb.add_user({"name": name.strip(), "role": "physician", "pin": c.value})
        return user, ""

    def role(self) -> str:
        return self.user["role"] if self.user else ""
