"""The window of `needlepoint bench ui --history`, run in a child process of its own by
app.bench.history:

    python -m app.ui.bench_history empty|history SECONDS WIDTH HEIGHT DB OUT.json SPEED JUMP

"empty" changes one rectangle's colour each tick; "history" opens the logbook DB in the real
HistoryScreen and scrolls its lists at SPEED px/s, jumping every JUMP s (0: never). The
buffer flips' times go to OUT.json for the parent. The lists, the tick and the settling time
are app.bench.history's, read from there so that parent and child cannot disagree.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from pathlib import Path

from app.bench.history import LISTS, SETTLE_S, TICK_S


def main(argv: list[str]) -> int:
    kind, seconds, width, height, db, out, speed, jump = argv
    seconds, width, height = float(seconds), int(width), int(height)
    speed, jump = float(speed), float(jump) or float("inf")
    from app.ui.env import has_display, prepare_kivy
    from devices.files import home

    prepare_kivy(home())
    from kivy.config import Config

    Config.set("graphics", "width", str(width))
    Config.set("graphics", "height", str(height))
    Config.set("graphics", "resizable", "0")
    from kivy.app import App
    from kivy.clock import Clock
    from kivy.core.window import Window
    from kivy.graphics import Color, Rectangle
    from kivy.uix.widget import Widget

    rec = {"flips": {}, "rows": {}, "load_ms": {}, "jumps": {},
           "display": os.environ.get("DISPLAY") if has_display() else "offscreen"}
    state = {"phase": None, "recording": False}
    rng = random.Random(1)

    class BenchApp(App):
        def build(self):
            Window.clearcolor = (0.05, 0.06, 0.08, 1)
            if kind == "empty":
                w = Widget()
                with w.canvas:
                    self.colour = Color(0.05, 0.06, 0.08, 1)
                    Rectangle(pos=(0, 0), size=(8, 8))
                return w
            from kivy.uix.screenmanager import NoTransition, ScreenManager

            import app.ui.widgets  # noqa: F401  (NavBar)
            from app.logbook import Logbook
            from app.ui.history import HistoryScreen

            self.lb = Logbook(db)
            sm = ScreenManager(transition=NoTransition())
            self.screen = HistoryScreen(self.lb, None)
            sm.add_widget(self.screen)
            return sm

        def on_start(self):
            Window.bind(on_flip=flip)
            Clock.schedule_once(lambda _dt: run(), 0.5)

    app = BenchApp()

    def flip(*_):
        if state["recording"]:
            rec["flips"].setdefault(state["phase"], []).append(time.perf_counter())

    def run():
        if kind == "empty":
            state["phase"], state["recording"] = "empty", True
            end = time.perf_counter() + seconds

            def tick(_dt):
                app.colour.r = 0.05 + 0.01 * (int(time.perf_counter() * 60) % 2)
                if time.perf_counter() > end:
                    finish()
                    return False
            Clock.schedule_interval(tick, TICK_S)
            return
        phase(0)

    def phase(k: int):
        if k >= len(LISTS):
            finish()
            return
        name = LISTS[k]
        screen = app.screen
        t = time.perf_counter()
        screen.set_mode(name)
        rv = screen.ids.list
        rv.refresh_from_data()
        rec["load_ms"][name] = round((time.perf_counter() - t) * 1000, 1)
        rec["rows"][name] = len(screen.rows)
        state["phase"], state["recording"] = name, False
        rec["jumps"][name] = 0

        def start(_dt):
            state["recording"] = True
            end = time.perf_counter() + seconds / len(LISTS)
            last = {"t": time.perf_counter(), "jump": time.perf_counter()}

            def tick(_dt):
                now = time.perf_counter()
                span = max(rv.children[0].height - rv.height, 1.0)
                if now - last["jump"] >= jump:
                    rv.scroll_y = rng.random()
                    last["jump"] = now
                    rec["jumps"][name] += 1
                else:
                    y = rv.scroll_y - speed * (now - last["t"]) / span
                    rv.scroll_y = y if y > 0 else 1.0
                last["t"] = now
                if now > end:
                    state["recording"] = False
                    Clock.schedule_once(lambda _dt: phase(k + 1), 0)
                    return False
            Clock.schedule_interval(tick, TICK_S)
        Clock.schedule_once(start, SETTLE_S)

    def finish():
        state["recording"] = False
        Path(out).write_text(json.dumps(rec))
        app.stop()

    app.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
