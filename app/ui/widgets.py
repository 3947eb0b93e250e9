"""Small widgets shared by the screens: a labelled meter, the navigation bar, the clinic
sync's line, and a screen that knows its orientation."""

from __future__ import annotations

from pathlib import Path

from kivy.app import App
from kivy.lang import Builder
from kivy.metrics import dp
from kivy.properties import BooleanProperty, NumericProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.label import Label
from kivy.uix.screenmanager import Screen
from kivy.uix.widget import Widget

Builder.load_file(str(Path(__file__).with_name("widgets.kv")))

CONTROL_MIN_DP = 48.0  # a fingertip: 7.6 mm at 160 dp per inch
CONTROL_MAX_DP = 72.0
CONTROL_SHARE = 0.09  # of the screen's short side, between the two


class Meter(Widget):
    title = StringProperty("")
    text = StringProperty("")
    value = NumericProperty(0.0)  # 0..1


class NavBar(BoxLayout):
    current = StringProperty("live")

    def go(self, name: str) -> None:
        App.get_running_app().root.current = name


class ClinicLine(Label):
    """The running app's `clinic_text` (the clinic sync's state), or nothing: a screen shown
    by another App (a benchmark's window) has no clinic line."""

    def __init__(self, **kw):
        super().__init__(**kw)
        app = App.get_running_app()
        if app is not None and hasattr(app, "clinic_text"):
            self.text = app.clinic_text
            app.bind(clinic_text=self.setter("text"))


class OrientedScreen(Screen):
    """A screen whose .kv lays out by `landscape` (wider than tall) or portrait, with its
    controls `ctl` pixels tall: 48 dp (7.6 mm) at the least, up to 72 dp where the screen
    is large enough to spare it."""

    landscape = BooleanProperty(True)
    ctl = NumericProperty(dp(CONTROL_MIN_DP))

    def on_size(self, *_):
        self.landscape = self.width >= self.height
        short_dp = min(self.width, self.height) / dp(1)
        self.ctl = dp(max(CONTROL_MIN_DP, min(CONTROL_MAX_DP, CONTROL_SHARE * short_dp)))


def switch_now(manager, name: str) -> None:
    """Show screen `name` of a NoTransition manager with no frame of the old screen drawn
    under it (Kivy keeps the screen left for a frame until the transition ends): the old
    one is hidden at once, and a screen is shown again when it comes back."""
    old = manager.current_screen
    manager.get_screen(name).opacity = 1
    manager.current = name
    if old is not None and old is not manager.current_screen:
        old.opacity = 0
