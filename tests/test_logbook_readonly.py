"""list, show, lot, verify, export and backup open the logbook read-only and never write
it, and read it on read-only media (a tmpfs remounted read-only, as root; skipped
otherwise), its write-ahead log included; what would write says so in one line."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from app.logbook import Logbook, demo
from tests.test_logbook_migrations import _load

ROOT = Path(__file__).parents[1]


def _command(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "import sys; from app.commands import cli; "
                           "sys.exit(cli.main(sys.argv[1:]))", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def _state(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def _one_line(run, *words) -> None:
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1
    for w in words:
        assert w in run.stderr, run.stderr


@pytest.fixture
def medium(tmp_path):
    mount = tmp_path / "medium"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def _read_only(mount: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)


@pytest.mark.parametrize("unclosed", [False, True], ids=["closed", "killed-with-a-log"])
def test_reading_jobs_work_on_read_only_media_and_change_nothing(medium, tmp_path, unclosed):
    path = medium / "logbook.db"
    code = ("import os, signal, sys; from app.logbook import Logbook, demo; "
            "lb = Logbook(sys.argv[1]); demo.procedure(lb); demo.procedure(lb, sign=False); "
            + ("os.kill(os.getpid(), signal.SIGKILL)" if unclosed else "lb.close()"))
    run = subprocess.run([sys.executable, "-c", code, str(path)], cwd=ROOT)
    assert run.returncode == (-signal.SIGKILL if unclosed else 0)
    assert Path(f"{path}-wal").exists() == unclosed  # killed: records only in the log
    _read_only(medium)
    before = _state(medium)
    db = ["--db", str(path)]
    listed = _command("logbook", "list", *db)
    assert listed.returncode == 0 and listed.stdout.count("DEMO-") == 2, listed.stderr
    first = listed.stdout.splitlines()[1].split()[0]
    assert _command("logbook", "show", first, *db).returncode == 0
    verified = _command("logbook", "verify", *db)
    assert verified.returncode == 0 and ": OK" in verified.stdout, verified.stderr
    out = tmp_path / "out"
    assert _command("logbook", "export", "--format", "fhir", "--out", str(out),
                    *db).returncode == 0
    assert len(list(out.iterdir())) == 2
    assert _command("logbook", "backup", "--out", str(tmp_path / "copy.db"),
                    *db).returncode == 0
    assert _state(medium) == before  # not a byte written, no file added

    # what would write says so, in one line
    _one_line(_command("logbook", "demo", *db), "read-only media")
    _one_line(_command("logbook", "export", "--format", "csv", "--out",
                       str(medium / "exports"), *db), "read-only", "nothing was exported")
    _one_line(_command("logbook", "restore", str(tmp_path / "copy.db"), *db),
              "read-only media", "nothing was changed")
    assert _state(medium) == before


def test_verify_of_an_empty_file_says_so_and_leaves_it_empty(tmp_path):
    empty = tmp_path / "empty.db"
    empty.touch()
    _one_line(_command("logbook", "verify", "--db", str(empty)), "is empty")
    assert empty.stat().st_size == 0 and [p.name for p in tmp_path.iterdir()] == ["empty.db"]


def test_an_older_logbook_is_verified_as_it_is_and_not_brought_forward(tmp_path):
    path = _load("0003_snippet_source", tmp_path)
    before = _state(path.parent)
    run = _command("logbook", "verify", "--db", str(path))
    assert run.returncode == 0 and "0003_snippet_source" in run.stdout, run.stderr
    assert "0004" not in run.stdout
    _one_line(_command("logbook", "list", "--db", str(path)), "older schema")
    assert {k: v for k, v in _state(path.parent).items() if k == path.name} == \
        {path.name: before[path.name]}
    with Logbook(path) as lb:  # opened to write, it is brought forward as before
        assert lb.verify()["ok"]


def test_a_reading_logbook_refuses_to_write(tmp_path):
    path = tmp_path / "lb.db"
    with Logbook(path) as lb:
        demo.users(lb)
    with Logbook(path, readonly=True) as lb, pytest.raises(Exception, match="readonly"):
        lb.db.execute("INSERT INTO users (id) VALUES ('x')")
    assert os.path.getsize(path) > 0
