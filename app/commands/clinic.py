"""`needlepoint clinic ...`: the clinic server (PostgreSQL) that the tablets sync through.

    needlepoint clinic init --dsn URL                 create or bring forward its schema
    needlepoint clinic join --dsn URL --tablet NAME   enrol this tablet (clinic.json, 0600)
    needlepoint clinic sync [--db PATH]               push this tablet's logbook, then pull the
                                                      other tablets' records into it, once
    needlepoint clinic status [--db PATH]             what waits to push; tablets last seen
    needlepoint clinic verify --dsn URL               every tablet's audit chain on the server

URL is a libpq connection string or postgresql:// URL of the clinic's administrator: a
Unix socket or this machine as it is, any other host only with sslmode=verify-full. Every
failure is one line, never a traceback: a refused connection string or name exits 2, an
unreachable or refusing server 1. Nothing here prints a password.
"""

from __future__ import annotations

import sys

from app.clinic import credentials, pull, server, status, sync, verify
from app.clinic.errors import BadInput, ClinicError
from app.logbook import Logbook, LogbookError


def add_parser(sub) -> None:
    p = sub.add_parser("clinic", help="the clinic server the tablets sync through: init, join, "
                       "sync, status, verify",
                       description="The clinic's PostgreSQL server (docs/clinic.md).")
    jobs = p.add_subparsers(dest="job", metavar="{init,join,sync,status,verify}")
    jobs.required = True
    i = jobs.add_parser("init", help="create the server's schema, or bring it forward "
                        "(idempotent)")
    i.add_argument("--dsn", required=True, metavar="URL", help="the clinic administrator's "
                   "connection string")
    i.set_defaults(func=run_init)
    j = jobs.add_parser("join", help="enrol this tablet: a server role of its own, kept in "
                        "clinic.json (owner-only) in NEEDLEPOINT_HOME")
    j.add_argument("--dsn", required=True, metavar="URL", help="the clinic administrator's "
                   "connection string")
    j.add_argument("--tablet", required=True, metavar="NAME", help="this tablet's name "
                   "(room-2: lower-case letters, digits and -)")
    j.set_defaults(func=run_join)
    s = jobs.add_parser("sync", help="push this tablet's logbook to the clinic server once, "
                        "in commit order, then pull every other tablet's records into it (a "
                        "retried sync changes nothing)")
    st = jobs.add_parser("status", help="what this tablet has waiting to push and when each "
                         "tablet was last seen by the clinic server")
    for job, run in ((s, run_sync), (st, run_status)):
        job.add_argument("--db", metavar="PATH", help="the logbook file (default: "
                         "$NEEDLEPOINT_HOME/logbook.db)")
        job.set_defaults(func=run)
    v = jobs.add_parser("verify", help="check every tablet's audit chain on the clinic server "
                        "(the clinic administrator): exit 0 if all hold, 1 otherwise")
    v.add_argument("--dsn", required=True, metavar="URL", help="the clinic administrator's "
                   "connection string")
    v.set_defaults(func=run_verify)


def _one_line(job):
    def run(args) -> int:
        try:
            return job(args)
        except BadInput as e:
            print(f"needlepoint: {e}", file=sys.stderr)
            return 2
        except (ClinicError, LogbookError) as e:
            print(f"needlepoint: {e}", file=sys.stderr)
            return 1
    return run


@_one_line
def run_init(args) -> int:
    done = server.init(args.dsn)
    if done:
        print(f"clinic server ready: applied {', '.join(done)}")
    else:
        print("clinic server up to date: nothing to apply")
    return 0


@_one_line
def run_join(args) -> int:
    path = server.join(args.dsn, args.tablet)
    print(f"tablet {args.tablet} enrolled; its credentials are in {path} (owner-only)")
    return 0


def _this_tablet(args) -> tuple[dict, Logbook]:
    """This tablet's clinic credentials and its logbook, opened to be read."""
    return credentials.read(credentials.path()), Logbook(args.db, readonly=True)


@_one_line
def run_sync(args) -> int:
    creds = credentials.read(credentials.path())
    with Logbook(args.db, create=False) as lb:  # the pull writes into it
        done = sync.push(lb, creds)
        print(f"pushed to the clinic server as {creds['tablet']}: {done.entries} audit "
              f"entries, {done.rows} rows, {done.emg} EMG samples; nothing waiting")
        try:
            got = pull.pull(lb, creds)
        except pull.PullRefused as e:
            print(_pulled_line(e.pulled))
            raise
        got.emg = pull.pull_emg(lb, creds)
    print(_pulled_line(got))
    return 0


def _pulled_line(got: pull.Pulled) -> str:
    waiting = (f"; {got.waiting} entries wait for another tablet's rows (next sync)"
               if got.waiting else "")
    return (f"pulled from {len(got.tablets)} other tablet{'' if len(got.tablets) == 1 else 's'}: "
            f"{got.entries} audit entries, {got.rows} rows, {got.emg} EMG samples{waiting}")


@_one_line
def run_status(args) -> int:
    creds, book = _this_tablet(args)
    with book as lb:
        found = status.status(lb, creds)
    print("\n".join(found.lines()))
    return 0 if found.why is None else 1


@_one_line
def run_verify(args) -> int:
    found = verify.chains(args.dsn)
    for chain in found:
        print(chain.line())
    if not found:
        print("no tablet has joined this clinic server")
    return 0 if all(c.problem is None for c in found) else 1
