"""`needlepoint clinic status` on a tablet, against a real, throwaway PostgreSQL
(tests/pgserver.py): what waits to push (audit entries, EMG samples) and when each tablet
was last seen, in local time with its offset; one line, never a traceback, when the server
cannot be reached."""

from __future__ import annotations

import json

import pytest

from app.clinic import credentials
from app.logbook import Logbook, demo
from tests.clinicutil import admin, as_tablet, clinic, local_entries
from tests.test_localtime import tz

__all__ = ["admin", "clinic"]  # fixtures


def status(path, monkeypatch, capsys) -> tuple[int, list[str], str]:
    code = as_tablet(path, monkeypatch, "status")
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def emg_count(path) -> int:
    with Logbook(path, readonly=True) as lb:
        return sum(lb.db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                   for t in ("snippets", "pending_marks"))


@pytest.fixture
def berlin():
    with tz("Europe/Berlin"):  # UTC+01:00 in December
        yield


def test_status_says_what_waits_and_when_each_tablet_was_last_seen(clinic, admin, berlin,
                                                                   monkeypatch, capsys):
    one, two = clinic["room-1"], clinic["room-2"]
    code, lines, _ = status(one, monkeypatch, capsys)
    assert code == 0
    assert lines[1] == (f"waiting to push: {local_entries(one)} audit entries, "
                        f"{emg_count(one)} EMG samples")
    assert lines[2:] == ["last pulled the other tablets' records: never",
                         "tablets last seen:", "  room-1  never  (this tablet)",
                         "  room-2  never", "  room-3  never"]
    assert as_tablet(two, monkeypatch, "sync") == 0
    capsys.readouterr()
    code, lines, _ = status(two, monkeypatch, capsys)
    assert lines[1] == "waiting to push: 0 audit entries, 0 EMG samples"
    assert lines[2].startswith("last pulled the other tablets' records: 20")
    assert lines[2].endswith("(UTC+01:00)")  # its sync pulled (nothing yet: none pushed)
    seen = lines[5]  # room-2, seen by its push: '  room-2  2026-12-07 09:43 (UTC+01:00)  ...'
    assert seen.startswith("  room-2  20") and seen.endswith("(UTC+01:00)  (this tablet)")
    with Logbook(two) as lb:  # new work after the push: waiting again
        demo.procedure(lb, sign=False)
    code, lines, _ = status(two, monkeypatch, capsys)
    assert lines[1].startswith("waiting to push: ") and not lines[1].startswith(
        "waiting to push: 0 audit")


def test_status_without_the_server_is_one_line(clinic, berlin, monkeypatch, capsys,
                                               tmp_path):
    path = clinic["room-3"]
    creds = path.parent / credentials.NAME
    data = json.loads(creds.read_text())
    creds.write_text(json.dumps({**data, "dsn": f"host={tmp_path} dbname=clinic "
                                 "user=x password=secret"}))
    code, lines, err = status(path, monkeypatch, capsys)
    assert code == 1 and not err and len(lines) == 1
    assert lines[0].startswith(f"clinic server not reachable ({tmp_path}, database clinic: ")
    assert lines[0].endswith(f"): {local_entries(path)} entries waiting (no push recorded on "
                             "this tablet)")
    # pushed once, then more work while the server is out of reach: what came after
    creds.write_text(json.dumps(data))
    assert as_tablet(path, monkeypatch, "sync") == 0
    capsys.readouterr()
    pushed = local_entries(path)
    with Logbook(path) as lb:
        demo.procedure(lb, sign=False)
    creds.write_text(json.dumps({**data, "dsn": f"host={tmp_path} dbname=clinic"}))
    code, lines, err = status(path, monkeypatch, capsys)
    assert code == 1 and len(lines) == 1 and "Traceback" not in err + lines[0]
    assert f"): {local_entries(path) - pushed} entries waiting (since the push of 20" in lines[0]
    assert lines[0].endswith("(UTC+01:00))") and "secret" not in lines[0]
