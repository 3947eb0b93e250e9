"""`needlepoint emulate spikerbox`: a simulated SpikerBox on a pseudo-terminal, for trying
the app (or another program that speaks the protocol) with no hardware.

    needlepoint emulate spikerbox --hwt MUSCLESS --channels 2 --link /tmp/spikerbox

It prints the port to open and runs until Ctrl-C (or --seconds). SIGUSR1 holds the link
for --stall-ms (a USB hiccup: nothing is written meanwhile, then the backlog comes).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import time


def add_parser(sub) -> None:
    p = sub.add_parser(
        "emulate", help="a simulated amplifier on a pseudo-terminal",
        description="Run a simulated amplifier that speaks its real protocol on a "
        "pseudo-terminal, until Ctrl-C.",
    )
    kinds = p.add_subparsers(dest="emulated", metavar="{spikerbox}")
    s = kinds.add_parser(
        "spikerbox", help="a Backyard Brains SpikerBox or SpikerShield",
        description="A SpikerBox on a pseudo-terminal: frames at the board's own clock "
        "(0.5 % fast), answers to b:; ?:; c:<n>; start:; h:; board:; max:; conf ...",
    )
    s.add_argument("--hwt", default="MUSCLESS", metavar="TYPE",
                   help="hardware type the board reports (default MUSCLESS), e.g. MSBPCDC, "
                   "HUMANSB; an unknown one is answered as a generic 10-bit board")
    s.add_argument("--channels", type=int, metavar="N",
                   help="channels streamed at start (default: the board's)")
    s.add_argument("--scenario", default="denervated", metavar="NAME",
                   help="simulator scenario of the signal (default denervated)")
    s.add_argument("--link", metavar="PATH",
                   help="keep a symlink here to the current pty (stable across unplugs)")
    s.add_argument("--calibration", action="store_true",
                   help="send a 1 mV peak-to-peak 10 Hz square wave instead of EMG")
    s.add_argument("--seconds", type=float, metavar="S",
                   help="stop after S seconds (default: run until Ctrl-C)")
    s.add_argument("--seed", type=int, default=0, help="simulator seed (default 0)")
    s.add_argument("--clock-ppm", type=float, default=5000.0, metavar="PPM",
                   help="board clock error in ppm (default +5000: 0.5 %% fast)")
    s.add_argument("--pulses", type=float, metavar="S",
                   help="send silence with a sharp pulse every S seconds instead of EMG "
                   "(to time a listener)")
    s.add_argument("--writes", metavar="FILE.npy",
                   help="at the end, save every write: first frame, frames, "
                   "time.monotonic(), offset of the first frame off zero (-1: none)")
    s.add_argument("--stall-ms", type=float, default=50.0, metavar="MS",
                   help="how long SIGUSR1 holds the link (default 50)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from app.commands.errors import UsageError

    if args.emulated is None:
        raise UsageError("say what to emulate: needlepoint emulate spikerbox [options]")
    if args.seconds is not None and not (math.isfinite(args.seconds) and args.seconds > 0):
        raise UsageError(f"--seconds must be a positive number, not {args.seconds:g}")
    if args.pulses is not None and not (math.isfinite(args.pulses) and args.pulses > 0):
        raise UsageError(f"--pulses must be a positive number of seconds, not {args.pulses:g}")
    if not (math.isfinite(args.stall_ms) and 0 < args.stall_ms <= 10_000):
        raise UsageError(f"--stall-ms must be from 0 to 10000, not {args.stall_ms:g}")
    emulator = _emulator(args)
    signal.signal(signal.SIGUSR1, lambda *_: emulator.stall(args.stall_ms / 1000))
    # SIGTERM ends it as Ctrl-C does, so that --writes is saved either way.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with emulator:
        print(_banner(emulator), flush=True)
        with contextlib.suppress(KeyboardInterrupt):  # the usual way to stop it
            _wait(args.seconds)
        if args.writes:
            import numpy as np

            np.save(args.writes, emulator.writes())
    print(f"stopped after {emulator.frames_sent} frames", flush=True)
    return 0


def _emulator(args: argparse.Namespace):
    from app.commands.errors import UsageError
    from devices.simulator.scenarios import SCENARIOS
    from devices.spikerbox.emulator import Emulator
    from devices.spikerbox.profiles import profile_for_hwt

    hwt = args.hwt.strip()
    if not hwt or not hwt.isascii() or not hwt.isprintable() or any(c in hwt for c in ":;"):
        raise UsageError(f"--hwt '{args.hwt}' must be printable ASCII without ':' or ';'")
    if args.scenario not in SCENARIOS:
        raise UsageError(f"unknown --scenario '{args.scenario}'; valid: {', '.join(SCENARIOS)}")
    profile = profile_for_hwt(hwt)
    if args.channels is not None and not 1 <= args.channels <= profile.max_channels:
        raise UsageError(f"--channels {args.channels}: {profile.name} streams 1 to "
                         f"{profile.max_channels}")
    if not math.isfinite(args.clock_ppm) or abs(args.clock_ppm) > 50_000:
        raise UsageError(f"--clock-ppm {args.clock_ppm:g} is outside -50000 to 50000")
    if args.link:
        _check_link(args.link)
    return Emulator(hwt, args.channels, args.scenario, seed=args.seed, link=args.link,
                    clock_error=args.clock_ppm * 1e-6, calibration=args.calibration,
                    pulses=args.pulses)


def _check_link(path: str) -> None:
    from app.commands.errors import UsageError

    path = os.path.abspath(path)
    if os.path.lexists(path) and not os.path.islink(path):
        raise UsageError(f"--link {path} exists and is not a symlink: choose another path")
    if not os.path.isdir(os.path.dirname(path)):
        raise UsageError(f"--link {path}: the folder {os.path.dirname(path)} does not exist")


def _banner(emulator) -> str:
    p = emulator.profile
    lines = [
        f"SpikerBox emulator: HWT {emulator.hwt} ({p.name}), {emulator.channels} ch at "
        f"{emulator.fs:g} Hz nominal, {emulator.bits}-bit, clock {emulator.clock_error:+.2%}"
        + (f", a pulse every {emulator.pulses:g} s" if emulator.pulses
           else ", calibration 1 mV p-p" if emulator.calibration else f", {emulator.scenario}"),
        f"port: {emulator.port}",
    ]
    if emulator.link:
        lines.append(f"link: {emulator.link} -> {emulator.port}")
    if p.needs_start:
        lines.append("streams after the host sends start:;")
    lines.append("Ctrl-C to stop")
    return "\n".join(lines)


def _wait(seconds: float | None) -> None:
    end = math.inf if seconds is None else time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(min(0.2, max(0.0, end - time.monotonic())))
