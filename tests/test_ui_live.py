"""The live screen driven as a person would, in the real app (under Xvfb when installed):
the widget tree at tablet sizes (live, and not connected with its device picker), marking
injections by touch and by foot pedal, and a pulled amplifier cable."""

from __future__ import annotations

import numpy as np
import pytest

from tests.uiutil import display, result, run, start

URI = "sim:denervated?seed=11&grade=3"


@pytest.mark.parametrize("size", ["1280x800", "800x1280"])
@pytest.mark.parametrize("device", [URI, "spikerbox:/dev/null"])  # live; not connected
def test_touch_targets_are_large_and_nothing_is_cut_off(size, device, tmp_path):
    res = run("tree", {"device": device, "size": size}, tmp_path)
    assert res["size"] == [int(v) for v in size.split("x")]
    assert res["small"] == [], res["small"]
    assert res["outside"] == [], res["outside"]
    assert res["cut"] == [], res["cut"]


def test_marked_injections_hold_the_7_s_around_each_press(tmp_path):
    from devices.simulator import render
    from dsp.filters import FilterChain

    res = run("mark", {"device": URI, "out": str(tmp_path)}, tmp_path)
    marks = res["marks"]
    assert len(marks) == 2  # the big button, then the foot pedal's space key
    fs = marks[0]["fs"]
    last = max(m["first"] + m["frames"] for m in marks)
    x, truth = render(URI, last / fs + 0.1)
    filtered = FilterChain(fs).process(x.astype(np.float32))
    for i, m in enumerate(marks):
        assert m["frames"] == 7 * fs + 1 and m["press_offset"] == 5 * fs
        assert m["first"] == m["device_index"] - 5 * fs
        got = np.load(tmp_path / f"mark{i}.npy")[:, 0]
        # Exactly the device's samples around the press, filtered as on screen.
        assert np.array_equal(got, filtered[m["first"]:m["first"] + m["frames"]])
        inside = [e for e in truth.events
                  if m["first"] <= e["index"] < m["first"] + m["frames"]]
        assert len(inside) >= 10  # the scenario's potentials are in the snippet
        assert any(e["kind"] == "fibrillation" for e in m["events"])  # the findings
    # The driver pressed again once the device had given 1 s more (not after a second of
    # the machine's time, which under load is fewer samples).
    assert marks[1]["device_index"] - marks[0]["device_index"] >= fs
    # No procedure is open: the live screen numbers no injection (the record has none).
    assert res["mark_text"].startswith("Mark kept, no procedure open") and "7.0 s" in \
        res["mark_text"]


def test_the_pedal_marks_while_a_text_field_has_focus_and_space_types(tmp_path):
    res = run("pedal_in_field", {"device": URI}, tmp_path)
    assert res["focused"] and res["still_focused"]
    assert res["marks"] == 1  # page down marked; space went to the PIN field


def test_150_marks_in_one_run_all_reach_the_logbook(tmp_path):
    """More marks than the session once kept (100, after which a press opened no entry):
    every press is handed on once and kept in the logbook's pending marks, unassigned (no
    procedure is open), for a user to assign or discard."""
    res = run("many_marks", {"device": URI, "presses": 150}, tmp_path)
    assert res["delivered"] == res["distinct"] == res["complete"] == 150
    assert res["unassigned"] == 150 and res["queued"] == 0
    assert res["marks_done"] == 150
    assert res["mark_text"].startswith("Mark kept, no procedure open")


def test_a_pulled_cable_shows_no_signal_and_recovers(tmp_path):
    from devices.spikerbox.emulator import Emulator

    link = tmp_path / "box"
    with Emulator("MUSCLESS", seed=3, link=str(link)) as emu, display() as disp:
        proc = start("unplug", {"device": f"spikerbox:{link}"}, tmp_path, disp)
        line = proc.stdout.readline()
        assert line.strip() == "READY", line + proc.stderr.read()[-2000:]
        emu.unplug(1.5)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        res = result(proc)
    assert res["before"] == ""
    assert "NO SIGNAL" in res["seen"]
    assert res["after"] == "" and res["reconnects"] == 1
    # The lost time is marked on the trace where it fell (the ring joins the two sides).
    (index, seconds), = res["gaps"]
    assert seconds == pytest.approx(res["lost_frames"] / res["fs"]) and seconds >= 1.4
    assert [p[3] for p in res["gap_places"]] == [seconds]
    assert res["notice"] == f"Signal lost for {seconds:.1f} s: the gap is marked on the trace"


def test_training_sliders_start_where_the_simulator_is_and_move_it(tmp_path):
    held = run("training", {"device": "sim:voluntary?effort=0.3&proximity=0.9"}, tmp_path)
    assert held["start"] == {"effort": 0.3, "depth": 0.9, "label": "Effort",
                             "device_effort": 0.3}
    assert held["device"] == {"effort": 0.5, "proximity": 0.4}
    auto = run("training", {"device": "sim:voluntary"}, tmp_path / "auto")
    # No effort given: the scenario's own profile runs until the slider is moved.
    assert auto["start"] == {"effort": 0.0, "depth": 0.8, "label": "Effort: auto",
                             "device_effort": None}
    assert auto["label"] == "Effort" and auto["device"]["effort"] == 0.5
