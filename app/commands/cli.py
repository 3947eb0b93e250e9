"""`needlepoint`: the command line of DESIGN.md, the headless face of the same code."""

from __future__ import annotations

import argparse
import os
import sys

from app.commands import (
    analyze,
    bench,
    calibrate,
    clinic,
    devices,
    emulate,
    gui,
    listen,
    logbook,
    record,
    screenshot,
)
from app.commands.errors import UsageError
from devices import DeviceError

COMMANDS = (devices, gui, analyze, record, screenshot, bench, emulate, calibrate, listen,
            logbook, clinic)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="needlepoint",
        description="EMG-guided injections: hear, see and log needle EMG.",
    )
    sub = p.add_subparsers(dest="command")

    for command in COMMANDS:
        command.add_parser(sub)
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
    sys.exit(main())
