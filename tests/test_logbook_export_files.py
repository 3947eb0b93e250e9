"""What an export leaves on disk: owner-only files (0600) in a folder only its owner opens
(0700) that the export made, never a changed mode on a folder the user chose, and nothing
at all when it fails (no half file, no .part, no empty folder); one line, never a
traceback, for a bad --out."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from app.commands import cli
from app.logbook import Logbook, demo, outdir

FORMATS = ("csv", "fhir", "edf", "pdf")


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    path = tmp_path_factory.mktemp("files") / "lb.db"
    with Logbook(path) as lb:
        demo.procedure(lb, sign=True)
    return path


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def _export(book, out, fmt) -> int:
    return cli.main(["logbook", "export", "--db", str(book), "--format", fmt, "--out",
                     str(out)])


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_new_folder_is_made_owner_only_with_owner_only_files(book, tmp_path, fmt):
    out = tmp_path / "new" / "deeper" / fmt
    os.umask(0o022)  # the usual umask: without the export's care, 0755 and 0644
    assert _export(book, out, fmt) == 0
    files = list(out.iterdir())
    assert files and {_mode(f) for f in files} == {0o600}
    assert _mode(out) == 0o700
    # the folders above it that the export made are owner-only too
    assert _mode(tmp_path / "new") == _mode(tmp_path / "new" / "deeper") == 0o700
    assert not [f for f in files if f.name.startswith(".")]


def test_an_open_folder_the_user_chose_keeps_its_mode_and_gets_a_private_one_inside(
        book, tmp_path, capsys):
    chosen = tmp_path / "shared"
    chosen.mkdir()
    os.chmod(chosen, 0o755)
    assert _export(book, chosen, "csv") == 0
    assert _mode(chosen) == 0o755
    (made,) = chosen.iterdir()
    assert made.name.startswith("needlepoint-export-") and _mode(made) == 0o700
    assert sorted(f.name for f in made.iterdir()) == ["injections.csv", "procedures.csv"]
    assert {_mode(f) for f in made.iterdir()} == {0o600}
    said = capsys.readouterr().out
    assert str(made) in said and "owner-only" in said


def test_an_owner_only_folder_takes_the_files_and_a_second_export_replaces_them(
        book, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir(mode=0o700)
    assert _export(book, mine, "fhir") == 0
    assert _export(book, mine, "fhir") == 0
    files = list(mine.iterdir())
    assert len(files) == 1 and _mode(files[0]) == 0o600 and files[0].suffix == ".json"


CHILD = """
import os, resource, signal, sys
from app.logbook import Logbook, LogbookError, export_csv, export_edf, note_pdf
db, fmt, out, limit = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
lb = Logbook(db)
records = [lb.procedure(r["id"]) for r in lb.procedures()]
users = {u["id"]: u for u in lb.users()}
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
try:
    if fmt == "edf":
        export_edf.export(lb, records, out)
    else:
        {"csv": export_csv, "pdf": note_pdf}[fmt].export(records, out, users)
except LogbookError as e:
    print(e, file=sys.stderr)
    os._exit(2)
os._exit(0)
"""


def _export_limited(book: Path, out: Path, fmt: str, max_bytes: int):
    """The export in a child whose files may not grow past max_bytes once the records are
    read (RLIMIT_FSIZE: a write past it fails with EFBIG, as a full disk fails with
    ENOSPC)."""
    return subprocess.run([sys.executable, "-c", CHILD, str(book), fmt, str(out),
                           str(max_bytes)], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).parents[1])


@pytest.mark.parametrize("fmt", ["pdf", "edf", "csv"])
def test_a_failed_export_leaves_nothing_behind(book, tmp_path, fmt):
    # the CSV: big enough for procedures.csv, not for injections.csv
    limit = {"pdf": 1_000, "edf": 200_000, "csv": 1_500}[fmt]
    out = tmp_path / "made" / fmt
    run = _export_limited(book, out, fmt, limit)
    assert run.returncode == 2, run.stdout + run.stderr
    assert run.stderr.strip().endswith("nothing was exported; free some space and try again")
    assert list(tmp_path.iterdir()) == []  # no folder, no .part, no half file

    # into a folder that exists: the same, and what was there stays
    mine = tmp_path / "mine"
    mine.mkdir(mode=0o700)
    (mine / "kept.txt").write_text("x")
    run = _export_limited(book, mine, fmt, limit)
    assert run.returncode == 2
    assert [f.name for f in mine.iterdir()] == ["kept.txt"]


def test_out_onto_a_file_is_one_line(book, tmp_path, capsys):
    target = tmp_path / "a-file"
    target.write_text("mine")
    assert _export(book, target, "csv") == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "is a file, not a folder" in err
    assert target.read_text() == "mine"


def test_a_file_system_without_modes_is_named(tmp_path):
    """A FAT stick shows every file 0755 or 0777 whatever was asked: the words for it, from
    real files whose modes read loose."""
    folder = tmp_path / "stick"
    folder.mkdir()
    f = folder / "procedures.csv"
    f.write_text("x")
    os.chmod(folder, 0o755)
    os.chmod(f, 0o755)
    said = outdir.exposure([f])
    assert "keeps no owner-only permissions" in said and "755" in said
    os.chmod(folder, 0o700)
    os.chmod(f, 0o600)
    assert outdir.exposure([f]) == ""
