"""The device picker, on the live screen's not-connected state and in Settings: what
`needlepoint devices` lists (devices.discover(), the simulator's scenarios among them), the
remembered device and the one the screen waits for, each a large button, with whether it
may touch a patient beside it; and a field for any other device URI (a port that is not a
known USB board, a recording).

A choice goes to the app (`pick_device`), which opens it off the main thread: only if it
opens does it become the live and the remembered device. Looking for devices also runs off
the main thread (a sound card's list comes from PortAudio)."""

from __future__ import annotations

import threading
from pathlib import Path

from kivy.app import App
from kivy.clock import Clock
from kivy.lang import Builder
from kivy.properties import (
    BooleanProperty,
    ListProperty,
    StringProperty,
)
from kivy.uix.boxlayout import BoxLayout

import app.ui.widgets  # noqa: F401  (the button styles picker.kv uses)
from app.ui.connect import isolation_note
from devices import DeviceError, describe, discover

Builder.load_file(str(Path(__file__).with_name("picker.kv")))

WARN = [1, 0.55, 0.45, 1]
NOTE = [0.6, 0.66, 0.72, 1]


def choices(extra: list[str]) -> list[tuple[str, str, str, bool]]:
    """(uri, title, note, warn) of every device to offer: each of `extra` (the device
    waited for, the remembered one: described without opening; one that cannot even be
    described is offered with the reason), then what discover() lists. Runs off the main
    thread."""
    try:
        infos = discover()
    except DeviceError:
        infos = []
    out, seen = [], set()
    for uri in extra:
        if not uri or uri in seen:
            continue
        seen.add(uri)
        try:
            out.append(_row(describe(uri)))
        except DeviceError as e:
            out.append((uri, uri, f"cannot be described: {e}", True))
    for info in infos:
        if info.uri not in seen:
            out.append(_row(info))
            seen.add(info.uri)
    return out


def _row(info) -> tuple[str, str, str, bool]:
    warn = not info.isolation.patient_rated and info.kind not in ("simulator", "file")
    # A simulator's name says all unless it has options; other devices' names (a board's
    # type) are told apart by their URIs.
    plain = info.kind == "simulator" and "?" not in info.uri
    title = info.name if plain else f"{info.name}\n{info.uri}"
    return info.uri, title, isolation_note(info), warn


class PickerRow(BoxLayout):
    uri = StringProperty("")
    title = StringProperty("")
    note = StringProperty("")
    note_colour = ListProperty(NOTE)
    chosen = BooleanProperty(False)

    def picked(self) -> None:
        picker = self.parent
        while picker is not None and not isinstance(picker, DevicePicker):
            picker = picker.parent
        if picker is not None:
            picker.pick(self.uri)


class DevicePicker(BoxLayout):
    title = StringProperty("Choose a device")
    message = StringProperty("")  # what came of the last pick
    live_uri = StringProperty("")  # the live device's button is shown chosen

    def __init__(self, **kw):
        super().__init__(**kw)
        self._looking = False
        self._rows: list = []
        self.bind(live_uri=self._mark_live)

    def refresh(self, *_args) -> None:
        """Look for devices again, off the main thread."""
        if self._looking:
            return
        self._looking = True
        app = App.get_running_app()
        extra = []
        if app is not None:
            conn = getattr(app, "connection", None)
            extra = ([conn.uri] if conn else []) + [getattr(app.settings, "device", "")]

        def look():
            rows = choices(extra)
            Clock.schedule_once(lambda _dt: self._fill(rows), 0)

        threading.Thread(target=look, name="device-discover", daemon=True).start()

    def _fill(self, rows) -> None:
        self._looking = False
        if rows == self._rows:
            return  # (looked again on every retry: the list stays put under a finger)
        self._rows = rows
        box = self.ids.rows
        box.clear_widgets()
        for uri, title, note, warn in rows:
            box.add_widget(PickerRow(uri=uri, title=title, note=note,
                                     note_colour=WARN if warn else NOTE,
                                     chosen=uri == self.live_uri))

    def _mark_live(self, *_args) -> None:
        for row in self.ids.rows.children:
            row.chosen = row.uri == self.live_uri

    def pick(self, uri: str) -> None:
        uri = uri.strip()
        app = App.get_running_app()
        if uri and app is not None:
            app.pick_device(uri)
