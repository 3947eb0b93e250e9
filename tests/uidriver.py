"""Drives the real app in a child process, as a person would: touches at widgets' centres,
key presses, waits. `python -m tests.uidriver SCENARIO '{json args}'` prints one line
`RESULT {json}`. Tests start it under Xvfb when they can (tests/uiutil.py)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def _centre(w):
    x, y = w.to_window(w.center_x, w.center_y)
    return x, y


def tap(widget) -> None:
    from kivy.tests.common import UnitTestTouch

    touch = UnitTestTouch(*_centre(widget))
    touch.touch_down()
    touch.touch_up()


def find(root, cls_name: str, text: str | None = None):
    for w in root.walk():
        if type(w).__name__ == cls_name and (text is None or getattr(w, "text", None) == text):
            return w
    raise LookupError(f"no {cls_name} {text!r} on screen")


def press_key(key: int) -> None:
    from kivy.core.window import Window

    Window.dispatch("on_key_down", key, 0, " " if key == 32 else "", [])
    Window.dispatch("on_key_up", key, 0)


def sleep_under_faketime() -> None:
    """Under libfaketime (tests/uiutil.py start(clock=...)), Python's time.sleep by select.
    Debian 12's libfaketime 0.9.10 with its monotonic clock left real
    (FAKETIME_DONT_FAKE_MONOTONIC=1) turns the absolute monotonic deadline of
    clock_nanosleep, which time.sleep uses, into a negative one: EINVAL, and the simulator's
    reader thread dies. With the monotonic clock faked too, sleeps work but threading's timed
    waits never end. select with a timeout works either way. Nothing changes without it."""
    if "FAKETIME" not in os.environ:
        return
    import select
    import time

    def sleep(seconds: float) -> None:
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        select.select([], [], [], seconds)

    time.sleep = sleep


# -- scenarios: generators that yield seconds to wait and return the result ----------------

def tree(app, args):
    """Every touch target at least 48 dp both ways; nothing visible outside the window; no
    label cut short (the live meters carry their longest words)."""
    from kivy.core.window import Window
    from kivy.metrics import dp
    from kivy.uix.button import Button
    from kivy.uix.slider import Slider

    from app.session.activity import proximity

    small, outside, cut = [], [], []
    for name in ("live", "procedure", "history", "settings"):
        app.root.current = name
        yield 0.6
        screen = app.root.get_screen(name)
        if name == "live":
            for unit in ({"rise_us": 1500.0, "amplitude_uv": 999.0, "inside_territory": False},
                         {"rise_us": 500.0, "amplitude_uv": 999.0, "inside_territory": True}):
                screen.proximity_text = proximity({"nearest_unit": unit})[1]
                yield 0.1
                cut += [f"{name}: {t!r}" for t in _cut_short(screen)]
        for w in screen.walk(restrict=True):
            if not _shown(w):
                continue
            x0, y0 = w.to_window(w.x, w.y)
            if isinstance(w, Button | Slider) and (w.width < dp(48) - 0.5
                                                   or w.height < dp(48) - 0.5):
                small.append(f"{name}: {type(w).__name__} {getattr(w, 'text', '')!r} "
                             f"{w.width:.0f}x{w.height:.0f}")
            if _scrolled(w):
                continue  # a scrolling list runs past the window by design; its view doesn't
            if (x0 < -0.5 or y0 < -0.5 or x0 + w.width > Window.width + 0.5
                    or y0 + w.height > Window.height + 0.5):
                outside.append(f"{name}: {type(w).__name__} {getattr(w, 'text', '')!r} at "
                               f"{x0:.0f},{y0:.0f} {w.width:.0f}x{w.height:.0f}")
    return {"small": small, "outside": outside, "cut": cut,
            "size": [Window.width, Window.height], "dp48": dp(48)}


def _cut_short(screen) -> list[str]:
    """Texts of shown labels that Kivy shortens ("...") because they do not fit."""
    from kivy.core.text import Label as CoreLabel
    from kivy.uix.label import Label

    out = []
    for w in screen.walk(restrict=True):
        if isinstance(w, Label) and w.shorten and w.text and _shown(w) and w.text_size[0]:
            full = CoreLabel(text=w.text, font_size=w.font_size, bold=w.bold,
                             font_name=w.font_name)
            full.refresh()
            if full.texture.width > w.text_size[0] - 2 * w.padding_x + 0.5:
                out.append(w.text)
    return out


def _scrolled(w) -> bool:
    node = w.parent
    while node is not None and node is not node.parent:
        if type(node).__name__ in ("ScrollView", "RecycleView"):
            return True
        if type(node).__name__ == "ScreenManager":
            return False
        node = node.parent
    return False


def _shown(w) -> bool:
    node = w
    while node is not None:
        if getattr(node, "opacity", 1) == 0 or getattr(node, "disabled", False):
            return False
        if node.width <= 1 or node.height <= 1:
            return False
        parent = node.parent
        if parent is node or type(node).__name__ == "ScreenManager":
            break
        # Inside a ScrollView only what is scrolled into view counts as shown.
        if type(parent).__name__ == "ScrollView":
            return True
        node = parent
    return True


def mark(app, args):
    """Mark by touching the big button, then by the foot pedal's space key; keep what the
    screen handed on (its on_mark), for the parent to check against the simulator. The
    presses are placed in the device's time, whatever the machine's speed: the first once
    5 s of samples exist, the second 1 s of samples after it."""
    import numpy as np

    live = app.root.get_screen("live")
    yield from _live(app)
    session = live.session
    fs = session.info.fs
    delivered = _catch_marks(live)
    yield from _until_frames(session, 5 * fs + 1)  # so that 5 s before the press exist
    tap(find(live, "MarkButton"))
    yield from _until_frames(session, session.display.written + fs)
    press_key(32)
    yield from _until(lambda: len(delivered) >= 2, "both marks handed on")
    out = Path(args["out"])
    marks = []
    for i, m in enumerate(delivered):
        np.save(out / f"mark{i}.npy", m.samples)
        marks.append({"device_index": m.device_index, "first": m.first_device_index,
                      "press_offset": m.press_offset, "frames": len(m.samples),
                      "fs": m.fs, "events": m.events})
    return {"marks": marks, "mark_text": live.mark_text}


def pedal_in_field(app, args):
    """With the lock's PIN field focused (Procedure, nobody signed in): the pedal's key
    (page down) marks; space, typed into the field, does not."""
    from kivy.core.window import Window
    from kivy.uix.textinput import TextInput

    live = app.root.get_screen("live")
    yield from _live(app)
    session = live.session
    delivered = _catch_marks(live)
    app.root.current = "procedure"
    yield 0.5
    fields = [w for c in Window.children for w in c.walk() if isinstance(w, TextInput)]
    field = fields[0]
    field.focus = True
    yield 0.2
    focused = field.focus
    press_key(281)
    press_key(32)
    yield from _until_frames(session, session.display.written + 2.5 * session.info.fs)
    yield from _until(lambda: len(delivered) >= 1, "the pedal's mark handed on")
    yield 0.5
    return {"focused": focused, "still_focused": field.focus, "marks": len(delivered)}


BUSY_FINDINGS = "\n".join([
    "Fibrillations: 4.2/s, regular, in 3 trains", "Positive sharp waves: 2 trains, 11 Hz",
    "Complex repetitive discharge: 38 Hz, 4 s", "Myotonic discharge: waxing and waning",
    "End-plate spikes: 30/s, irregular", "Motor units: 3 firing, 9-14 Hz",
    "Fasciculation: 1 in 10 s, polyphasic, long duration"])


def layout(app, args):
    """The live screen's visible widgets (app.ui.layout) with a quiet panel, then with
    seven long lines of findings and every meter full: what moves, and what is where."""
    from app.ui.layout import visible_widgets

    live = app.root.get_screen("live")
    yield from _live(app)
    live._panel = lambda m: None  # the analyser's words held still: this run sets them
    quiet = {"findings_text": "", "rms_text": "9 uV", "turns_text": "4 /s",
             "proximity_text": "", "proximity_value": 0.0, "epn_value": 0.0}
    busy = {"findings_text": BUSY_FINDINGS, "rms_text": "1250 uV", "turns_text": "380 /s",
            "proximity_text": "near: sharp, 1.2 mV", "proximity_value": 1.0,
            "epn_value": 1.0}
    shown = {}
    for name, values in (("quiet", quiet), ("busy", busy)):
        for k, v in values.items():
            setattr(live, k, v)
        yield 0.6
        shown[name] = visible_widgets(app.root)
    # The choices light up as they are taken.
    tap(find(live, "Choice", "Botulinum"))
    tap(find(live, "Choice", "Pitch"))
    yield 0.3
    chosen = sorted(w.text for w in live.walk() if type(w).__name__ == "Choice" and w.chosen)
    from kivy.core.window import Window
    from kivy.metrics import Metrics

    return {"size": [Window.width, Window.height], "density": Metrics.density,
            "chosen": chosen, **shown}


def many_marks(app, args):
    """`presses` presses of the foot pedal in one run, a few per frame; then what the screen
    handed on (its on_mark) and what the procedure screen got (queued: nobody signed in)."""
    live = app.root.get_screen("live")
    yield from _live(app)
    session = live.session
    fs = session.info.fs
    delivered = _catch_marks(live)
    yield from _until_frames(session, fs // 2)
    presses = args["presses"]
    for i in range(presses):
        press_key(32)
        if i % 5 == 4:
            yield 0.02  # frames go by, and drain what completed, between presses
    last = session.display.written
    yield from _until_frames(session, last + 2 * fs + 1)  # every mark's 2 s after have come
    # All are complete now; the frames that follow hand them on. An old screen that lost
    # some would never get there: stop waiting a while after, and report what came.
    yield from _until(lambda: len(delivered) >= presses, None, limit_s=5.0)
    procedure = app.root.get_screen("procedure")
    return {"delivered": len(delivered), "distinct": len({id(m) for m in delivered}),
            "complete": sum(m.complete for m in delivered),
            "queued": len(procedure.flow.queued),
            "unassigned": len(procedure.flow.unassigned()), "mark_text": live.mark_text,
            "marks_done": live.marks_done}


def _catch_marks(live) -> list:
    """Every mark the live screen hands on, in order (and still passed to its on_mark)."""
    delivered = []
    handed = live.on_mark

    def catch(mark):
        delivered.append(mark)
        return handed(mark) if handed is not None else None

    live.on_mark = catch
    return delivered


WAIT_LIMIT_S = 60.0  # a hang guard only: the waits are for the device's samples, not time
POLL_S = 0.05


def _until(done, what: str | None, limit_s: float = WAIT_LIMIT_S):
    """Yield frames until `done()`; past `limit_s` raise (naming `what`), or with no `what`
    just stop waiting."""
    import time

    deadline = time.monotonic() + limit_s
    while not done():
        if time.monotonic() > deadline:
            if what is None:
                return
            raise TimeoutError(f"{what}: not within {limit_s:g} s")
        yield POLL_S


def _live(app):
    """Yield until the app's device is open and on the live screen (it opens off the main
    thread)."""
    yield from _until(lambda: app.root.get_screen("live").session is not None,
                      "the device live")


def _until_frames(session, frames: float):
    """Yield until the session has taken `frames` samples from its device in all: its own
    clock, however fast or slow the machine runs the app."""
    yield from _until(lambda: session.snapshot().counters.frames >= frames,
                      f"{frames:.0f} device samples")


def unplug(app, args):
    """The parent pulls the emulated cable when told READY; the trace must say NO SIGNAL and
    recover by itself. Each step waits for what it needs to see, not for a time."""
    live = app.root.get_screen("live")
    yield from _live(app)
    session = live.session
    yield from _until(lambda: session.snapshot().counters.frames > 0
                      and live.ids.trace.banner == "", "the first samples")
    before = live.ids.trace.banner
    live.ids.trace.ms_per_div = 100  # a 1 s sweep: the gap's mark stays a second in view
    print("READY", flush=True)
    sys.stdin.readline()  # the parent has pulled the cable
    seen = set()

    def look() -> bool:
        seen.add(live.ids.trace.banner)
        seen.add(live.status_text.split("  ·  ")[0])
        return ("NO SIGNAL" in seen and live.ids.trace.banner == ""
                and getattr(session.device, "reconnects", 0) >= 1)

    yield from _until(look, None)  # away 1.5 s, then it reconnects
    trace = live.ids.trace
    # The lost time is marked on the trace where it fell, until the sweep writes over it.
    yield from _until(lambda: trace.gap_places(), None, limit_s=5.0)
    return {"before": before, "seen": sorted(seen), "after": trace.banner,
            "notice": trace.notice,
            "reconnects": getattr(session.device, "reconnects", None),
            "gaps": trace.gaps, "gap_places": trace.gap_places(),
            "lost_frames": session.snapshot().counters.lost_frames,
            "fs": session.info.fs}


def training(app, args):
    """The simulator's training sliders: where they start, and what a drag changes."""
    yield 0.5
    live = app.root.get_screen("live")
    effort, depth = (w for w in live.walk(restrict=True) if type(w).__name__ == "Slider"
                     and w.parent is live.ids.effort.parent)
    controls = live.session.device.controls
    start = {"effort": effort.value, "depth": depth.value, "label": live.ids.effort.text,
             "device_effort": controls.effort}
    effort.value = 0.5  # as a drag leaves it
    depth.value = 0.4
    yield 0.2
    return {"start": start, "label": live.ids.effort.text,
            "device": {"effort": controls.effort, "proximity": controls.proximity}}


