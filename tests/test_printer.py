"""Print sends the note's PDF to CUPS's `lp` where there is a printer, and otherwise says
where the file is; tried with stand-in `lp` and `lpstat` scripts first on PATH, which
record what they were given."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from app.logbook import outdir
from app.workflow import printer

LPSTAT = {  # what CUPS's lpstat says, by how the tablet is set up
    "default": ("system default destination: Ward_3\n", "printer Ward_3 is idle.\n", 0),
    "one": ("no system default destination\n", "printer Ward_3 is idle.  enabled\n", 0),
    "several": ("no system default destination\n",
                "printer Ward_3 is idle.\nprinter Office is idle.\n", 0),
    "none": ("no system default destination\n", "", 0),
    "no scheduler": ("", "", 1),
}


def stand_in(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(stat.S_IRWXU)


@pytest.fixture
def bin_dir(tmp_path, monkeypatch):
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", f"{folder}:/usr/bin:/bin")
    return folder


def with_lpstat(folder: Path, setup: str) -> None:
    d, p, rc = LPSTAT[setup]
    stand_in(folder, "lpstat", f"""case "$1" in
  -d) printf '{d}' ;;
  -p) printf '{p}' ;;
esac
[ {rc} = 0 ] || echo "lpstat: Scheduler is not running." >&2
exit {rc}
""")


def with_lp(folder: Path, exit_code: int = 0) -> Path:
    """An lp that records its arguments and a copy of the file it was given."""
    log = folder.parent / "lp-args"
    stand_in(folder, "lp", f"""printf '%s\\n' "$@" > {log}
for last; do :; done
cp "$last" {folder.parent / "printed.pdf"}
if [ {exit_code} != 0 ]; then
  echo "lp: Error - The printer or class does not exist." >&2
  echo "second line" >&2
  exit {exit_code}
fi
echo "request id is Ward_3-17 (1 file(s))"
""")
    return log


@pytest.fixture
def note(tmp_path) -> Path:
    """A note written as the export writes it: 0600 in a 0700 folder."""
    (path,) = outdir.write_all(tmp_path / "exports" / "pdf",
                               [("note.pdf", outdir.write_bytes(b"%PDF-1.4 note\n"))])
    return path


def test_sent_to_the_default_printer(bin_dir, note):
    with_lpstat(bin_dir, "default")
    log = with_lp(bin_dir)
    assert printer.send(note) == "Sent to printer Ward_3 (job id Ward_3-17)"
    assert log.read_text().splitlines() == ["-d", "Ward_3", "--", str(note)]
    assert (bin_dir.parent / "printed.pdf").read_bytes() == note.read_bytes()
    assert stat.S_IMODE(note.stat().st_mode) == 0o600  # still owner-only, still there
    assert stat.S_IMODE(note.parent.stat().st_mode) == 0o700


def test_one_queue_and_no_default_prints_there(bin_dir, note):
    with_lpstat(bin_dir, "one")
    log = with_lp(bin_dir)
    assert printer.send(note) == "Sent to printer Ward_3 (job id Ward_3-17)"
    assert log.read_text().splitlines()[:2] == ["-d", "Ward_3"]


@pytest.mark.parametrize("setup", ["none", "no scheduler"])
def test_no_printer_says_where_the_note_is(bin_dir, note, setup):
    with_lpstat(bin_dir, setup)
    log = with_lp(bin_dir)
    assert printer.send(note) == f"No printer set up on this tablet: the note is at {note}"
    assert not log.exists()  # lp was never asked


def test_several_printers_and_no_default_are_not_guessed(bin_dir, note):
    with_lpstat(bin_dir, "several")
    log = with_lp(bin_dir)
    assert printer.send(note) == ("No default printer chosen on this tablet (2 printers: "
                                  f"Ward_3, Office): the note is at {note}")
    assert not log.exists()


def test_no_lp_at_all(tmp_path, monkeypatch, note):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert printer.send(note) == f"No printer set up on this tablet: the note is at {note}"


def test_lp_failing_says_its_first_line_and_where_the_note_is(bin_dir, note):
    with_lpstat(bin_dir, "default")
    with_lp(bin_dir, exit_code=1)
    assert printer.send(note) == ("Not printed (lp: Error - The printer or class does not "
                                  f"exist.): the note is at {note}")
    assert note.exists()


def test_without_lpstat_lp_uses_its_own_default(bin_dir, note):
    log = with_lp(bin_dir)
    assert printer.send(note) == "Sent to printer Ward_3 (job id Ward_3-17)"
    assert log.read_text().splitlines() == ["--", str(note)]


def test_an_lp_that_hangs_is_given_up_on(bin_dir, note):
    with_lpstat(bin_dir, "default")
    stand_in(bin_dir, "lp", "sleep 30 &\nwait\n")  # a child of its own holds the pipes too
    said = printer.send(note, timeout=0.5)
    assert said == ("Not printed (lp did not answer in 0.5 s; the job may still print): "
                    f"the note is at {note}")


def test_send_later_answers_from_a_thread(bin_dir, note):
    with_lpstat(bin_dir, "none")
    got, done = [], threading.Event()
    t = printer.send_later(note, lambda line: (got.append(line), done.set()))
    assert done.wait(30) and t is not threading.current_thread()
    assert got == [f"No printer set up on this tablet: the note is at {note}"]
    assert os.path.exists(note)
