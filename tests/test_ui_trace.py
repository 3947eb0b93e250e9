"""The live trace widget (app/ui/trace.py) in a real Kivy window, driven by touches.

The widget runs in a child process (Kivy keeps one window per process and reads its
settings at import), once offscreen (what CI has) and once under Xvfb, a real X display,
when the binary is installed. The child (`python -m tests.test_ui_trace DIR`) runs every
scenario and writes what it saw as JSON; the tests below check it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.uiutil import child_env, display

ROOT = Path(__file__).resolve().parents[1]
W, H = 800, 480
FS = 20000.0


def run_child(tmp: Path, display: str | None) -> dict:
    out = tmp / "result.json"
    done = subprocess.run([sys.executable, "-m", "tests.test_ui_trace", str(tmp)],
                          env=child_env(tmp, display),
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and out.exists(), done.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def seen(tmp_path_factory) -> dict:
    return run_child(tmp_path_factory.mktemp("trace-offscreen"), None)


@pytest.fixture(scope="module")
def seen_xvfb(tmp_path_factory):
    if not shutil.which("Xvfb"):
        pytest.skip("Xvfb is not installed (make test installs it)")
    with display(range(61, 70), "1280x800x24") as disp:
        if not disp:
            pytest.skip("Xvfb would not start on a free display among :61-:69")
        yield run_child(tmp_path_factory.mktemp("trace-xvfb"), disp)


def check_pinch(r: dict) -> None:
    v, h = r["pinch_vertical"], r["pinch_horizontal"]
    assert v["uv_before"] == 50 and v["uv_after"] < 50  # fingers apart: more sensitive
    assert v["ms_after"] == v["ms_before"]  # a vertical pinch leaves the sweep alone
    assert h["ms_before"] == 10 and h["ms_after"] > 10  # fingers together: slower sweep
    assert h["uv_after"] == h["uv_before"]


def check_freeze(r: dict) -> None:
    f = r["freeze"]
    assert f["written_while_frozen"] > 10000  # the ring kept filling ...
    assert f["unchanged"]  # ... and not one vertex moved
    assert f["moved_after_unfreeze"]


def test_pinch_changes_sensitivity_and_sweep(seen):
    check_pinch(seen)


def test_freeze_stops_the_trace(seen):
    check_freeze(seen)


def test_under_xvfb_pinch_and_freeze(seen_xvfb):
    assert seen_xvfb["display"].startswith(":")
    check_pinch(seen_xvfb)
    check_freeze(seen_xvfb)


def test_scroll_back_shows_older_samples(seen):
    s = seen["scroll"]
    assert s["drag_back_s"] == pytest.approx(128 / W * 0.1)  # 128 px of a 100 ms window
    assert s["back_s"] == 1.5 and s["review_start"] == s["snapshot_end"] - 30000 - 2000
    assert s["matches_ring"]  # the strip is the min/max of exactly those ring samples
    assert s["clamped_back_s"] == pytest.approx(s["snapshot_s"] - 0.1)
    assert s["after_unfreeze_back_s"] == 0


def test_cursors_measure_time_and_amplitude(seen):
    c = seen["cursors"]
    assert c["uv"] == [200.0, -100.0]  # snapped to the plateaus, whatever the finger's y
    assert c["dt_ms"] == pytest.approx(c["expected_dt_ms"])
    assert c["text"] == f"\u0394 {c['expected_dt_ms']:.2f} ms  \u0394 -300 uV"
    assert c["after_third"] == 1 and c["after_double_tap"] == ""
    # Both on the sweep's one time axis (the gap's column once had its time local to the
    # sweep, the other's counted from the trace's start: seconds apart).
    assert c["across_gap_dt_ms"] == pytest.approx(20 * 100 / W)


def test_triggered_mode_aligns_a_known_spike(seen):
    t = seen["triggered"]
    assert t["sweeps_drawn"] == 5 and t["triggers"] >= 5
    assert t["trigger_column"] == round(2 / 20 * W)
    assert all(v >= 150 for v in t["hi_at_trigger_column"])
    # 0.5 samples a column: the peaks agree within the one sample of noise on the crossing
    assert max(t["peak_columns"]) - min(t["peak_columns"]) <= 2
    assert t["dragged_to_uv"] == 250.0  # the threshold line follows the finger


def test_vertices_never_exceed_twice_the_width(seen):
    for mode, counts in seen["vertices"].items():
        assert counts, mode
        assert max(counts) <= 2 * W, (mode, counts)


def test_negative_up_flips_the_sign(seen):
    n = seen["polarity"]
    # +100 uV at 50 uV/div is 2 divisions from the middle: down when negative is up
    assert n["negative_up"] == pytest.approx(H / 2 - 100 * (H / 8) / 50, abs=2)
    assert n["positive_up"] == pytest.approx(H / 2 + 100 * (H / 8) / 50, abs=2)


def test_max_fps_caps_how_often_the_trace_changes(seen):
    m = seen["max_fps"]
    assert m["updates_that_drew"] == 1 and m["behind"] == 11 * 300  # waiting in the ring


def test_banner_and_calibration_bar_are_drawn(seen):
    assert seen["overlay"]["banner_pixels"] > 500


# the child ------------------------------------------------------------------------------------
def _child(tmp: Path) -> None:
    from app.ui.env import prepare_kivy

    prepare_kivy(tmp)
    os.environ.setdefault("KIVY_WINDOW_ICON", "")
    from kivy.config import Config

    Config.set("graphics", "width", str(W))
    Config.set("graphics", "height", str(H))
    Config.set("graphics", "resizable", "0")
    from kivy.base import EventLoop

    EventLoop.ensure_window()
    from kivy.core.window import Window
    from kivy.tests.common import UnitTestTouch

    from app.session.live import Ring
    from app.ui.trace import Trace
    from dsp.decimate import MinMaxDecimator

    res: dict = {"display": os.environ.get("DISPLAY") or "offscreen"}

    def fresh(channels=1, **kw) -> Trace:
        Window.clear()
        for c in list(Window.children):
            Window.remove_widget(c)
        tr = Trace(size=(W, H), pos=(0, 0), channels=channels, **kw)
        Window.add_widget(tr)
        return tr

    def feed(tr, ring, sig, seconds, chunk_s=0.013):
        n = int(chunk_s * FS)
        for _ in range(int(seconds / chunk_s)):
            p = ring.written
            ring.write(sig[np.arange(p, p + n) % len(sig)])
            tr.update(ring, FS)
        EventLoop.idle()

    def pixels(tr) -> np.ndarray:
        """The window as drawn, rows bottom-up (what Window.screenshot reads)."""
        from kivy.graphics.opengl import GL_RGB, GL_UNSIGNED_BYTE, glReadPixels

        EventLoop.idle()
        return np.frombuffer(glReadPixels(0, 0, W, H, GL_RGB, GL_UNSIGNED_BYTE),
                             np.uint8).reshape(H, W, 3)

    noise = np.random.default_rng(1).normal(0, 10, (int(4 * FS), 2)).astype(np.float32)

    # pinch: two simulated fingers spreading vertically, then closing horizontally
    tr = fresh(uv_per_div=50, ms_per_div=10)
    ring = Ring(int(10 * FS), 1)
    feed(tr, ring, noise[:, :1], 0.3)
    before = (tr.uv_per_div, tr.ms_per_div)
    a, b = UnitTestTouch(400, 200), UnitTestTouch(400, 280)
    a.touch_down()
    b.touch_down()
    for k in range(1, 11):
        a.touch_move(400 + k, 200 - 12 * k)
        b.touch_move(400 - k, 280 + 12 * k)
    a.touch_up()
    b.touch_up()
    res["pinch_vertical"] = {"uv_before": before[0], "ms_before": before[1],
                             "uv_after": tr.uv_per_div, "ms_after": tr.ms_per_div}
    before = (tr.uv_per_div, tr.ms_per_div)
    a, b = UnitTestTouch(200, 240), UnitTestTouch(600, 250)
    a.touch_down()
    b.touch_down()
    for k in range(1, 11):
        a.touch_move(200 + 15 * k, 240 + k)
        b.touch_move(600 - 15 * k, 250 - k)
    a.touch_up()
    b.touch_up()
    res["pinch_horizontal"] = {"uv_before": before[0], "ms_before": before[1],
                               "uv_after": tr.uv_per_div, "ms_after": tr.ms_per_div}

    # freeze: the ring keeps filling, the vertices do not move; scroll back; unfreeze
    saw = (((np.arange(int(20 * FS)) * 7) % 1000) - 500).astype(np.float32)[:, None]
    tr = fresh(ms_per_div=10, uv_per_div=200)
    ring = Ring(int(60 * FS), 1)
    feed(tr, ring, saw, 3.0)
    tr.frozen = True

    def state(t):
        layers = [t._live, t._strip_layer]
        return [(v.copy(), np.array(m.indices).copy(), c.a)
                for la in layers for v, m, c in zip(la.verts, la.meshes, la.colors,
                                                    strict=True)]

    held = state(tr)
    w0 = ring.written
    feed(tr, ring, saw, 1.0)
    now = state(tr)
    unchanged = all(np.array_equal(x[0], y[0]) and np.array_equal(x[1], y[1]) and x[2] == y[2]
                    for x, y in zip(held, now, strict=True))
    res["freeze"] = {"written_while_frozen": ring.written - w0, "unchanged": unchanged}
    snap_data, snap_first = tr._snapshot
    t = UnitTestTouch(200, 240)
    t.touch_down()
    for k in range(1, 9):
        t.touch_move(200 + 16 * k, 240)
    t.touch_up()
    drag = tr.back_s
    tr.back_s = 1.5
    lo, hi, s = tr._review
    end = snap_first + len(snap_data)
    ref = MinMaxDecimator(2000 / W, 1).push(saw[np.arange(s, s + 2000) % len(saw)])
    v = tr._strip_layer.verts[0]
    matches = (np.array_equal(v[0::2, 1], ref[0][:, 0]) and np.array_equal(v[1::2, 1], ref[1][:, 0])
               and tr._strip_layer.colors[0].a == 1 and tr._live.colors[0].a == 0)
    tr.back_s = 1000.0
    clamped = tr.back_s
    tr.frozen = False
    feed(tr, ring, saw, 0.2)
    res["freeze"]["moved_after_unfreeze"] = not np.array_equal(tr._live.verts[0], held[0][0])
    res["scroll"] = {"drag_back_s": drag, "back_s": 1.5, "review_start": s, "snapshot_end": end,
                     "matches_ring": bool(matches), "clamped_back_s": clamped,
                     "snapshot_s": len(snap_data) / FS, "after_unfreeze_back_s": tr.back_s}

    # cursors: plateaus of +200 and -100 uV once per window, measured on the review strip
    period = np.zeros(2000, np.float32)
    period[200:260], period[1000:1060] = 200.0, -100.0
    tr = fresh(ms_per_div=10, uv_per_div=100)
    ring = Ring(int(60 * FS), 1)
    feed(tr, ring, np.tile(period, 10)[:, None], 2.0)
    tr.frozen = True
    tr.back_s = 0.5
    s = tr._review[2]
    spc = 2000 / W
    cols = [int(((200 + 30 - s) % 2000) / spc), int(((1000 + 30 - s) % 2000) / spc)]
    mid, scale = H / 2, -(H / 8) / 100  # negative up
    for col, uv in zip(cols, (200.0, -100.0), strict=True):
        t = UnitTestTouch(col + 0.5, mid + uv * scale + 14)  # a finger, 14 px off
        t.touch_down()
        t.touch_up()
    cur = tr._cursors
    res["cursors"] = {"uv": [c.uv for c in cur], "dt_ms": cur[1].t_ms - cur[0].t_ms,
                      "expected_dt_ms": (cols[1] - cols[0]) * 100 / W, "text": tr.cursor_text}
    t = UnitTestTouch(50, 50)
    t.touch_down()
    t.touch_up()
    res["cursors"]["after_third"] = len(tr._cursors)
    t = UnitTestTouch(60, 50)
    t.is_double_tap = True
    t.touch_down()
    t.touch_up()
    res["cursors"]["after_double_tap"] = tr.cursor_text
    # On the held sweep (no scroll-back): one cursor in the erase gap ahead of the write
    # point, where nothing is drawn, and one just past it, on the sweep before.
    tr.frozen = False
    feed(tr, ring, np.tile(period, 10)[:, None], 0.5)
    tr.frozen = True
    ahead = tr._engine.columns % W + 2
    a, b = tr.place_cursor(ahead, H / 2), tr.place_cursor(ahead + 20, H / 2)
    res["cursors"]["across_gap_dt_ms"] = b.t_ms - a.t_ms

    # triggered: a spike train, superimposed sweeps aligned on the trigger column
    from tests.test_ui_sweep import spike_train

    spikes = spike_train(int(4 * FS), range(1500, int(4 * FS) - 1000, 1777))[:, None]
    tr = fresh(mode="triggered", ms_per_div=2, uv_per_div=100, trigger_uv=150.0, delay_ms=2.0)
    ring = Ring(int(60 * FS), 1)
    feed(tr, ring, spikes, 1.5)
    tc = tr._engine.trigger_column
    drawn = [v for v, m in zip(tr._live.verts, tr._live.meshes, strict=True) if len(m.indices)]
    res["triggered"] = {"sweeps_drawn": len(drawn), "triggers": tr._engine.triggers,
                        "trigger_column": tc,
                        "hi_at_trigger_column": [float(v[2 * tc + 1, 1]) for v in drawn],
                        "peak_columns": [int(np.argmax(v[1::2, 1][:200])) for v in drawn]}

    # the threshold line is dragged with one finger: 60 px up at 100 uV/div, negative up
    y0 = H / 2 - 150.0 * (H / 8) / 100
    t = UnitTestTouch(300, y0 + 5)
    t.touch_down()
    for k in range(1, 7):
        t.touch_move(300, y0 + 5 - 10 * k)
    t.touch_up()
    res["triggered"]["dragged_to_uv"] = tr.trigger_uv

    # vertices in every mode, two channels
    res["vertices"] = {}
    for mode in ("sweep", "cascade", "triggered"):
        tr = fresh(channels=2, mode=mode, ms_per_div=5, trigger_uv=20.0)
        ring = Ring(int(60 * FS), 2)
        feed(tr, ring, noise, 1.5)
        res["vertices"][mode] = tr.vertex_counts()
    tr.frozen = True
    tr.back_s = 0.7
    res["vertices"]["review"] = tr.vertex_counts()

    # max_fps: a capped trace takes the ring's samples at most that often
    tr = fresh(ms_per_div=10, max_fps=4)
    ring = Ring(int(10 * FS), 1)
    drew = []
    for i in range(12):
        ring.write(noise[i * 300:(i + 1) * 300, :1])
        tr.update(ring, FS)
        drew.append(tr.drew)
    res["max_fps"] = {"updates_that_drew": sum(d > 0 for d in drew), "behind": ring.written
                      - tr._next}

    # polarity: a constant +100 uV, where is the green line?
    res["polarity"] = {}
    tr = fresh(uv_per_div=50, ms_per_div=10)
    ring = Ring(int(10 * FS), 1)
    feed(tr, ring, np.full((4000, 1), 100.0, np.float32), 0.5)
    for neg in (True, False):
        tr.negative_up = neg
        px = pixels(tr)  # rows bottom-up (GL)
        green = (px[:, 100:700, 1] > 180) & (px[:, 100:700, 0] < 160)
        rows = np.flatnonzero(green.sum(axis=1) > 300)
        res["polarity"]["negative_up" if neg else "positive_up"] = float(np.mean(rows))

    # overlay: the banner draws big amber text in the middle
    tr.banner = "NO SIGNAL"
    px = pixels(tr)
    box = px[H // 2 - 40:H // 2 + 40, W // 2 - 200:W // 2 + 200]
    amber = (box[..., 0] > 200) & (box[..., 1] > 140) & (box[..., 2] < 120)
    res["overlay"] = {"banner_pixels": int(amber.sum())}

    (tmp / "result.json").write_text(json.dumps(res))


if __name__ == "__main__":
    _child(Path(sys.argv[1]))
