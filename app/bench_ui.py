"""`needlepoint bench ui`: the live trace's own work per frame on this machine's GL."""

from __future__ import annotations

import argparse


def add_parser(kinds) -> None:
    q = kinds.add_parser("ui", help="not built yet: arrives with the live screen issue")
    q.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    q.set_defaults(func=_not_built)


def _not_built(args: argparse.Namespace) -> int:
    from app.cli import UsageError

    raise UsageError("bench ui: not built yet: arrives with the live screen issue")
