"""`needlepoint bench logbook`."""

from __future__ import annotations

import argparse


def add_parser(kinds) -> None:
    q = kinds.add_parser("logbook", help="not built yet: arrives with the logbook issue")
    q.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    q.set_defaults(func=_not_built)


def _not_built(args: argparse.Namespace) -> int:
    from app.cli import UsageError

    raise UsageError("bench logbook: not built yet: arrives with the logbook issue")
