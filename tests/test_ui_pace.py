"""The nurse's pace in the real app under Xvfb (tests/pacedriver.py): from each mark, the
taps to a complete injection (muscle, side, units, the vial in use), with no keyboard: at
most 4 for a muscle in last time's plan, at most 6 otherwise; every muscle of a region
listed with its full name; the entry screen shot (into $PACE_SHOTS when set)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from tests.uiutil import display, result, start

DISPLAYS = range(100, 110)  # ours on this shared machine


def test_taps_from_a_mark_to_a_complete_injection(tmp_path):
    shots = Path(os.environ.get("PACE_SHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    with display(DISPLAYS) as disp:
        # portrait: the tighter layout (the keypad under Units near the window's foot)
        res = result(start("pace", {"shots": str(shots), "size": "800x1280"}, tmp_path, disp,
                           driver="tests.pacedriver"), 240)
    print("taps per path:", {k: v["taps"] for k, v in res["paths"].items()})
    assert res["opened_itself"]
    # a text field typed into is lifted into the window's upper half, clear of an
    # on-screen keyboard: the vial's lot (the last field of set-up) and the adverse event
    for name, f in res["text_fields"].items():
        assert f["focus"] and f["bottom_share"] >= 0.5, (name, f)
    # the time-out's time in local time with its offset (it said "09:43 UTC")
    assert re.search(r"Time-out done \d\d:\d\d \(UTC[+-]\d\d:\d\d\)\.",
                     res["procedure_text"]), res["procedure_text"]
    # last signed session (110 days ago): biceps 30 U, brachialis 30 U, both left
    assert res["plan"] == [["biceps_brachii", "left", 30.0], ["brachialis", "left", 30.0]]
    paths = res["paths"]
    for name, p in paths.items():
        assert p["complete"] and not p["keyboard"], (name, p)
        # the needle asked once (the botulinum default 27G x 37 mm, then 50 mm chosen)
        assert (p["record"]["needle_gauge"], p["record"]["needle_length_mm"]) == (27, 50.0)
    assert res["needle_default"] == "27G x 37 mm"
    assert paths["as last time"]["taps"] <= 4
    assert paths["as last time"]["record"]["units"] == 30.0
    assert paths["as last time"]["record"]["side"] == "left"
    assert paths["plan muscle from the list"]["taps"] <= 4
    assert paths["not in the plan"]["taps"] <= 6
    assert paths["not in the plan"]["record"]["muscle"] == "brachioradialis"
    # every muscle of the arm, full names, and a cue that the list goes on
    from app.logbook import catalogue

    arm = [m["name"] for m in catalogue.default().muscles.values()
           if m["region"] == "upper_limb"]
    assert sorted(res["arm_muscles"]) == sorted(arm)
    assert "Flexor pollicis brevis / opponens pollicis" in res["arm_muscles"]
    assert res["muscles_cue"].startswith(f"{len(arm)} muscles")
    assert res["quick_units"] and all(t.endswith(" U") for t in res["quick_units"])
    # the chips say what is done today against last time
    assert res["plan_chips"][0].endswith("30 of 30 U today")
    # a dose typed on the keypad: saved once, at OK, and the keypad closes
    typed = paths["typed on the keypad"]
    assert typed["record"]["units"] == 17.5 and res["typed_before_ok"] is None
    assert res["keypad_shown"] and res["keyboard_mode"] == "managed"
    assert res["keypad_in_window"]  # its last row (OK) too, in portrait
    assert not res["keypad_after_ok"]
    for name in ("pace_entry_plan", "pace_entry_arm", "pace_entry_quick_units",
                 "pace_entry_keypad"):
        assert (shots / f"{name}.png").stat().st_size > 10_000
