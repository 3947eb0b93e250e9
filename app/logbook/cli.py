"""`needlepoint logbook ...`: record-keeping jobs from the command line."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser("logbook", help="procedure records (arrives with the logbook issue)")
    p.set_defaults(func=_not_built)


def _not_built(args: argparse.Namespace) -> int:
    from app.cli import UsageError

    raise UsageError("logbook: not built yet: arrives with the logbook issue")
