"""`needlepoint`: the command line of DESIGN.md, the headless face of the same code."""

from __future__ import annotations

import argparse
import json
import os
import sys

from devices import DeviceError


class UsageError(Exception):
    """Bad input on the command line or in a file: one clear line, exit 2."""


def _cmd_devices(args: argparse.Namespace) -> int:
    from devices import discover

    infos = discover()
    if args.json:
        print(json.dumps([i.as_dict() for i in infos], indent=2))
        return 0
    rows = [("URI", "KIND", "RATE", "CH", "SCALE", "PATIENT USE")]
    for i in infos:
        scale = "calibrated" if i.calibrated else "UNCALIBRATED"
        rows.append((i.uri, i.kind, f"{i.fs:g} Hz", str(i.channels), scale,
                     _isolation_words(i)))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
    print("\nAlso: file:<path> replays a recording (.edf .bdf .wav .hea); "
          "sim:<scenario>?seed=3&fs=20000 sets simulator options;\n"
          "spikerbox:auto or spikerbox:<port> opens a SpikerBox-family board (NOT isolated "
          "for patient connection); soundcard:<index or name>?uv_per_fs=... a preamp into "
          "a sound card.")
    return 0


def _isolation_words(info) -> str:
    from devices import Isolation

    if info.isolation is Isolation.NOT_APPLICABLE:
        return "no electrode"
    if info.isolation.patient_rated:
        return f"rated ({info.isolation.value})"
    if info.isolation is Isolation.UNKNOWN:
        return "NOT DECLARED"
    return "NOT FOR PATIENTS"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="needlepoint",
        description="EMG-guided injections: hear, see and log needle EMG.",
    )
    sub = p.add_subparsers(dest="command")

    d = sub.add_parser("devices", help="what can be opened now")
    d.add_argument("--json", action="store_true", help="print JSON instead of a table")
    d.set_defaults(func=_cmd_devices)

    from app import analyze, bench, calibrate, emulate, gui, listen, record, screenshot

    gui.add_parser(sub)
    analyze.add_parser(sub)
    record.add_parser(sub)
    screenshot.add_parser(sub)
    bench.add_parser(sub)
    emulate.add_parser(sub)
    calibrate.add_parser(sub)
    listen.add_parser(sub)

    from app.logbook import cli as logbook_cli

    logbook_cli.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["gui"])
    if not hasattr(args, "func"):
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except (DeviceError, UsageError) as e:
        print(f"needlepoint: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`needlepoint analyze f | head`): stop quietly, and keep
        # Python from complaining again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    # `python -m app.cli`: run the module the subcommands import (app.cli), not this copy
    # (__main__), so that the UsageError they raise is the one main() catches.
    from app.cli import main as _main

    sys.exit(_main())
