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
    p.add_argument("--fullscreen", action="store_true",
                   help="fill the screen, as on a tablet (default: the settings' choice, "
                   "else a window maximised to the screen)")
    add_density(p, "the settings' density, else the screen's ppi / 160, at least 1")
    p.set_defaults(func=run)


def add_density(p, default: str) -> None:
    """`--density D`, checked as the app checks it (0.75-4), for gui and screenshot."""
    from app.ui.display import check_density

    def density(text: str) -> float:
        try:
            value = float(text)
            return value if value == 0 else check_density(value)  # 0: the screen's
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    p.add_argument("--density", type=density, default=None, metavar="D",
                   help=f"pixels per dp, 1 for 160 ppi (default: {default})")


def run(args: argparse.Namespace) -> int:
    from app.ui.env import has_display, prepare_kivy

    if args.device:
        checked(args.device)
    if not has_display():
        return headless(args.device or DEFAULT_URI)
    from app import settings as settings_store
    from app.commands.errors import UsageError
    from app.ui.display import prepare_display

    saved = settings_store.load()
    prepare_kivy(home())
    try:
        density, source = prepare_display(density=args.density or saved.density or None,
                                          fullscreen=args.fullscreen or saved.fullscreen)
    except ValueError as e:  # the settings file's density: --density is checked already
        raise UsageError(f"the settings' density: {e}") from None
    print(f"needlepoint: density {density:g} ({source})" if density
          else f"needlepoint: density: {source}'s own")
    from app.ui.main import NeedlepointApp

    NeedlepointApp(args.device, status=args.status, syncer=clinic_syncer()).run()
    return 0


def clinic_syncer():
    """The clinic sync, on a tablet that has joined a clinic (clinic.json in the home
    folder), else None. The app starts it once its logbook is open and stops it at exit."""
    from app.clinic import background
    from app.logbook import default_path

    return background.Syncer(default_path()) if background.joined() else None


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
