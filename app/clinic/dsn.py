"""Which connection strings the clinic code uses (issue 32, item 6): a Unix socket or this
machine (localhost, 127.0.0.1, ::1) as they are, for tests and a server on the same box;
anything else only with `sslmode=verify-full`, so that patient records cross a network
encrypted, to the server the clinic's CA vouches for. libpq's environment (PGHOST,
PGHOSTADDR, PGSSLMODE) counts where the string leaves a value out."""

from __future__ import annotations

import os

import psycopg
from psycopg.conninfo import conninfo_to_dict

from app.clinic.errors import BadInput

LOOPBACK = {"127.0.0.1", "::1"}
LOCAL_HOSTS = LOOPBACK | {"localhost"}

REMOTE = ("--dsn: a clinic server on another machine is reached only with "
          "sslmode=verify-full (and the clinic's CA as sslrootcert); a plain connection is "
          "for a Unix socket or 127.0.0.1")


def params(dsn: str) -> dict:
    """The connection string's parameters, once it is one this Needlepoint will use."""
    try:
        found = conninfo_to_dict(dsn)
    except psycopg.Error:
        raise BadInput("--dsn: not a PostgreSQL connection string or URL") from None
    if not is_local(found) and _setting(found, "sslmode", "PGSSLMODE") != "verify-full":
        raise BadInput(REMOTE)
    return found


def is_local(found: dict) -> bool:
    addrs = _setting(found, "hostaddr", "PGHOSTADDR")
    if addrs:  # libpq connects to hostaddr; host then only names the certificate
        return all(a.strip() in LOOPBACK for a in addrs.split(","))
    hosts = (_setting(found, "host", "PGHOST") or "").split(",")
    return all(h == "" or h.startswith("/") or h.startswith("@") or h in LOCAL_HOSTS
               for h in (h.strip() for h in hosts))


def _setting(found: dict, key: str, env: str) -> str | None:
    return found.get(key) or os.environ.get(env) or None


def where(found: dict) -> str:
    """Which server, in words for an error line: host (or socket folder) and database, never
    the user's password."""
    host = found.get("host") or os.environ.get("PGHOST") or "the default socket"
    return f"{host}, database {found.get('dbname') or os.environ.get('PGDATABASE') or '?'}"