def _words(root, skip=None) -> list[str]:
    """Every text shown on a screen (labels and buttons), for what may not be said; none
    from inside `skip` (a widget such as the device picker)."""
    from kivy.uix.label import Label

    out = []
    for w in root.walk(restrict=True):
        if not (isinstance(w, Label) and w.text and _shown(w)):
            continue
        node = w
        while node is not None and node is not skip and node is not node.parent:
            node = node.parent
        if skip is None or node is not skip:
            out.append(w.text)
    return out


def offline(app, args):
    """A device that cannot be opened: the live screen's plain state, tried again, nothing
    from any other source; the remembered device as it was."""
    from app import settings as store

    live = app.root.get_screen("live")
    conn = app.connection
    yield from _until(lambda: conn.failures >= 2, "two failed attempts")  # it retries
    picker = live.ids.picker
    yield from _until(lambda: len(picker.ids.rows.children) > 0, "the picker's devices")
    trace = live.ids.trace
    out = {"state": conn.state, "title": live.offline_title, "uri": live.offline_uri,
           "reason": live.offline_reason, "retry": live.offline_retry,
           "session": app.session is not None, "audio": app.audio is not None,
           "trace_shown": trace.get_root_window() is not None,
           "trace_drawn_to": trace.drawn_to, "vertices": trace.vertex_counts(),
           "panel": [live.findings_text, live.rms_text, live.turns_text,
                     live.proximity_text, live.epn_text],
           "words": _words(live, skip=picker.__self__), "banner": live.banner_text,
           "settings_device": app.settings.device,
           "saved_device": store.load().device,
           "picker": [(r.uri, r.note) for r in reversed(picker.ids.rows.children)]}
    press_key(32)  # the pedal: nothing to mark, and said so
    yield 0.1
    out["mark_text"] = live.mark_text
    return out


