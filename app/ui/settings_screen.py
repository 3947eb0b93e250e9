"""The Settings screen: display, sound and device choices, kept in app.settings. The
device is chosen with the same picker as the live screen's not-connected state: a choice is
remembered only once it has opened."""

from __future__ import annotations

from pathlib import Path

from kivy.app import App
from kivy.lang import Builder
from kivy.properties import BooleanProperty, NumericProperty, StringProperty
from kivy.uix.screenmanager import Screen

import app.ui.picker  # noqa: F401  (registers DevicePicker for settings.kv)
from app.ui.connect import LIVE

Builder.load_file(str(Path(__file__).with_name("settings.kv")))


class SettingsScreen(Screen):
    negative_up = BooleanProperty(True)
    mains = StringProperty("off")
    device_text = StringProperty("")
    isolation = StringProperty("unknown")
    message = StringProperty("")
    density = NumericProperty(0.0)
    fullscreen = BooleanProperty(False)
    pedal_key = StringProperty("pagedown")

    def __init__(self, settings, **kw):
        super().__init__(name="settings", **kw)
        self.settings = settings
        self.negative_up = settings.negative_up
        self.mains = {0: "off", 50: "50 Hz", 60: "60 Hz"}[settings.mains_hz or 0]
        self.device_text = f"Starts on: {settings.device}"
        self.density = settings.density
        self.fullscreen = settings.fullscreen
        self.pedal_key = settings.pedal_key

    def on_pre_enter(self, *_args):
        self.ids.picker.refresh()

    def show_connection(self, conn) -> None:
        """What is live and what the app starts on next, and the last pick's outcome."""
        live = conn.uri if conn.state == LIVE else f"none ({conn.state}: {conn.uri})"
        self.device_text = f"Live device: {live}\nStarts on: {self.settings.device}"
        self.ids.picker.message = conn.message
        self.ids.picker.live_uri = conn.uri if conn.state == LIVE else ""

    def set_negative_up(self, value: bool) -> None:
        self.negative_up = value
        self.settings.negative_up = value
        self._save()
        live = App.get_running_app().root.get_screen("live")
        live.ids.trace.negative_up = value

    def set_mains(self, label: str) -> None:
        self.mains = label
        self.settings.mains_hz = {"off": 0, "50 Hz": 50, "60 Hz": 60}[label]
        self._save("Mains filter: used from the next start.")

    def set_isolation(self, value: str) -> None:
        """The clinic's declaration for the sound card preamp (it cannot tell)."""
        self.isolation = value
        self.settings.soundcard_isolation["default"] = value
        self._save("Sound card isolation: used when a sound card input is next opened.")

    def set_density(self, value: float) -> None:
        self.density = self.settings.density = value
        self._save("Screen scale: used from the next start.")

    def set_fullscreen(self, value: bool) -> None:
        self.fullscreen = self.settings.fullscreen = value
        self._save("Full screen: used from the next start.")

    def set_pedal_key(self, name: str) -> None:
        """At once: the next press of that key marks an injection."""
        from app.ui.pedal import pedal_code

        App.get_running_app().pedal = pedal_code(name)
        self.pedal_key = self.settings.pedal_key = name
        self._save(f"Foot pedal: {name} marks an injection.")

    def _save(self, message: str = "Saved.") -> None:
        from app import settings as store

        store.save(self.settings)
        self.message = message
