"""A possible duplicate patient on the screens of the real app under Xvfb
(tests/duplicatedriver.py): shown where the patient is picked (set-up) and opened
(history) with the other MRN and its room, decided by taps (a reason, the PIN, "Same
person"), recorded in the logbook's audit trail. Shots into $DUPLICATE_SHOTS when set."""

from __future__ import annotations

import os
from pathlib import Path

from app.logbook import Logbook
from tests.uiutil import display, result, start

DISPLAYS = range(160, 170)  # ours on this shared machine
LINE = ("Possible duplicate: MRN B7 (room-2), Lima, Ana, born 1970-01-02: same name and "
        "birth date; its injections are not counted until someone decides")


def test_a_possible_duplicate_is_shown_and_decided_by_taps(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    shots = Path(os.environ.get("DUPLICATE_SHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    with display(DISPLAYS) as disp:
        res = result(start("duplicate", {"shots": str(shots),
                                         "other": str(tmp_path / "room-2.db")},
                           home, disp, driver="tests.duplicatedriver"), 300)
    assert res["history"].startswith(LINE + "\n"), res
    assert res["before"] == LINE
    assert res["message"] == ("Recorded: MRN B7 and this patient are the same person (same "
                              "passport seen in both rooms)."), res
    assert res["after"] == ""
    with Logbook(home / "logbook.db") as lb:
        (decided,) = lb.duplicate_decisions("A1")
        assert (decided["mrn_a"], decided["mrn_b"], decided["decision"], decided["origin"]
                ) == ("A1", "B7", "same", None)
        entry = lb.db.execute("SELECT action, reason FROM audit WHERE tbl = 'patient_links'"
                              ).fetchall()
        assert entry == [("insert", "same passport seen in both rooms")]
        assert lb.verify()["ok"]
    for name in ("duplicate_history", "duplicate_before", "duplicate_after"):
        assert (shots / f"{name}.png").stat().st_size > 10_000
