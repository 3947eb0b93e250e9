"""`needlepoint screenshot`: render a screen into a PNG after the signal has run a while,
with or without a display (without one, Kivy's SDL falls back to offscreen GL). The window
and the picture are app/ui/screenshot.py's. A device that cannot be opened is pictured
not connected, as the app shows it, never replaced by another."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from app.commands.errors import UsageError
from app.commands.gui import add_density, checked
from devices import DEFAULT_URI

SCREENS = ("live", "procedure", "history", "settings", "patient", "detail", "entry")
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
    add_density(p, "the screen's ppi / 160, at least 1")
    p.add_argument("--widgets", metavar="FILE.json", default=None,
                   help="also write every visible button's, label's and slider's text and "
                   "rectangle in window pixels, and the density in use")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    m = re.fullmatch(r"(\d{3,4})x(\d{3,4})", args.size)
    if not m:
        raise UsageError(f"--size {args.size}: write width x height, e.g. 1280x800")
    if not args.out.lower().endswith(".png"):
        raise UsageError(f"--out {args.out}: the screenshot is a PNG; end the name in .png")
    if not 0 < args.seconds <= 120:
        raise UsageError("--seconds must be between 0 and 120")
    checked(args.device)
    if args.widgets and not args.widgets.lower().endswith(".json"):
        raise UsageError(f"--widgets {args.widgets}: the list is JSON; end the name in .json")
    if args.screen in ("patient", "detail", "entry") and not args.demo:
        raise UsageError(f"--screen {args.screen} shows the demo patient: add --demo")
    out = Path(args.out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    from app.ui.screenshot import take

    shown = take(args.device, out, int(m[1]), int(m[2]), args.seconds, screen=args.screen,
                 preset=args.preset, trace=args.trace, demo=args.demo,
                 density=args.density,
                 widgets=Path(args.widgets).resolve() if args.widgets else None)
    print(f"wrote {out} ({m[1]}x{m[2]}, {args.screen} screen, {args.device}: {shown})")
    return 0
