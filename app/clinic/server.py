"""The clinic server's set-up: `init` applies the schema's migrations, `join` enrols a
tablet with a PostgreSQL role of its own.

Both connect with the DSN of a clinic administrator: the owner of the database (init
creates the schema `needlepoint` in it), with CREATEROLE (the tablets' group role and each
tablet's role). Tablets never hold that DSN; each holds its own role's, in clinic.json.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

from app.clinic import credentials, dsn
from app.clinic.errors import BadInput, ClinicError, Unreachable
from app.clinic.schema import MIGRATIONS, SCHEMA, literal, quote, tablets_group

TABLET_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
# one init at a time per database, whoever runs it
_LOCK = f"SELECT pg_advisory_xact_lock(hashtext('{SCHEMA}.migrations'))"


def connect(url: str, **kw) -> psycopg.Connection:
    """A connection in autocommit (each change in an explicit transaction), or one line
    saying why there is none."""
    found = dsn.params(url)
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10,
                               application_name="needlepoint", **kw)
    except psycopg.Error as e:
        raise Unreachable(dsn.where(found), first_line(e)) from None


def first_line(e: psycopg.Error) -> str:
    """libpq's or the server's message, its first line (the server's own words when it gave
    them): never the DSN, never a password."""
    diag = getattr(e, "diag", None)
    text = (diag.message_primary if diag is not None else None) or str(e)
    return text.strip().splitlines()[0] if text.strip() else type(e).__name__


def applied(conn: psycopg.Connection) -> list[str]:
    if conn.execute("SELECT to_regclass(%s)", (f"{SCHEMA}.migrations",)).fetchone()[0] is None:
        return []
    return [r[0] for r in conn.execute(f"SELECT name FROM {SCHEMA}.migrations ORDER BY name")]


def init(url: str) -> list[str]:
    """Apply the migrations the server has not seen, each once, in one transaction with its
    record. Returns the names applied now ([] when it was up to date)."""
    known = [name for name, _ in MIGRATIONS]
    done = []
    with connect(url) as conn:
        db = conn.info.dbname
        try:
            with conn.transaction():
                conn.execute(_LOCK)
                conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
                conn.execute(f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.migrations (
                    name text PRIMARY KEY,
                    applied_at timestamptz NOT NULL DEFAULT now())""")
            _refuse_newer(applied(conn), known)
            for name, statements in MIGRATIONS:
                with conn.transaction():
                    conn.execute(_LOCK)
                    if name in applied(conn):
                        continue
                    for sql in statements(db):
                        conn.execute(sql)
                    conn.execute(f"INSERT INTO {SCHEMA}.migrations (name) VALUES (%s)",
                                 (name,))
                done.append(name)
        except psycopg.Error as e:
            raise ClinicError(f"the clinic server refused the schema: {first_line(e)}"
                              ) from None
    return done


def _refuse_newer(names: list[str], known: list[str]) -> None:
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ClinicError(f"the clinic server's schema is newer than this Needlepoint "
                          f"(migrations {', '.join(unknown)}): update Needlepoint")


def role_name(db: str, tablet: str) -> str:
    return f"{db}_tablet_{tablet}"


def join(url: str, tablet: str) -> Path:
    """Enrol `tablet`: a LOGIN role of its own (a random password, sent to the server as a
    SCRAM verifier, so the password itself never reaches it) in the tablets' group, a row in
    needlepoint.tablets, and clinic.json written owner-only. Returns clinic.json's path.
    Refused when this tablet has joined already, or the name is taken on the server."""
    if not TABLET_NAME.fullmatch(tablet):
        raise BadInput("--tablet: 1 to 32 lower-case letters, digits and -, starting with a "
                       "letter or digit")
    target = credentials.path()
    if target.exists():
        raise ClinicError(f"this tablet has joined a clinic server already ({target})")
    with connect(url) as conn:
        db = conn.info.dbname
        if applied(conn) != sorted(name for name, _ in MIGRATIONS):
            _refuse_newer(applied(conn), [name for name, _ in MIGRATIONS])
            raise ClinicError("the clinic server's schema is not set up or not up to date: "
                              "needlepoint clinic init --dsn ... first")
        role = role_name(db, tablet)
        if len(role.encode()) > 63:
            raise BadInput(f"--tablet: too long for this database's name ({db})")
        password = secrets.token_urlsafe(32)
        verifier = conn.pgconn.encrypt_password(password.encode(), role.encode(),
                                                b"scram-sha-256").decode()
        try:
            with conn.transaction():
                taken = conn.execute(f"SELECT 1 FROM {SCHEMA}.tablets WHERE name = %s",
                                     (tablet,)).fetchone()
                if taken or conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s",
                                         (role,)).fetchone():
                    raise ClinicError(f"a tablet named {tablet} is enrolled on this clinic "
                                      "server already: choose another name")
                conn.execute(f"CREATE ROLE {quote(role)} LOGIN INHERIT NOSUPERUSER NOCREATEDB "
                             f"NOCREATEROLE NOREPLICATION NOBYPASSRLS "
                             f"PASSWORD {literal(verifier)} IN ROLE {quote(tablets_group(db))}")
                conn.execute(f"INSERT INTO {SCHEMA}.tablets (name, role) VALUES (%s, %s)",
                             (tablet, role))
                # written before the commit: a failure to write it leaves no role behind
                credentials.write(target, tablet, make_conninfo(url, user=role,
                                                                password=password), db)
        except psycopg.Error as e:
            target.unlink(missing_ok=True)
            raise ClinicError(f"the clinic server refused to enrol the tablet: "
                              f"{first_line(e)}") from None
        except OSError as e:
            raise ClinicError(f"cannot write {target}: {e.strerror}") from None
    return target
