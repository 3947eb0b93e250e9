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


# the CSV: what a spreadsheet would run, and what a clinic asks for ------------------------

def _csv_book(tmp_path):
    """A procedure whose typed text starts like formulas, with an overridden warning, a
    vial with waste, and staff by name."""
    lb = Logbook(tmp_path / "csv.db")
    doc, nurse = demo.users(lb)
    pt = lb.add_patient({"mrn": "-MRN-77", "family_name": "=HYPERLINK(\"http://x\",\"y\")",
                         "given_name": "Łucja Zoë", "birth_date": "1970-03-02",
                         "sex": "female", "weight_kg": 70}, by=nurse["id"])
    proc = lb.start_procedure({"patient_id": pt["id"], "kind": "botulinum",
                               "indication": "+cervical dystonia", "physician_id": doc["id"],
                               "nurse_id": nurse["id"], "notes": "@SUM(A1:A9)",
                               "timeout": {"identity": True, "consent": True, "side": True}},
                              by=nurse["id"])
    vial = lb.add_vial(proc["id"], {"product": "onabotulinumtoxinA", "vial_units": 100,
                                    "diluent_ml": 2, "lot": "\tC77", "expiry": "2099-01",
                                    "reconstituted_at": proc["started_at"],
                                    "units_wasted": 5}, by=nurse["id"])
    lb.log_injection(proc["id"], {"vial_id": vial["id"], "units": 60,
                                  "muscle": "biceps_brachii", "side": "left",
                                  "adverse_event": "\rnone"}, nurse["id"],
                     overrides={"per_site_max": "=large muscle, deliberate"},
                     override_by=doc["id"])
    return lb, lb.procedure(proc["id"]), {u["id"]: u for u in lb.users()}


def _rows(path):
    import csv

    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_csv_cells_that_a_spreadsheet_would_run_are_made_text(tmp_path):
    from app.logbook import export_csv

    lb, rec, users = _csv_book(tmp_path)
    with lb:
        procs, injs = export_csv.export([rec], tmp_path / "out", users)
    (p,), (i,) = _rows(procs), _rows(injs)
    assert p["family_name"] == "'=HYPERLINK(\"http://x\",\"y\")"
    assert p["mrn"] == "'-MRN-77" and p["indication"] == "'+cervical dystonia"
    assert p["notes"] == "'@SUM(A1:A9)"
    # the boundary trims a typed tab or carriage return away; were one stored, the same
    assert i["lot"] == "C77" and export_csv.guard("\tC77") == "'\tC77"
    assert export_csv.guard("\rnone") == "'\rnone" and export_csv.guard(-3.5) == -3.5
    assert i["override_reasons"].startswith("per_site_max: =large muscle")  # not at the start
    # numbers as they are; text that starts harmlessly as it is
    assert i["units"] == "60.0" and p["weight_kg"] == "70.0" and p["given_name"] == "Łucja Zoë"
    assert not any(v.startswith(("=", "+", "-", "@", "\t", "\r"))
                   for row in (p, i) for v in row.values())


def test_the_identified_csv_has_what_a_clinic_asks_for(tmp_path):
    from app.logbook import export_csv

    lb, rec, users = _csv_book(tmp_path)
    with lb:
        procs, injs = export_csv.export([rec], tmp_path / "out", users)
    (p,), (i,) = _rows(procs), _rows(injs)
    doc = users[rec["physician_id"]]["name"]
    assert (p["given_name"], p["birth_date"], p["sex"], p["age_years"]) == (
        "Łucja Zoë", "1970-03-02", "female", str(_age_now(rec)))
    assert p["physician"] == doc and p["nurse"] == users[rec["nurse_id"]]["name"]
    assert p["override_reasons"] == f"per_site_max: =large muscle, deliberate ({doc})"
    assert (i["vial_strength"], i["diluent_ml"], i["concentration"], i["units_wasted"]) == (
        "100 U", "2.0", "50 U/mL", "5.0")
    assert i["reconstituted_at"] == rec["vials"][0]["reconstituted_at"]


def _age_now(rec):
    import datetime

    d = datetime.date.fromisoformat(rec["started_at"][:10])
    return d.year - 1970 - ((d.month, d.day) < (3, 2))


def test_the_pseudonymised_csv_leaves_out_exactly_what_it_names(tmp_path, capsys):
    lb, rec, users = _csv_book(tmp_path)
    lb.close()
    out = tmp_path / "pseudo"
    assert cli.main(["logbook", "export", "--db", str(tmp_path / "csv.db"), "--format",
                     "csv", "--pseudonymise", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "left out mrn, family_name, given_name, birth_date" in said
    text = "".join(f.read_text() for f in out.iterdir())
    for identifying in ("MRN-77", "HYPERLINK", "Łucja", "1970-03-02"):
        assert identifying not in text
    (p,) = _rows(out / "procedures.csv")
    assert p["patient_id"] == rec["patient_id"] and p["age_years"] == str(_age_now(rec))
    assert not {"mrn", "family_name", "given_name", "birth_date"} & set(p)
    notes = (out / "export-notes.txt").read_text()
    assert "Dropped from procedures.csv: mrn, family_name, given_name, birth_date." in notes
    assert "indication, notes, adverse_event" in notes
    assert {stat.S_IMODE(f.stat().st_mode) for f in out.iterdir()} == {0o600}
    assert cli.main(["logbook", "export", "--db", str(tmp_path / "csv.db"), "--format",
                     "pdf", "--pseudonymise", "--out", str(tmp_path / "x")]) == 2


# what the close step and History say after an export (one wording for both screens) ------

def test_the_screens_name_the_folder_the_files_are_in_and_a_file_system_without_modes(
        book, tmp_path, monkeypatch):
    from app.workflow import history

    with Logbook(book, readonly=True) as lb:
        pid = lb.procedures()[0]["id"]
        # a new folder: the export makes it, and the words name it
        out = tmp_path / "exports" / "csv"
        said = history.export_message(lb, pid, "csv", out)
        assert said == f"CSV: {len(list(out.iterdir()))} file(s) in {out}"
        # a shared folder: the words name the private folder made inside, not the parent
        shared = tmp_path / "shared"
        shared.mkdir()
        os.chmod(shared, 0o755)
        said = history.export_message(lb, pid, "fhir", shared)
        (made,) = shared.iterdir()
        assert said == f"FHIR: 1 file(s) in {made}" and _mode(made) == 0o700
        # a file system that keeps no modes (as a FAT stick shows them): the note follows
        monkeypatch.setattr(outdir, "FOLDER_MODE", 0o755)
        monkeypatch.setattr(outdir, "FILE_MODE", 0o755)
        stick = tmp_path / "stick" / "pdf"
        said = history.export_message(lb, pid, "pdf", stick)
        assert said.startswith(f"PDF: 1 file(s) in {stick} note: the file system at {stick} "
                               "keeps no owner-only permissions (it shows mode 755")
        # a failure says why in one line
        (tmp_path / "a-file").write_text("mine")
        said = history.export_message(lb, pid, "csv", tmp_path / "a-file")
        assert said.startswith("Export failed: ") and "not a folder" in said
        assert "\n" not in said
