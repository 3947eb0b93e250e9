"""The nurse and physician workflow in the real app under Xvfb, by touches and key presses
(tests/workflowdriver.py), checked on screen and then in the logbook it wrote; and every
workflow screen in both orientations: screenshots, touch targets, nothing cut off."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.test_printer import with_lp, with_lpstat
from tests.uiutil import display, result, start

DISPLAYS = range(71, 90)  # ours on this shared machine


def run(scenario: str, args: dict, home: Path, timeout: float = 240) -> dict:
    with display(DISPLAYS) as disp:
        return result(start(scenario, args, home, disp, driver="tests.workflowdriver"),
                      timeout)


def test_the_whole_workflow_by_touch_and_pedal(tmp_path, monkeypatch):
    printed = tmp_path / "lp"  # a stand-in CUPS (lpstat, lp) first on the app's PATH
    printed.mkdir()
    monkeypatch.setenv("PATH", f"{printed}:{os.environ['PATH']}")
    with_lpstat(printed, "default")
    lp_args = with_lp(printed)
    res = run("workflow", {"history": False}, tmp_path)
    m = res["messages"]
    assert res["locked_at_start"] and res["wrong_pin"] == "Wrong PIN: try again"
    assert res["signed_in"] == "nurse"
    # Bad input: a clear message beside the field, and the text kept as typed.
    assert m["patient"] == {"born": "Birth date cannot be in the future",
                            "weight": "Weight must be a number in kg, not 'sixty'",
                            "kept": ["2099-01-01", "sixty"]}
    assert m["pain"] == "Pain score is a whole number from 0 to 10"
    assert m["expiry"].startswith("EXPIRED lot (2020-01-31)")
    assert m["diluent"] == "Diluent must be more than 0 mL"
    assert m["units1"] == "Units must be a number in units, not 'abc'"
    assert m["pain_after"] == "Pain score is needed (0 to 10)"
    assert res["started"] and res["vials"] == 1 and res["per_tenth"] == "5 U / 0.1 mL"
    # Three marks from the live screen, each saved at once with its EMG.
    assert res["entries_after_marks"] == 3
    assert res["entry_findings"].startswith("EMG at the mark: SIMULATED - not a patient; ")
    assert res["warnings"] == ["onabotulinumtoxinA (BOTOX): 60 U at one site passes the 50 U "
                               "per site max (adult spasticity: no more than 50 Units per "
                               "site should generally be given)"]
    assert m["override"] == "A reason is needed (a few words)"
    assert res["overridden"] == ["Overridden: large muscle, deliberate dose"]
    assert res["totals"] == ["BOTOX  60 U of 400"] and res["totals_end"] == ["BOTOX  105 U of 400"]
    # The idle lock hid the records; the live screen and the pedal carried on.
    assert res["locked_by_idle"] and res["live_kept_running"]
    assert res["queued_while_locked"] == 1 and res["lock_shown"]
    assert res["lock_queue_text"] == "1 marked injection waiting for entry"
    assert res["entries_after_lock"] == 4
    # Signed by the physician's PIN only.
    assert m["sign"] == "Wrong PIN: try again" and res["signed"]
    assert res["summary"].startswith("BOTOX  130 U of 400")
    # Print: the PDF made owner-only under exports/, then given to lp (Print's own tests:
    # tests/test_printer.py)
    assert res["export"] == "Sent to printer Ward_3 (job id Ward_3-17)"
    (note,) = (tmp_path / "exports").glob("*/pdf/*.pdf")
    assert lp_args.read_text().splitlines() == ["-d", "Ward_3", "--", str(note)]
    assert (tmp_path / "printed.pdf").read_bytes()[:5] == b"%PDF-"
    assert res["voided"] == {"struck": True, "record_voided": 1, "muscle": None,
                             "message": res["voided"]["message"]}
    assert res["voided"]["message"].endswith("voided.")
    new = res["new_setup"]  # the last patient's answers are not carried over
    assert new["typed"] == dict.fromkeys(new["typed"], "") and new["form"] == {}
    assert new["at_top"] and new["patient"] == "No patient chosen"
    assert res["locked_by_button"] and res["relocked_user"] == "nurse"
    # Found in history, with charts per muscle and a snippet drawn and played (or NO SOUND).
    assert len(res["history_rows"]) == 1 and "MRN-2024" in res["history_rows"][0]
    assert res["list_drawn_under_patient"] is False
    assert res["timeline"] == ["2026-11-24  Botulinum toxin  4 inj  BOTOX  130 U of 400  "
                               "pain 6->3".replace("2026-11-24", res["timeline"][0][:10])]
    assert sorted(res["charts"]) == ["Biceps brachii left", "Brachialis left",
                                     "Brachioradialis left"]
    assert res["injections_with_emg"] == 4 and res["snippet_drawn"]
    # The simulator's EMG says so wherever it is shown, in the list and over the snippet.
    assert all(b.endswith("   [SIMULATED EMG]") for b in res["emg_rows"])
    assert res["snippet_text"].startswith("SIMULATED - not a patient. 7.0 s at 20 kHz")
    assert res["sound"].startswith("NO SOUND") and res["cursor"] > 0

    # What the logbook holds now.
    from app.logbook import Logbook

    with Logbook(tmp_path / "logbook.db") as lb:
        [p] = [p for p in lb.procedures() if p["mrn"] == "MRN-2024"]
        rec = lb.procedure(p["id"])
        users = {u["id"]: u for u in lb.users()}
        assert rec["signed_at"] and users[rec["signed_by"]]["role"] == "physician"
        assert (rec["pain_before"], rec["pain_after"]) == (6, 3)
        assert [i["voided"] for i in rec["injections"]] == [0, 0, 0, 0, 1]
        inj = [i for i in rec["injections"] if not i["voided"]]
        assert [(i["muscle"], i["side"], i["units"], i["volume_ml"], i["site"]) for i in inj] == [
            ("biceps_brachii", "left", 60.0, 1.2, 1), ("brachialis", "left", 20.0, 0.4, 2),
            ("biceps_brachii", "left", 25.0, 0.5, 3), ("brachioradialis", "left", 25.0, 0.5,
                                                       None)]
        assert all(i["has_snippet"] for i in inj)
        assert users[inj[3]["created_by"]]["role"] == "physician"  # queued, then saved
        s = lb.snippet(inj[0]["id"])
        assert s["frames"] == 7 * 20000 + 1 and s["injection_index"] == 5 * 20000
        assert inj[0]["emg_findings"]["words"]
        [w] = [w for w in rec["dose_warnings"] if w["rule"] == "per_site_max"]
        assert w["override_reason"] == "large muscle, deliberate dose"
        assert users[w["override_by"]]["role"] == "physician"
        assert lb.verify()["ok"]


@pytest.mark.parametrize("size,tag", [("1280x800", "landscape"), ("800x1280", "portrait")])
def test_each_screen_in_both_orientations(size, tag, tmp_path):
    out = Path(os.environ.get("WORKFLOW_SHOTS", tmp_path))
    res = run("shots", {"size": size, "out": str(out), "tag": tag}, tmp_path)
    assert res["size"] == [int(v) for v in size.split("x")]
    for screen, found in res["problems"].items():
        assert found == {"small": [], "outside": []}, (screen, found)
    for name in ("lock", "setup", "vials", "entry", "close", "history", "patient", "detail"):
        assert (out / f"workflow_{name}_{tag}.png").stat().st_size > 10000
