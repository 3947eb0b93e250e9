"""`needlepoint`: the command line of DESIGN.md, the headless face of the same code."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from app.commands.errors import UsageError
from devices import DeviceError

# Each command's module, imported only for the command asked for: a command's module may
# pull in the filters, the analyser and scipy (a second of start-up) that `logbook list`
# never needs. `needlepoint --help` (or no command: the app) builds them all.
COMMANDS = ("devices", "gui", "analyze", "record", "screenshot", "bench", "emulate",
            "calibrate", "listen", "logbook", "clinic")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="needlepoint",
        description="EMG-guided injections: hear, see and log needle EMG.",
    )
    sub = p.add_subparsers(dest="command")

    for name in COMMANDS:
        if only is None or name == only:
            importlib.import_module(f"app.commands.{name}").add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    first = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(first if first in COMMANDS else None)
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
