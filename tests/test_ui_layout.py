"""The live screen on every tablet size, in both orientations, read as data (app.ui.layout,
`needlepoint screenshot --widgets`): the controls a physician reaches for mid-injection are
inside the window, at least 48 dp tall, and stay where they are whatever the findings say."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.uiutil import ROOT, child_env, run

URI = "sim:denervated?seed=11&grade=3"
SIZES = [("1024x600", 1.0), ("1280x800", 1.33), ("2048x1536", 1.65), ("2736x1824", 1.65)]
TOUCH_DP = 48.0
# Each must be there, whole, on every screen: Mark, the sound modes, volume and freeze.
NEEDED = {"MARK INJECTION", "Raw", "Click", "Pitch", "Mute", "Freeze", "volume"}


def _controls(widgets: list[dict]) -> dict[str, dict]:
    """Buttons and sliders outside the scrolling panel, by text (sliders by id)."""
    return {(w["id"] or w["text"]) if w["kind"] == "slider" else w["text"]: w
            for w in widgets if w["kind"] in ("button", "slider") and not w["in_scroll"]}


def _problems(widgets: list[dict], size: list[int], density: float) -> list[str]:
    width, height = size
    found = []
    for name, w in _controls(widgets).items():
        left, top, w_px, h_px = w["rect"]
        if left < -0.5 or top < -0.5 or left + w_px > width + 0.5 or top + h_px > height + 0.5:
            found.append(f"{name!r} outside the window: {w['rect']}")
        if h_px < TOUCH_DP * density - 0.5:
            found.append(f"{name!r} {h_px / density:.0f} dp tall")
    return found


@pytest.mark.parametrize("portrait", [False, True], ids=["landscape", "portrait"])
@pytest.mark.parametrize("size,density", SIZES, ids=[s for s, _ in SIZES])
def test_controls_are_whole_large_and_never_move_with_the_findings(size, density, portrait,
                                                                   tmp_path):
    w, h = size.split("x")
    if portrait:
        w, h = h, w
    res = run("layout", {"device": URI, "size": f"{w}x{h}", "density": density}, tmp_path)
    assert res["size"] == [int(w), int(h)] and res["density"] == pytest.approx(density)
    quiet, busy = _controls(res["quiet"]), _controls(res["busy"])
    missing = NEEDED - set(quiet)
    assert not missing, sorted(missing)
    assert _problems(res["quiet"], res["size"], density) == []
    assert _problems(res["busy"], res["size"], density) == []
    moved = {k: (quiet[k]["rect"], busy[k]["rect"]) for k in quiet
             if k in busy and quiet[k]["rect"] != busy[k]["rect"]}
    assert moved == {}
    assert set(busy) == set(quiet)
    assert {"Botulinum", "Pitch"} <= set(res["chosen"])  # as tapped
    assert not {"Spont.", "Raw"} & set(res["chosen"])


def test_screenshot_writes_the_widgets_and_the_density_it_used(tmp_path):
    out, listed = tmp_path / "live.png", tmp_path / "live.json"
    done = subprocess.run(
        [sys.executable, "-m", "app.commands.cli", "screenshot", "--size", "1280x800",
         "--density", "1.33", "--seconds", "1.5", "--device", URI, "--out", str(out),
         "--widgets", str(listed)],
        env=child_env(tmp_path), capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(listed.read_text())
    assert got["size"] == [1280, 800] and got["density"] == pytest.approx(1.33)
    assert got["density_source"] == "stated"
    mark = _controls(got["widgets"])["MARK INJECTION"]
    assert mark["rect"][3] >= TOUCH_DP * 1.33 - 0.5
    bad = subprocess.run(
        [sys.executable, "-m", "app.commands.cli", "screenshot", "--density", "9",
         "--out", str(tmp_path / "x.png")],
        env=child_env(tmp_path), capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert bad.returncode == 2 and "outside 0.75-4" in bad.stderr


def test_density_is_the_screens_ppi_over_160_unless_stated():
    from app.ui.display import check_density, choose_density

    assert choose_density(None, 264.0) == (1.65, "screen, 264 ppi")  # a 13-inch 2736x1824
    assert choose_density(None, 96.0)[0] == 1.0  # a desktop monitor keeps its pixels
    assert choose_density(None, None) == (1.0, "default (the screen states no size)")
    assert choose_density(1.33, 264.0) == (1.33, "stated")
    with pytest.raises(ValueError, match="outside 0.75-4"):
        check_density(9)
