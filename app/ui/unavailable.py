"""What the record screens show when the logbook cannot be opened (a damaged or foreign
file, a full disk): the reason, and that the live screen works. The trace, the sound and
marking never depend on the records."""

from __future__ import annotations

from pathlib import Path

from kivy.lang import Builder
from kivy.properties import StringProperty
from kivy.uix.screenmanager import Screen

Builder.load_file(str(Path(__file__).with_name("unavailable.kv")))


class RecordsUnavailable(Screen):
    message = StringProperty("")

    def __init__(self, name: str, reason: str, **kw):
        super().__init__(name=name, **kw)
        self.message = (f"Procedure records are unavailable: {reason}\n\nThe live screen, its "
                        "sound and Mark injection work; marks are kept in memory for this "
                        "session only. Fix the logbook file (needlepoint logbook verify, "
                        "restore) and restart.")
