"""Small widgets shared by the screens: a labelled meter, the navigation bar, and a
screen that knows its orientation."""

from __future__ import annotations

from pathlib import Path

from kivy.app import App
from kivy.lang import Builder
from kivy.properties import BooleanProperty, NumericProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import Screen
from kivy.uix.widget import Widget

Builder.load_file(str(Path(__file__).with_name("widgets.kv")))


class Meter(Widget):
    title = StringProperty("")
    text = StringProperty("")
    value = NumericProperty(0.0)  # 0..1


class NavBar(BoxLayout):
    current = StringProperty("live")

    def go(self, name: str) -> None:
        App.get_running_app().root.current = name


class OrientedScreen(Screen):
    """A screen whose .kv lays out by `landscape` (wider than tall) or portrait."""

    landscape = BooleanProperty(True)

    def on_size(self, *_):
        self.landscape = self.width >= self.height
