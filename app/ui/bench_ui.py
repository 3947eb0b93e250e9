"""The window of `needlepoint bench ui`, run in a child process of its own by app.bench.ui:

    python -m app.ui.bench_ui empty|trace SECONDS WIDTH HEIGHT SIGNAL.npy OUT.json LAUNCHED

It opens a real Kivy window (offscreen GL without a display), feeds an app.session.live.Ring
from a writer thread at real pace and, per frame, records what app.bench.ui reports; the
figures go to OUT.json for the parent. The benchmark's parameters (rate, channels, phases,
tick) are app.bench.ui's, read from there so that parent and child cannot disagree.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np

from app.bench.ui import CHANNELS, FS, PHASES, TICK_S, WRITE_S
from app.ui.env import gl_strings


class _Writer(threading.Thread):
    """Writes the looped signal into the ring at real pace, logging each write's end index
    and time."""

    def __init__(self, ring, sig: np.ndarray, seconds: float):
        super().__init__(name="bench-writer", daemon=True)
        self.ring, self.sig = ring, sig
        n = int(seconds / WRITE_S * 1.5) + 1000
        self.ends = np.zeros(n, np.int64)
        self.times = np.zeros(n, np.float64)
        self.count = 0
        self.stop = threading.Event()

    def run(self):
        t0 = time.perf_counter()
        loop = len(self.sig)
        while not self.stop.is_set():
            due = int((time.perf_counter() - t0) * FS)
            n = due - self.ring.written
            if n > 0:
                p = self.ring.written % loop
                self.ring.write(self.sig[np.arange(p, p + n) % loop])
                if self.count < len(self.ends):
                    self.ends[self.count] = self.ring.written
                    self.times[self.count] = time.perf_counter()
                    self.count += 1
            time.sleep(WRITE_S)


def main(argv: list[str]) -> int:
    kind, seconds, width, height, signal, out, launched = argv
    seconds, width, height, launched = float(seconds), int(width), int(height), float(launched)
    from app.ui.env import has_display, prepare_kivy
    from devices.files import home

    prepare_kivy(home())
    os.environ.setdefault("KIVY_WINDOW_ICON", "")
    from kivy.config import Config

    Config.set("graphics", "width", str(width))
    Config.set("graphics", "height", str(height))
    Config.set("graphics", "resizable", "0")
    from kivy.app import App
    from kivy.clock import Clock
    from kivy.core.window import Window
    from kivy.uix.widget import Widget

    from app.session.live import Ring

    sig = np.load(signal)
    ring = Ring(int(60 * FS), CHANNELS)
    writer = _Writer(ring, sig, seconds)
    rec = {"frames": [], "flips": {}, "cpu": {}, "vertices": {}, "delays": {}, "fps": None,
           "first_update_s": None, "first_flip_s": None,
           "display": os.environ.get("DISPLAY") if has_display() else "offscreen"}
    state = {"phase": None, "t0": None, "restart": False, "drawn_to": None, "pending": None,
             "delays": []}
    if kind == "trace":
        plan, at = [], 0.0
        for name, mode, ms, share in PHASES:
            plan.append((at, name, mode, ms))
            at += share * seconds
    else:
        plan = [(0.0, "empty", None, None)]

    class BenchApp(App):
        def build(self):
            Window.clearcolor = (0.05, 0.06, 0.08, 1)
            if kind == "trace":
                from app.ui.trace import Trace

                self.trace = Trace(channels=CHANNELS)
                return self.trace
            self.trace = None
            return Widget()

        def on_start(self):
            rec["gl"] = gl_strings()
            Window.bind(on_flip=flip)
            writer.start()
            state["t0"] = time.perf_counter()
            Clock.schedule_interval(tick, TICK_S)

    def flip(*_):
        now = time.perf_counter()
        if rec["first_flip_s"] is None and (kind == "empty" or rec["first_update_s"]):
            rec["first_flip_s"] = time.time() - launched
        if state["phase"]:
            rec["flips"].setdefault(state["phase"], []).append(now)
            rec["cpu"].setdefault(state["phase"], []).append(time.process_time())

    def tick(_dt):
        app = App.get_running_app()
        el = time.perf_counter() - state["t0"]
        if el >= seconds:
            finish(app)
            return False
        phase = [p for p in plan if p[0] <= el][-1]
        tr = app.trace
        if phase[1] != state["phase"]:
            if state["phase"] and tr is not None:
                note_vertices(tr)
            state["phase"] = phase[1]
            if tr is not None:
                tr.mode, tr.ms_per_div = phase[2], phase[3]
                if phase[2] == "triggered":
                    tr.trigger_uv = -40.0
                state["restart"] = True
        if tr is None:
            Window.canvas.ask_update()
            return None
        c0, w0 = time.thread_time(), time.perf_counter()
        tr.update(ring, FS)
        c1, w1 = time.thread_time(), time.perf_counter()
        rec["frames"].append({"phase": phase[1], "cpu": c1 - c0, "wall": w1 - w0,
                              "restart": state["restart"]})
        if tr.drew > 0 and rec["first_update_s"] is None:
            rec["first_update_s"] = time.time() - launched
        if not state["restart"] and tr.mode != "triggered":
            a = state["drawn_to"]
            if a is not None and tr.drawn_to > a:
                state["delays"].append((phase[1], a, tr.drawn_to, w1))
        state["restart"] = False
        state["drawn_to"] = tr.drawn_to
        Window.canvas.ask_update()
        return None

    def note_vertices(tr):
        rec["vertices"][state["phase"]] = {"per_mesh": tr.vertex_counts(),
                                           "width": int(tr.width)}

    def finish(app):
        if app.trace is not None:
            note_vertices(app.trace)
        writer.stop.set()
        frames = sum(len(v) for v in rec["flips"].values())
        rec["fps"] = round(frames / seconds, 1)
        rec["delays"] = _delays(state["delays"], writer.ends[:writer.count],
                                writer.times[:writer.count])
        Path(out).write_text(json.dumps(rec))
        app.stop()

    BenchApp().run()
    return 0


def _delays(spans, ends: np.ndarray, times: np.ndarray) -> dict:
    """Per phase, (delay, samples) pairs: each sample of [a, b) that update() put into a
    vertex at time t waited t minus the time of the write that brought it."""
    out: dict = {}
    for phase, a, b, t in spans:
        d = out.setdefault(phase, {"delay_s": [], "count": []})
        k0 = int(np.searchsorted(ends, a, side="right"))  # the write holding sample a
        k1 = int(np.searchsorted(ends, b - 1, side="right"))
        prev = a
        for k in range(k0, min(k1, len(ends) - 1) + 1):
            e = min(int(ends[k]), b)
            if e > prev:
                d["delay_s"].append(round(t - float(times[k]), 6))
                d["count"].append(e - prev)
                prev = e
    return out


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