def labels(app, args):
    """The source's label on every view of the trace (and whether it is drawn: its colour
    is in the overlay)."""
    from app.ui.trace import SOURCE

    live = app.root.get_screen("live")
    trace = live.ids.trace
    yield from _until(lambda: app.session is not None
                      and app.session.snapshot().counters.frames > 0, "the first samples")
    out = {}
    for mode in ("sweep", "cascade", "triggered", "frozen"):
        trace.frozen = False
        trace.mode = "sweep" if mode == "frozen" else mode
        trace.frozen = mode == "frozen"
        yield 0.5
        drawn = any(type(i).__name__ == "Color" and tuple(i.rgba) == SOURCE
                    for i in trace.canvas.after.children)
        out[mode] = {"label": trace.source_label, "drawn": drawn}
    out["kind"] = app.session.info.kind
    return out


def uncalibrated(app, args):
    """An uncalibrated amplifier: scale, RMS, cursors and the sensitivity in counts; the
    analyser names nothing that rests on amplitude."""
    live = app.root.get_screen("live")
    trace = live.ids.trace
    yield from _until(lambda: app.session is not None and live.rms_text, "the first measures")
    yield 3.0  # long enough for the emulated denervated muscle's trains to be found
    trace.frozen = True
    yield 0.2
    trace.place_cursor(trace.width * 0.3, trace.height * 0.5)
    one_cursor = trace.cursor_text
    trace.place_cursor(trace.width * 0.45, trace.height * 0.5)
    two_cursors = trace.cursor_text
    yield 0.2
    sens = [w.text for w in live.walk(restrict=True) if getattr(w, "text", "").endswith("/div")]
    trace.frozen = False
    trace.mode = "triggered"
    yield 0.3
    info = app.session.info
    return {"calibrated": info.calibrated, "uv_per_count": info.uv_per_count,
            "scale": trace.scale_text, "rms": live.rms_text, "turns": live.turns_text,
            "cursors": [one_cursor, two_cursors], "sensitivity": sens,
            "findings": live.findings_text, "calibrate": live.calibrate_text,
            "proximity": live.proximity_text, "epn": live.epn_text,
            "words": _words(live), "uv_per_div": trace.uv_per_div,
            "trigger_uv": trace.trigger_uv, "mode_words": trace.mode_text,
            "source": trace.source_label}


