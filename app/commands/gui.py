"""`needlepoint gui`: the tablet app, or on a machine with no display, what works headless."""

from __future__ import annotations

import argparse

from devices import DEFAULT_URI, DeviceError, UnknownDevice, describe
from devices.files import home  # database, settings, recordings, Kivy's own folder


def add_parser(sub) -> None:
    p = sub.add_parser("gui", help="the tablet app (the default)")
    p.add_argument("--device", default=None, metavar="URI",
                   help=f"device URI (default: the last one used, else {DEFAULT_URI})")
    p.add_argument("--status", action="store_true",
                   help="print the sound's delay and underruns each second on the terminal "
                   "(as listen does), and the GL renderer once")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from app.ui.env import has_display, prepare_kivy

    if args.device:
        checked(args.device)
    if not has_display():
        return headless(args.device or DEFAULT_URI)
    prepare_kivy(home())
    from app.ui.main import NeedlepointApp

    NeedlepointApp(args.device, status=args.status).run()
    return 0


def checked(uri: str) -> None:
    """A URI that cannot name a device (unknown scheme, scenario or option) fails here, with
    its message, before any window. One that names a device not there now (no board
    plugged in) is the app's to show: not connected, tried again, never another in its
    place."""
    try:
        describe(uri)
    except UnknownDevice:
        raise
    except DeviceError:
        pass


def headless(device: str) -> int:
    from app.commands import analyze, record

    out = home() / "recordings" / "demo.edf"
    shot = home() / "screenshots" / "live.png"
    print("needlepoint: no display here (DISPLAY and WAYLAND_DISPLAY are unset), so the "
          "tablet window cannot open.\n"
          "What works without a display:\n"
          "  needlepoint devices                       what can be opened now\n"
          "  needlepoint record --device sim:denervated --seconds 10 --out d.edf\n"
          "  needlepoint analyze d.edf [--json]        name the activity in a recording\n"
          "  needlepoint listen --device sim:denervated --out d.wav   the speaker's sound, "
          "as a WAV\n"
          "  needlepoint logbook demo; needlepoint logbook list   procedure records\n"
          f"  needlepoint screenshot --out {shot}   the live screen, rendered offscreen\n"
          "  (in a checkout) .venv/bin/python -m tools.figures scenarios docs/scenarios   one "
          "PNG per simulator scenario\n"
          "  needlepoint emulate spikerbox --link /tmp/spikerbox   a SpikerBox on a pty, "
          "then record --device spikerbox:/tmp/spikerbox\n"
          f"Recording 5 s of {device} into {out} and analysing it, as a demonstration:")
    out.parent.mkdir(parents=True, exist_ok=True)
    code = record.run(argparse.Namespace(device=device, seconds=5.0, out=str(out),
                                         realtime=False))
    if code:
        return code
    return analyze.run(argparse.Namespace(file=str(out), json=False, channel=0, mains=None,
                                          uv_fs=None))
