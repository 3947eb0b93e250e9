"""A really full disk (a size-limited tmpfs): the entry held after DiskFull commits once its
EMG's size plus 64 KB is freed, whether the app retries at once or the logbook is closed and
opened again in between (a checkpoint then must not take the freed space first); the
message says how much to free; a command on a full disk says so in one line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from app.logbook import DiskFull, Logbook, demo

ROOT = Path(__file__).parents[1]
NEED = re.compile(r"free at least (\d+) KB \(this entry's EMG (\d+) KB and 64 KB more\)")


@pytest.fixture
def disk(tmp_path):
    """A 4 MB file system of its own, with 1 MB of ballast to free from later."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs",
                           str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a size-limited tmpfs here (needs root): "
                    f"{done.stderr.strip()}")
    ballast = mount / "ballast"
    ballast.write_bytes(os.urandom(1 << 20))
    yield mount, ballast
    subprocess.run(["umount", "-l", str(mount)], check=False)


def _free(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def _release(ballast: Path, nbytes: int) -> None:
    os.truncate(ballast, ballast.stat().st_size - nbytes)


def _fill(lb: Logbook):
    """Log injections with their EMG until the disk is full; the entry is then held."""
    doc, nurse = demo.users(lb)
    rec = demo.procedure(lb, sign=False, snippets=False)
    entry = {"vial_id": rec["vials"][0]["id"], "units": 1, "muscle": "splenius_capitis",
             "side": "left"}
    snippet = demo.simulated_snippet(seed=1)
    for n in range(1000):
        try:
            lb.log_injection(rec["id"], entry, nurse["id"], snippet=snippet)
        except DiskFull as e:
            found = NEED.search(str(e))
            assert found, str(e)
            return rec, entry, nurse, snippet, int(found[1]), int(found[2]), n
    raise AssertionError("the disk never filled")


def test_the_held_entry_commits_once_its_size_and_64_kb_are_freed(disk):
    mount, ballast = disk
    lb = Logbook(mount / "logbook.db")
    rec, entry, nurse, snippet, need_kb, emg_kb, logged = _fill(lb)
    assert logged > 3 and need_kb == emg_kb + 64
    assert 100 <= emg_kb <= 200  # 7 s of 20 kHz EMG, zlib level 1
    with pytest.raises(DiskFull):  # nothing freed: still full, and still says so
        lb.log_injection(rec["id"], entry, nurse["id"], snippet=snippet)
    _release(ballast, need_kb * 1024)
    lb.log_injection(rec["id"], entry, nurse["id"], snippet=snippet)
    assert len(lb.procedure(rec["id"])["injections"]) == logged + 1 + len(rec["injections"])
    assert lb.verify()["ok"]
    lb.close()


def test_closing_and_opening_again_keeps_the_freed_space_for_the_entry(disk):
    """Opening checkpoints, and SQLite checkpoints as the last connection closes: on a full
    disk either would copy the log into the database file, taking what was freed."""
    mount, ballast = disk
    path = mount / "logbook.db"
    lb = Logbook(path)
    rec, entry, nurse, snippet, need_kb, _emg_kb, logged = _fill(lb)
    size = path.stat().st_size
    lb.close()
    assert path.stat().st_size == size  # the log was not copied into the full disk
    _release(ballast, need_kb * 1024)
    free = _free(mount)
    lb = Logbook(path)
    assert _free(mount) == free  # opening took none of it
    lb.log_injection(rec["id"], entry, nurse["id"], snippet=snippet)
    lb.close()
    with Logbook(path) as lb:
        assert len(lb.procedure(rec["id"])["injections"]) == logged + 1 + len(rec["injections"])
        assert lb.verify()["ok"]
    # with room again (a bigger disk), the pauses checkpoint as before
    subprocess.run(["mount", "-o", "remount,size=16m", str(mount)], check=True)
    with Logbook(path) as lb:
        lb.checkpoint()
    assert path.stat().st_size > size


def _command(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "import sys; from app.commands import cli; "
                           "sys.exit(cli.main(sys.argv[1:]))", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_commands_on_a_full_disk_say_so_in_one_line(disk, tmp_path):
    mount, _ballast = disk
    path = mount / "logbook.db"
    lb = Logbook(path)
    _fill(lb)
    lb.close()
    for args in (["logbook", "demo"], ["logbook", "export", "--format", "pdf", "--out",
                                       str(mount / "out")],
                 ["logbook", "backup", "--out", str(mount / "copy.db")]):
        run = _command(*args, "--db", str(path))
        assert run.returncode == 2, (args, run.stdout, run.stderr)
        assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1
        assert "full" in run.stderr, run.stderr
    assert sorted(p.name for p in mount.iterdir() if not p.name.startswith("logbook.db")) \
        == ["ballast"]  # no half export, no half backup