def picker(app, args):
    """The device pickers: on the not-connected live screen, then in Settings. A device
    that does not open leaves the live and the remembered device as they were; one that
    opens becomes both."""
    from app import settings as store

    conn = app.connection
    yield from _until(lambda: conn.failures >= 1, "the first device's failure")
    out = {"start": {"uri": conn.uri, "state": conn.state,
                     "settings_device": app.settings.device,
                     "saved_device": store.load().device}}

    def outcome():
        return {"uri": conn.uri, "state": conn.state,
                "session": app.session.info.uri if app.session else None,
                "message": conn.message, "settings_device": app.settings.device,
                "saved_device": store.load().device}

    def settled(uri):
        return conn.trying is None and conn.message.startswith(f"{uri} ")

    def typed(pick, uri):
        pick.ids.other.text = uri
        tap(pick.ids.open)
        yield from _until(lambda: settled(uri), f"{uri} tried")
        yield 0.3

    live_pick = app.root.get_screen("live").ids.picker
    yield from _until(lambda: len(live_pick.ids.rows.children) > 0, "the picker's devices")
    yield 0.3  # (laid out)
    yield from typed(live_pick, args["bad"])
    out["live_bad"] = outcome()
    yield from typed(live_pick, args["good"])
    out["live_good"] = outcome()
    app.root.current = "settings"
    yield 0.3
    if app.lock is not None and app.lock.parent is not None:
        app.lock.dismiss(animation=False)  # (the records' lock: not what is tested here)
        yield 0.3
    screen = app.root.get_screen("settings")
    pick = screen.ids.picker
    yield from typed(pick, args["bad"])
    out["settings_bad"] = {**outcome(), "shown": pick.message, "text": screen.device_text}
    yield from _until(lambda: any(r.uri == args["listed"] for r in pick.ids.rows.children),
                      "the listed device")
    row = next(r for r in pick.ids.rows.children if r.uri == args["listed"])
    pick.ids.rows.parent.scroll_to(row, animate=False)  # as a person scrolls to it
    yield 0.3
    tap(row.ids.button)
    yield from _until(lambda: settled(args["listed"]), "the listed device tried")
    yield 0.3
    out["settings_listed"] = {**outcome(), "chosen": [r.uri for r in pick.ids.rows.children
                                                      if r.chosen]}
    return out


