"""The clinic server's set-up against a real, throwaway PostgreSQL (tests/pgserver.py):
`clinic init` (migrations, once each), `clinic join` (a role of the tablet's own, its
credentials owner-only) and what a tablet's role may do, as the server enforces it: insert
its own rows, read everyone's, nothing else."""

from __future__ import annotations

import json
import secrets
import stat

import psycopg
import pytest
from psycopg import errors

from app.clinic import credentials, dsn, server
from app.clinic.errors import BadInput
from app.clinic.schema import MIGRATIONS, RECORDS, SCHEMA, tablets_group
from app.commands.cli import main
from tests import pgserver

PIN_DIGEST = "sha256:" + "ab" * 32


@pytest.fixture
def clinic(pg_server):
    """A database of its own on the session's server: the clinic administrator's DSN."""
    name = f"clinic_{secrets.token_hex(4)}"
    with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return pg_server.dsn(name)


@pytest.fixture
def ready(clinic):
    server.init(clinic)
    return clinic


def enrol(url: str, tablet: str, folder, monkeypatch) -> dict:
    """`clinic join` for `tablet` with its own NEEDLEPOINT_HOME; its clinic.json."""
    home = folder / tablet
    monkeypatch.setenv("NEEDLEPOINT_HOME", str(home))
    assert main(["clinic", "join", "--dsn", url, "--tablet", tablet]) == 0
    return credentials.read(home / credentials.NAME)


def add_user(conn, tablet: str) -> str:
    row_id = secrets.token_hex(16)
    conn.execute(f"INSERT INTO {SCHEMA}.users (id, tablet, name, role, pin_hash, created_at)"
                 " VALUES (%s, %s, 'Dr Test', 'physician', %s, '2026-12-07T10:00:00.000000Z')",
                 (row_id, tablet, PIN_DIGEST))
    return row_id


