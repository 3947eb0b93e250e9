"""The lock: a PIN pad over the record screens (procedure, history, settings). It covers
records only: the live screen is never locked, the trace and sound run underneath, and the
pedal still marks (the App handles those keys whatever is shown)."""

from __future__ import annotations

from pathlib import Path

from kivy.lang import Builder
from kivy.properties import BooleanProperty, ObjectProperty, StringProperty
from kivy.uix.modalview import ModalView

from app.ui.forms import PinGate  # and PinPad, NpInput

Builder.load_file(str(Path(__file__).with_name("signin.kv")))


class LockView(ModalView):
    access = ObjectProperty(None)
    first_run = BooleanProperty(False)
    first_message = StringProperty("")
    queued_text = StringProperty("")

    def __init__(self, access, on_signed_in, on_live, **kw):
        super().__init__(auto_dismiss=False, **kw)
        self.access = access
        self._signed_in = on_signed_in
        self._live = on_live
        self.ids.pad.submit = self.try_pin
        self._gate = PinGate()

    def refresh(self, queued: int = 0) -> None:
        users = self.access.users()
        self.first_run = not users
        self.ids.pad.users = [{"id": u["id"], "name": u["name"], "role": u["role"]}
                              for u in users]
        self.queued_text = (f"{queued} marked injection{'s' if queued != 1 else ''} waiting "
                            "for entry" if queued else "")

    def try_pin(self, user_id: str, pin: str) -> None:
        if not user_id:
            self.ids.pad.message = "Choose who you are first"
            return
        self._gate.sign_in(self.access, user_id, pin,
                           lambda words: setattr(self.ids.pad, "message", words),
                           self._in)

    def _in(self) -> None:
        # At once: a fading pad would still take the next touches meant for the screen.
        self.dismiss(animation=False)
        self._signed_in()

    def create_first(self, name: str, pin: str) -> None:
        user, msg = self.access.add_first_user(name, pin)
        self.first_message = msg
        if user:
            self.refresh()

    def go_live(self) -> None:
        self.dismiss(animation=False)
        self._live()