SCENARIOS = {"tree": tree, "mark": mark, "many_marks": many_marks, "unplug": unplug,
             "pedal_in_field": pedal_in_field, "layout": layout,
             "training": training, "offline": offline, "labels": labels,
             "uncalibrated": uncalibrated, "picker": picker}


def main() -> None:
    name, args = sys.argv[1], json.loads(sys.argv[2])
    window(Path(args["home"]), args.get("size", "1280x800"), args.get("density", 1.0))
    from app.ui.main import NeedlepointApp

    app = NeedlepointApp(args["device"], sound=args.get("sound", False),
                         remember=args.get("remember", False), preset=args.get("preset"))
    drive(app, SCENARIOS[name](app, args))


def window(home: Path, size: str, density: float = 1.0) -> None:
    """Kivy set up before its first import: our home, a fixed window of `size` (WxH) at
    `density` pixels per dp."""
    from app.ui.display import prepare_display
    from app.ui.env import prepare_kivy

    prepare_kivy(home)
    w, h = size.split("x")
    prepare_display(density=density, size=(int(w), int(h)))


def drive(app, scenario) -> None:
    """Run the app, stepping `scenario` (a generator yielding seconds to wait) on the Clock;
    print its result, or the error that broke it, as one RESULT line; exit at once."""
    import traceback

    from kivy.clock import Clock

    result: dict = {}

    def step(_dt):
        try:
            wait = next(scenario)
        except StopIteration as done:
            result.update(done.value or {})
            app.stop()
            return
        except Exception as e:  # report, so the parent sees what broke
            result["error"] = f"{type(e).__name__}: {e}\n{traceback.format_exc()[-2500:]}"
            app.stop()
            return
        Clock.schedule_once(step, wait)

    Clock.schedule_once(step, 0.5)
    app.run()
    print("RESULT " + json.dumps(result), flush=True)
    os._exit(0)  # PortAudio and GL teardown are not part of the test

if __name__ == "__main__":
    main()
