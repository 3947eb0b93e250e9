"""`needlepoint screenshot`: render a screen into a PNG after the signal has run a while,
with or without a display (without one, Kivy's SDL falls back to offscreen GL)."""

from __future__ import annotations

import argparse
import os
import re
import tempfile
from pathlib import Path

from app.commands.errors import UsageError
from devices import DEFAULT_URI, describe

SCREENS = ("live", "procedure", "history", "settings", "patient", "detail")
TRACE_MODES = ("sweep", "cascade", "triggered", "frozen")


def add_parser(sub) -> None:
    p = sub.add_parser("screenshot", help="render a screen into a PNG, headless")
    p.add_argument("--out", required=True, help="the PNG to write")
    p.add_argument("--device", default=DEFAULT_URI, help=f"device URI (default {DEFAULT_URI})")
    p.add_argument("--screen", default="live", choices=SCREENS)
    p.add_argument("--size", default="1280x800", help="window size WxH (default 1280x800)")
    p.add_argument("--seconds", type=float, default=3.0,
                   help="how long the signal runs before the picture (default 3)")
    p.add_argument("--preset", default="spontaneous",
                   choices=("botulinum", "trigger_point", "spontaneous"),
                   help="the task preset on the live screen (default spontaneous)")
    p.add_argument("--trace", default="sweep", choices=TRACE_MODES,
                   help="display mode of the trace (frozen: frozen with two cursors)")
    p.add_argument("--demo", action="store_true",
                   help="on a throwaway logbook holding the demo procedure (needlepoint "
                   "logbook demo), signed in as its physician: the record screens as used")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    m = re.fullmatch(r"(\d{3,4})x(\d{3,4})", args.size)
    if not m:
        raise UsageError(f"--size {args.size}: write width x height, e.g. 1280x800")
    if not args.out.lower().endswith(".png"):
        raise UsageError(f"--out {args.out}: the screenshot is a PNG; end the name in .png")
    if not 0 < args.seconds <= 120:
        raise UsageError("--seconds must be between 0 and 120")
    describe(args.device)
    if args.screen in ("patient", "detail") and not args.demo:
        raise UsageError(f"--screen {args.screen} shows the demo patient: add --demo")
    out = Path(args.out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    take(args.device, out, int(m[1]), int(m[2]), args.seconds, screen=args.screen,
         preset=args.preset, trace=args.trace, demo=args.demo)
    print(f"wrote {out} ({m[1]}x{m[2]}, {args.screen} screen, {args.device})")
    return 0


def take(device: str, out: Path, width: int, height: int, seconds: float, *,
         screen: str = "live", preset: str = "spontaneous", trace: str = "sweep",
         demo: bool = False) -> None:
    from app.ui.env import prepare_kivy
    from devices.files import home

    prepare_kivy(home())
    os.environ.setdefault("KIVY_WINDOW_ICON", "")
    from kivy.config import Config

    Config.set("graphics", "width", str(width))
    Config.set("graphics", "height", str(height))
    Config.set("graphics", "resizable", "0")
    from kivy.clock import Clock

    from app.ui.main import NeedlepointApp

    # A picture needs no speaker, and must not become the tablet's remembered settings.
    app = NeedlepointApp(device, sound=False, preset=preset, remember=False)

    signed_in = _demo_logbook() if demo else None

    def arrange(_dt):
        app.root.get_screen("live").ids.trace.mode = "sweep" if trace == "frozen" else trace
        if signed_in is not None and app.access is not None:
            app.access.sign_in(signed_in, DEMO_PIN)
            app._signed_in()
        # patient: the demo patient's timeline and charts; detail: its procedure's
        # injections with their EMG snippets (both on the history screen, --demo only).
        app.root.current = "history" if screen in ("patient", "detail") else screen
        if screen in ("patient", "detail") and app.lb is not None:
            history = app.root.get_screen("history")
            proc = app.lb.procedures(limit=1)[0]
            history.open_patient(proc["patient_id"])
            if screen == "detail":
                history.open_procedure(proc["id"])
                first = app.lb.procedure(proc["id"])["injections"][0]
                history.open_snippet(first["id"])

    def freeze(_dt):
        # Frozen with two cursors a few divisions apart, as a physician measures.
        t = app.root.get_screen("live").ids.trace
        t.frozen = True
        t.place_cursor(t.width * 0.3, t.height * 0.5)
        t.place_cursor(t.width * 0.45, t.height * 0.5)

    def shoot(_dt):
        from kivy.core.window import Window

        with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
            # Window.screenshot numbers its files (x0001.png): take it, then rename.
            made = Window.screenshot(str(Path(tmp) / "shot.png"))
            os.replace(made, out)
        app.stop()

    Clock.schedule_once(arrange, 0)
    if trace == "frozen":
        Clock.schedule_once(freeze, max(seconds - 0.5, 0.1))
    Clock.schedule_once(shoot, seconds)
    app.run()


DEMO_PIN = "1234"  # app.logbook.demo's physician


def _demo_logbook() -> str:
    """A fresh home holding the demo procedure; returns the demo physician's id."""
    from app.logbook import Logbook, demo

    home = tempfile.mkdtemp(prefix="needlepoint-screenshot-")
    os.environ["NEEDLEPOINT_HOME"] = home  # read when the app opens its logbook
    lb = Logbook(Path(home) / "logbook.db")
    try:
        demo.procedure(lb)
        return next(u["id"] for u in lb.users() if u["role"] == "physician")
    finally:
        lb.close()
