"""The History screen's lists at clinic scale: scrolling 10 000 procedures (and their 1 000
patients) against an empty window's frame time on the same machine and GL.

A logbook of `procedures` signed procedures over procedures/10 patients (two injections
each, audited, built once through app.bench.logbook's bulk loader, or reused from `db`) is
opened by the real HistoryScreen in a real Kivy window. Two child processes run one after
the other with windows of the same size:

- "empty": a window whose one rectangle changes colour each tick, so that every tick is
  drawn, as every scrolled tick is;
- "history": the History screen listing all procedures, then all patients; each list is
  loaded (timed apart: one long frame, not scrolling), then scrolled at a steady speed
  (SPEED_PX_S, a brisk fling) with a jump to a random place every JUMP_S (a drag on the
  scroll bar: the rows there are built then).

Frame time is the interval between buffer flips. Targets, reported and not asserted:
scrolling p99 <= 1.5 x the empty window's p99, and no scrolling frame over 100 ms.
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TICK_S = 1 / 60
SPEED_PX_S = 2500.0
JUMP_S = 2.0
SETTLE_S = 1.0  # after a list loads, before its frames count
P99_RATIO = 1.5
MAX_FRAME_MS = 100.0
LISTS = ("procedures", "patients")


def build(path: Path, procedures: int = 10000) -> dict:
    """The logbook the bench scrolls (kept at `path` for later runs)."""
    from app.bench.logbook import _build
    from app.logbook import Logbook

    t = time.perf_counter()
    with Logbook(path) as lb:
        if lb.db.execute("SELECT count(*) FROM procedures").fetchone()[0] >= procedures:
            return {"built_s": 0.0, "reused": True}
        _build(lb, procedures, 2 * procedures, 0, [])
    return {"built_s": round(time.perf_counter() - t, 1), "reused": False}


def bench_history(seconds: float = 20.0, procedures: int = 10000, width: int = 1280,
                  height: int = 800, db: str | os.PathLike | None = None,
                  speed_px_s: float = SPEED_PX_S, jump_s: float = JUMP_S) -> dict:
    """Run both windows; `seconds` is the history window's scrolling time (split between
    the two lists), the empty window runs half as long. `db`: a logbook to build once and
    reuse (a temporary one otherwise)."""
    from app.bench.dsp import _machine, _percentiles

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="needlepoint-bench-history-") as tmp:
        path = Path(db) if db else Path(tmp) / "logbook.db"
        made = build(path, procedures)
        empty = _child("empty", seconds / 2, width, height, path, Path(tmp), 0, 0)
        hist = _child("history", seconds, width, height, path, Path(tmp), speed_px_s,
                      jump_s)
    e = _percentiles(np.diff(empty["flips"]["empty"]))
    lists = {}
    for name in LISTS:
        f = np.diff(hist["flips"].get(name, []))
        lists[name] = {"rows": hist["rows"].get(name), "frames": int(f.size),
                       "frame_ms": _percentiles(f), "load_ms": hist["load_ms"].get(name),
                       "jumps": hist["jumps"].get(name, 0)}
    all_f = np.concatenate([np.diff(hist["flips"].get(n, [])) for n in LISTS])
    h = _percentiles(all_f)
    ratio = (h["p99"] / e["p99"]) if e["p99"] else None
    return {
        "bench": "history", "procedures": procedures, "size": [width, height],
        "speed_px_s": speed_px_s, "jump_s": jump_s,
        "display": hist.get("display"), "logbook": made,
        "frame_ms": {"empty": e, "history": h}, "lists": lists,
        "targets": {
            "p99_ratio": {"limit": P99_RATIO, "value": round(ratio, 3) if ratio else None,
                          "pass": bool(ratio is not None and ratio <= P99_RATIO)},
            "max_frame_ms": {"limit": MAX_FRAME_MS, "value": h["max"],
                             "pass": bool(h["max"] is not None and h["max"] <= MAX_FRAME_MS)},
        },
        "machine": _machine(), "wall_s": round(time.perf_counter() - start, 1),
    }


def format_history(rep: dict) -> str:
    f, t = rep["frame_ms"], rep["targets"]

    def pct(p):
        return f"p50 {p['p50']:.1f}  p99 {p['p99']:.1f}  max {p['max']:.1f} ms"

    lines = [f"bench history: {rep['procedures']} procedures, window "
             f"{rep['size'][0]}x{rep['size'][1]} ({rep['display']})",
             f"  empty window        {pct(f['empty'])}",
             f"  history scrolling   {pct(f['history'])}"]
    for name, v in rep["lists"].items():
        lines.append(f"    {name:<11} {v['rows']} rows, loaded in {v['load_ms']:.0f} ms; "
                     f"{v['frames']} frames, {v['jumps']} jumps: {pct(v['frame_ms'])}")
    r = t["p99_ratio"]
    m = t["max_frame_ms"]
    lines.append(f"  p99 / empty p99 = {r['value']} (target <= {r['limit']}): "
                 f"{'pass' if r['pass'] else 'FAIL'}")
    lines.append(f"  worst scrolling frame {m['value']:.1f} ms (target <= {m['limit']:g}): "
                 f"{'pass' if m['pass'] else 'FAIL'}")
    return "\n".join(lines)


def _child(kind: str, seconds: float, width: int, height: int, db: Path, tmp: Path,
           speed: float, jump: float) -> dict:
    from app.bench.ui import run_window

    return run_window("app.bench.history", kind,
                      [f"{seconds:g}", str(width), str(height), str(db)],
                      [f"{speed:g}", f"{jump:g}"], tmp, timeout=seconds * 3 + 180)


# the child: one window ------------------------------------------------------------------------
def _child_main(argv: list[str]) -> int:
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
    sys.exit(_child_main(sys.argv[1:]))
