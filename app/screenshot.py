"""`needlepoint screenshot`: render a screen into a PNG after the signal has run a while,
with or without a display (without one, Kivy's SDL falls back to offscreen GL)."""

from __future__ import annotations

import argparse
import os
import re
import tempfile
from pathlib import Path

from app.cli import UsageError
from devices import DEFAULT_URI, describe

SCREENS = ("live",)


def add_parser(sub) -> None:
    p = sub.add_parser("screenshot", help="render a screen into a PNG, headless")
    p.add_argument("--out", required=True, help="the PNG to write")
    p.add_argument("--device", default=DEFAULT_URI, help=f"device URI (default {DEFAULT_URI})")
    p.add_argument("--screen", default="live", choices=SCREENS)
    p.add_argument("--size", default="1280x800", help="window size WxH (default 1280x800)")
    p.add_argument("--seconds", type=float, default=3.0,
                   help="how long the signal runs before the picture (default 3)")
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
    out = Path(args.out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    take(args.device, out, int(m[1]), int(m[2]), args.seconds)
    print(f"wrote {out} ({m[1]}x{m[2]}, {args.screen} screen, {args.device})")
    return 0


def take(device: str, out: Path, width: int, height: int, seconds: float) -> None:
    from app.ui.env import prepare_kivy
    from devices.home import home

    prepare_kivy(home())
    os.environ.setdefault("KIVY_WINDOW_ICON", "")
    from kivy.config import Config

    Config.set("graphics", "width", str(width))
    Config.set("graphics", "height", str(height))
    Config.set("graphics", "resizable", "0")
    from kivy.clock import Clock

    from app.ui.main import NeedlepointApp

    app = NeedlepointApp(device, sound=False)  # a picture needs no speaker

    def shoot(_dt):
        from kivy.core.window import Window

        with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
            # Window.screenshot numbers its files (x0001.png): take it, then rename.
            made = Window.screenshot(str(Path(tmp) / "shot.png"))
            os.replace(made, out)
        app.stop()

    Clock.schedule_once(shoot, seconds)
    app.run()
