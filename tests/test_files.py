"""devices.files.atomic_write / atomic_path: the one way Needlepoint writes a file. All or
nothing under the final name, no temporary left behind, and the permissions asked for; and
the exports that go through it are owner-only however loose the umask."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat

import pytest

from devices.files import atomic_path, atomic_write


@contextlib.contextmanager
def umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def _mode(p) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_writes_text_and_bytes_under_the_final_name_only(tmp_path):
    with atomic_write(tmp_path / "a.txt") as f:
        f.write("héllo\n")
        assert sorted(p.name for p in tmp_path.iterdir()) != ["a.txt"]  # not yet there
    with atomic_write(tmp_path / "b.bin", binary=True) as f:
        f.write(b"\x00\x01")
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "héllo\n"
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.bin"]


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o644])
def test_creates_the_mode_asked_even_over_a_looser_file(tmp_path, mode):
    target = tmp_path / "f"
    target.write_text("old")
    target.chmod(0o666)
    with umask(0), atomic_write(target, mode) as f:
        f.write("new")
    assert _mode(target) == mode and target.read_text() == "new"


def test_the_umask_can_only_tighten(tmp_path):
    with umask(0o077), atomic_write(tmp_path / "f", 0o644) as f:
        f.write("x")
    assert _mode(tmp_path / "f") == 0o600


def test_a_failure_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "keep.json"
    target.write_text("the old contents")
    with pytest.raises(OSError, match="No space"), atomic_write(target) as f:
        f.write("half of the new")
        f.flush()
        raise OSError(28, "No space left on device")
    assert target.read_text() == "the old contents"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.json"]


def test_a_failure_with_no_old_file_leaves_nothing(tmp_path):
    with pytest.raises(ValueError), atomic_write(tmp_path / "new.pdf", binary=True) as f:
        f.write(b"%PDF-")
        raise ValueError("the writer gave up")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_rename_leaves_no_temporary(tmp_path):
    folder = tmp_path / "taken"
    folder.mkdir()
    (folder / "inside").write_text("x")  # a non-empty folder cannot be renamed over
    with pytest.raises(OSError), atomic_write(folder) as f:
        f.write("x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
    assert [p.name for p in folder.iterdir()] == ["inside"]


def test_a_path_for_writers_that_want_a_name_exists_owner_only_before_they_write(tmp_path):
    target = tmp_path / "backup.db"
    with umask(0), atomic_path(target, 0o600) as tmp:
        assert tmp.parent == tmp_path and tmp.exists() and _mode(tmp) == 0o600
        con = sqlite3.connect(tmp)
        con.execute("CREATE TABLE t (x)")
        con.commit()
        con.close()
    assert _mode(target) == 0o600
    assert sqlite3.connect(target).execute("SELECT count(*) FROM t").fetchone() == (0,)
    assert [p.name for p in tmp_path.iterdir()] == ["backup.db"]
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "other.db") as tmp:
        tmp.write_bytes(b"partial")
        raise RuntimeError("interrupted")
    assert [p.name for p in tmp_path.iterdir()] == ["backup.db"]


@pytest.mark.parametrize("kind", ["pdf", "csv", "fhir", "edf"])
def test_every_export_is_owner_only_however_loose_the_umask(tmp_path, kind):
    """Through the app's own export (the history screen's), which sets no permissions of
    its own: the files are created 0o600, never readable by others even for a moment."""
    from app.logbook import Logbook, demo
    from app.workflow.history import export

    with Logbook(tmp_path / "lb.db") as lb:
        rec = demo.procedure(lb)  # signed, with EMG snippets
        with umask(0):
            files = export(lb, rec["id"], kind, tmp_path / "out")
    assert files
    assert {p.name for p in (tmp_path / "out").iterdir()} == {p.name for p in files}
    for p in files:
        assert _mode(p) == 0o600, (p.name, oct(_mode(p)))