def test_init_twice_applies_each_migration_once(clinic, capsys):
    assert main(["clinic", "init", "--dsn", clinic]) == 0
    assert "applied 0001_tablets_and_records" in capsys.readouterr().out
    with psycopg.connect(clinic) as conn:
        first = conn.execute(f"SELECT name, applied_at FROM {SCHEMA}.migrations").fetchall()
    assert main(["clinic", "init", "--dsn", clinic]) == 0
    assert "up to date" in capsys.readouterr().out
    assert server.init(clinic) == []
    with psycopg.connect(clinic) as conn:
        again = conn.execute(f"SELECT name, applied_at FROM {SCHEMA}.migrations").fetchall()
        tables = {r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s", (SCHEMA,))}
        secured = {r[0] for r in conn.execute(
            "SELECT relname FROM pg_class WHERE relrowsecurity AND relnamespace = "
            "%s::regnamespace", (SCHEMA,))}
    assert again == first and [n for n, _ in first] == [n for n, _ in MIGRATIONS]
    assert tables == {*RECORDS, "tablets", "migrations"}
    assert secured == set(RECORDS)


def test_a_server_with_a_newer_schema_is_refused(ready, capsys):
    with psycopg.connect(ready) as conn:
        conn.execute(f"INSERT INTO {SCHEMA}.migrations (name) VALUES ('9999_from_the_future')")
    assert main(["clinic", "init", "--dsn", ready]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "newer than this Needlepoint" in err


def test_join_makes_a_role_of_its_own_and_an_owner_only_file(ready, tmp_path, monkeypatch,
                                                              capsys):
    creds = enrol(ready, "room-a", tmp_path, monkeypatch)
    out = capsys.readouterr()
    path = tmp_path / "room-a" / credentials.NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    password = psycopg.conninfo.conninfo_to_dict(creds["dsn"])["password"]
    assert len(password) >= 32 and password not in out.out + out.err
    assert creds["tablet"] == "room-a"
    with psycopg.connect(ready) as conn:
        role = conn.info.dbname + "_tablet_room-a"
        assert conn.execute(
            "SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls "
            "FROM pg_roles WHERE rolname = %s", (role,)).fetchone() == (
            True, False, False, False, False)
        assert conn.execute("SELECT pg_has_role(%s, %s, 'MEMBER')",
                            (role, tablets_group(conn.info.dbname))).fetchone()[0]
        assert conn.execute(f"SELECT role FROM {SCHEMA}.tablets WHERE name = 'room-a'"
                            ).fetchone() == (role,)
    # the file's DSN logs in as that role, by its password (SCRAM)
    with psycopg.connect(creds["dsn"]) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (role,)
        assert conn.execute(f"SELECT {SCHEMA}.my_tablet()").fetchone() == ("room-a",)
    # a second join from the same tablet, or another tablet taking the name, is refused
    assert main(["clinic", "join", "--dsn", ready, "--tablet", "room-b"]) == 1
    monkeypatch.setenv("NEEDLEPOINT_HOME", str(tmp_path / "elsewhere"))
    assert main(["clinic", "join", "--dsn", ready, "--tablet", "room-a"]) == 1
    assert "already" in capsys.readouterr().err
    assert not (tmp_path / "elsewhere" / credentials.NAME).exists()


def test_join_before_init_is_refused(clinic, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NEEDLEPOINT_HOME", str(tmp_path))
    assert main(["clinic", "join", "--dsn", clinic, "--tablet", "room-a"]) == 1
    assert "clinic init" in capsys.readouterr().err
    assert not (tmp_path / credentials.NAME).exists()


@pytest.fixture
def two_tablets(ready, tmp_path, monkeypatch):
    """Tablets room-a and room-b enrolled; room-b has written a user. Their DSNs, and the id."""
    a = enrol(ready, "room-a", tmp_path, monkeypatch)["dsn"]
    b = enrol(ready, "room-b", tmp_path, monkeypatch)["dsn"]
    with psycopg.connect(b) as conn:
        b_user = add_user(conn, "room-b")
    return a, b, b_user


def test_a_tablet_inserts_its_own_rows_and_reads_everyones(two_tablets):
    a, _, b_user = two_tablets
    with psycopg.connect(a) as conn:
        mine = add_user(conn, "room-a")
        conn.commit()
        rows = dict(conn.execute(f"SELECT id, tablet FROM {SCHEMA}.users").fetchall())
    assert rows == {mine: "room-a", b_user: "room-b"}


def test_a_tablet_cannot_insert_rows_as_another(two_tablets):
    a, _, _ = two_tablets
    with psycopg.connect(a) as conn, pytest.raises(errors.InsufficientPrivilege,
                                                   match="row-level security"):
        add_user(conn, "room-b")


@pytest.mark.parametrize("statement", [
    f"UPDATE {SCHEMA}.users SET name = 'Someone else' WHERE tablet = 'room-b'",
    f"DELETE FROM {SCHEMA}.users WHERE tablet = 'room-b'",
    f"UPDATE {SCHEMA}.users SET name = 'Someone else' WHERE tablet = 'room-a'",
    f"TRUNCATE {SCHEMA}.users CASCADE",
    f"UPDATE {SCHEMA}.tablets SET role = current_user WHERE name = 'room-b'",
    f"INSERT INTO {SCHEMA}.tablets (name, role) VALUES ('room-c', current_user)",
    f"CREATE TABLE {SCHEMA}.mine (x int)",
    f"ALTER TABLE {SCHEMA}.users DISABLE ROW LEVEL SECURITY",
    f"UPDATE {SCHEMA}.patient_links SET decision = 'same' WHERE tablet = 'room-b'",
    f"DELETE FROM {SCHEMA}.patient_links",
])
def test_a_tablet_changes_no_row_and_nothing_else(two_tablets, statement):
    """No UPDATE or DELETE for a tablet, of another's rows or its own, and no change to the
    tablets or the schema: the server refuses, whatever the app would have done."""
    a, _, b_user = two_tablets
    with psycopg.connect(a) as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute(statement)
    with psycopg.connect(a) as conn:
        assert conn.execute(f"SELECT name FROM {SCHEMA}.users WHERE id = %s",
                            (b_user,)).fetchone() == ("Dr Test",)


def test_the_server_keeps_pin_hashes_on_the_tablet(two_tablets):
    a, _, _ = two_tablets
    with psycopg.connect(a) as conn, pytest.raises(errors.CheckViolation):
        conn.execute(f"INSERT INTO {SCHEMA}.users (id, tablet, name, role, pin_hash, "
                     "created_at) VALUES ('x', 'room-a', 'Dr', 'nurse', "
                     "'scrypt$32768$8$1$salt$hash', '2026-12-07T10:00:00.000000Z')")


@pytest.mark.parametrize("url, code, words", [
    ("host=db.example.org dbname=clinic", 2, "sslmode=verify-full"),
    ("postgresql://admin:secret@10.0.0.5/clinic?sslmode=require", 2, "sslmode=verify-full"),
    ("host=db.example.org dbname=clinic hostaddr=127.0.0.1 user=x password=secret"
     " connect_timeout=1 port=1", 1, "cannot reach the clinic server"),
    ("this is = not a DSN", 2, "not a PostgreSQL connection string"),
])
def test_a_bad_dsn_is_one_line(url, code, words, capsys):
    assert main(["clinic", "init", "--dsn", url]) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err and "Traceback" not in err
    assert "secret" not in err


def test_a_server_that_is_not_there_is_one_line(tmp_path, capsys):
    assert main(["clinic", "init", "--dsn", f"host={tmp_path} dbname=clinic"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot reach the clinic server" in err


def test_which_hosts_go_without_tls(monkeypatch):
    for env in ("PGHOST", "PGHOSTADDR", "PGSSLMODE"):
        monkeypatch.delenv(env, raising=False)
    for url in ("dbname=clinic", "host=/run/postgresql dbname=clinic",
                "postgresql://localhost/clinic", "host=127.0.0.1", "host=::1",
                "host=db.example.org sslmode=verify-full"):
        dsn.params(url)
    for url in ("host=db.example.org", "host=db.example.org sslmode=verify-ca",
                "host=localhost,db.example.org", "host=localhost hostaddr=10.0.0.5"):
        with pytest.raises(BadInput):
            dsn.params(url)
    monkeypatch.setenv("PGHOST", "db.example.org")
    with pytest.raises(BadInput):
        dsn.params("dbname=clinic")


def test_the_credentials_file_is_json_with_the_tablets_dsn(two_tablets, tmp_path):
    data = json.loads((tmp_path / "room-a" / credentials.NAME).read_text())
    assert set(data) == {"tablet", "dsn", "database"}
    assert "_tablet_room-a" in data["dsn"]


def test_without_postgresql_the_tests_say_which_package(monkeypatch):
    monkeypatch.setattr(pgserver.shutil, "which", lambda name: None)
    monkeypatch.setattr(pgserver.glob, "glob", lambda pattern: [])
    with pytest.raises(pgserver.Unavailable, match="Debian package postgresql"):
        pgserver.bindir()


def test_the_clinic_administrator_needs_no_superuser(pg_server, tmp_path, monkeypatch):
    """init and join as the database's owner with CREATEROLE (docs/clinic.md), not a
    superuser."""
    name, password = f"clinic_{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    admin = f"{name}_admin"
    with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {admin} LOGIN CREATEROLE PASSWORD '{password}'")
        conn.execute(f"CREATE DATABASE {name} OWNER {admin}")
    url = pg_server.dsn(name, admin) + f" password={password}"
    assert server.init(url) == [n for n, _ in MIGRATIONS]
    a = enrol(url, "room-a", tmp_path, monkeypatch)["dsn"]
    with psycopg.connect(a) as conn:
        add_user(conn, "room-a")
        with pytest.raises(errors.InsufficientPrivilege):
            add_user(conn, "room-b")
