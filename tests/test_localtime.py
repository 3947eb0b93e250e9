"""Times as a person reads them: the tablet's local time with its offset from UTC, on the
History screen's lines, the lot recall, the PDF note and the command line's text, while
the logbook and the data exports (CSV, FHIR, JSON) keep UTC. Run in New York, so local
and UTC differ by hours and, late in the evening, by a day."""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.logbook import Logbook, demo, localtime, note_pdf
from app.workflow import history

ROOT = Path(__file__).resolve().parent.parent
# 03:30 UTC on the 1st is 22:30 on 30 November in New York (EST, UTC-05:00)
STARTED = datetime.datetime(2026, 12, 1, 3, 30, tzinfo=datetime.UTC)


@contextlib.contextmanager
def tz(name: str):
    """The process's zone is `name` (as the tablet's TZ would be), then as it was."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = name
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()


@pytest.fixture
def new_york():
    with tz("America/New_York"):
        yield


@pytest.fixture
def record(tmp_path, new_york):
    with Logbook(tmp_path / "lb.db") as lb:
        rec = demo.procedure(lb, snippets=False, started=STARTED)
        demo.amendment(lb, rec["id"])
        users = {u["id"]: u for u in lb.users()}
        yield lb, lb.procedure(rec["id"]), users


def test_the_three_forms_carry_the_offset_in_force_then(new_york):
    assert localtime.date_time("2026-12-08T03:30:12.000000Z") == "2026-12-07 22:30 (UTC-05:00)"
    assert localtime.date_time("2026-12-08T03:30:12.000000Z", seconds=True) == \
        "2026-12-07 22:30:12 (UTC-05:00)"
    assert localtime.time_of_day("2026-07-01T13:05:00.000000Z") == "09:05 (UTC-04:00)"  # EDT
    assert localtime.date("2026-12-08T03:30:12.000000Z") == "2026-12-07"  # the local day
    assert localtime.date(None) == "-" and localtime.time_of_day("", missing="?") == "?"
    with tz("Asia/Kolkata"):  # half-hour offsets are written whole
        assert localtime.time_of_day("2026-12-08T03:30:00Z") == "09:00 (UTC+05:30)"
    with tz("UTC"):
        assert localtime.date_time("2026-12-08T03:30:00Z") == "2026-12-08 03:30 (UTC+00:00)"


def test_history_lines_are_local_with_the_zone(record):
    lb, rec, users = record
    lines = history.record_lines(lb.cat, rec, users)
    assert lines[0].startswith("1. 22:32 (UTC-05:00)  Sternocleidomastoid left site 1")
    signed = next(x for x in lines if x.startswith("Signed "))
    assert signed.endswith("(UTC-05:00) by Demo Physician")
    assert " (UTC-05:00) Demo Physician: injection 2: units 40 -> 35 U" in lines[-1]
    assert not any(" UTC " in x or "T03:" in x for x in lines)
    row = next(r for r in history.all_procedures(lb) if r["id"] == rec["id"])
    assert history.procedure_row_text(row).startswith("2026-11-30  ")  # not the 1st (UTC)
    assert history.timeline(lb, rec["patient_id"])["procedures"][0]["date"] == "2026-11-30"


def test_the_lot_recall_is_local_with_the_zone(record):
    from app.logbook import recall

    lb, _, _ = record
    text = recall.text(lb.lot_recall("C1234C3"))
    assert "    2026-11-30 22:32 (UTC-05:00)  sternocleidomastoid left  25 U" in text
    assert " UTC " not in text


def test_the_command_line_text_is_local_and_its_json_stays_utc(record):
    from app.commands.logbook import format_record

    lb, rec, users = record
    text = format_record(rec, users)
    assert "time      2026-11-30 22:30:00 (UTC-05:00) to " in text
    assert "    1 22:32:00 (UTC-05:00) left   sternocleidomastoid" in text
    assert "(UTC)" not in text and "T03:30" not in text
    out = subprocess.run([sys.executable, "-m", "app", "logbook", "list", "--json", "--db",
                          str(lb.path)], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "TZ": "America/New_York"}, check=True).stdout
    assert json.loads(out)[0]["started_at"] == "2026-12-01T03:30:00.000000Z"


def test_the_data_exports_keep_utc(record, tmp_path):
    from app.logbook import export_csv

    lb, rec, users = record
    (path,) = export_csv.export([rec], tmp_path / "csv", users)[:1]
    text = path.read_text()
    assert "2026-12-01T03:30:00.000000Z" in text and "(UTC-05:00)" not in text


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_the_pdf_note_is_local_with_the_zone(record, tmp_path):
    from tests.test_ui_clinic import pdf_text

    lb, rec, users = record
    (path,) = note_pdf.export([rec], tmp_path / "pdf", users)
    text = pdf_text(path)
    assert "Start 2026-11-30 22:30:00 (UTC-05:00)" in text
    assert "1. 22:32:00 (UTC-05:00)" in text
    assert "(UTC-05:00) Demo Physician: injection 2: units 40 -> 35 U" in text
    assert "03:30" not in text


def test_the_history_detail_screen_says_local_time_with_the_zone(tmp_path):
    """The real detail screen (needlepoint screenshot --demo --screen detail), in a child
    process whose TZ is New York: its title and record lines as drawn."""
    shot, widgets = tmp_path / "detail.png", tmp_path / "widgets.json"
    env = {**os.environ, "TZ": "America/New_York", "NEEDLEPOINT_HOME": str(tmp_path),
           "KIVY_NO_ARGS": "1", "KIVY_NO_CONSOLELOG": "1"}
    env.pop("DISPLAY", None)
    subprocess.run([sys.executable, "-m", "app", "screenshot", "--demo", "--screen", "detail",
                    "--seconds", "0.5", "--out", str(shot), "--widgets", str(widgets)],
                   cwd=ROOT, env=env, capture_output=True, check=True, timeout=120)
    texts = [w.get("text", "") for w in json.loads(widgets.read_text())["widgets"]]
    title = next(t for t in texts if "MRN DEMO-" in t and "Botulinum toxin" in t)
    zone = r"\(UTC-0[45]:00\)"  # EST or EDT, whenever this runs
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d " + zone + "  Demo  MRN", title), title
    assert any(re.match(r"1\. \d\d:\d\d " + zone + "  Sternocleidomastoid left", t)
               for t in texts)  # the record lines, under the injections' buttons
    assert not any(" UTC " in t for t in texts)
