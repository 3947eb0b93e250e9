"""The live screen tells the truth about its device, in the real app (under Xvfb when
installed): a device that cannot be opened is shown not connected, never replaced; a
simulator or a replay is labelled on the trace; an uncalibrated amplifier is shown in
counts with no amplitude-dependent findings; the pickers remember only what opened."""

from __future__ import annotations

import json

import pytest

from app.session.activity import NAMES
from tests.uiutil import run

REMEMBERED = "sim:endplate?seed=3"
REPLAY = "file:/work/shared/data/physionet-emgdb/emg_healthy.hea"
AMPLITUDE_WORDS = [w for pair in NAMES.values() for w in pair] + [
    "End-plate noise", "Tonic activity", "Insertional", "Electrical silence", "uV"]


def _remembering(home, device: str = REMEMBERED):
    home.mkdir(parents=True, exist_ok=True)
    (home / "settings.json").write_text(json.dumps({"device": device}))


def _saved(home) -> str:
    return json.loads((home / "settings.json").read_text())["device"]


def test_a_device_that_cannot_be_opened_is_shown_not_connected_and_nothing_else(tmp_path):
    _remembering(tmp_path)
    res = run("offline", {"device": "spikerbox:/dev/null", "remember": True}, tmp_path)
    assert res["state"] == "not connected" and res["title"] == "Amplifier not connected"
    assert res["uri"] == "spikerbox:/dev/null" and "/dev/null" in res["reason"]
    assert res["retry"].startswith(("Trying again in", "Trying spikerbox:/dev/null"))
    # No other source in its place: no session, no sound, no trace, no analyser words.
    assert not res["session"] and not res["audio"]
    assert not res["trace_shown"] and res["trace_drawn_to"] == 0 and res["vertices"] == []
    assert res["panel"] == ["", "", "", "", ""]
    shown = " | ".join(res["words"])
    for word in ["SIMULATED", "Simulator", "streaming", "RMS", "Fibrillation", "uV/div"]:
        assert word not in shown, shown
    assert res["mark_text"].startswith("Not marked")
    # The picker offers the simulator and says the hobby board is not for patients.
    notes = dict(res["picker"])
    assert "NOT isolated for patient connection" in notes["spikerbox:/dev/null"]
    assert "sim:denervated" in notes and REMEMBERED in notes
    # The remembered device is as it was, in memory and on disk, after the app stopped too.
    assert res["settings_device"] == res["saved_device"] == REMEMBERED
    assert _saved(tmp_path) == REMEMBERED


@pytest.mark.parametrize("size", ["1280x800", "800x1280"])
def test_a_simulator_is_labelled_on_every_view_of_the_trace(size, tmp_path):
    res = run("labels", {"device": "sim:denervated?seed=2", "size": size}, tmp_path)
    assert res["kind"] == "simulator"
    for mode in ("sweep", "cascade", "triggered", "frozen"):
        assert res[mode] == {"label": "SIMULATED - not a patient", "drawn": True}, mode


def test_a_replay_is_labelled_with_its_file(tmp_path):
    res = run("labels", {"device": REPLAY}, tmp_path)
    assert res["kind"] == "file"
    for mode in ("sweep", "cascade", "triggered", "frozen"):
        assert res[mode] == {"label": "REPLAY: emg_healthy.hea", "drawn": True}, mode


def test_an_uncalibrated_amplifier_is_shown_in_counts_with_no_amplitude_words(tmp_path):
    from devices.spikerbox.emulator import Emulator

    link = tmp_path / "box"
    with Emulator("MUSCLESS", seed=5, link=str(link)):
        res = run("uncalibrated", {"device": f"spikerbox:{link}"}, tmp_path)
    assert res["calibrated"] is False and res["source"] == ""  # an amplifier: no label
    step = res["uv_per_count"]
    assert res["scale"] == "5 counts"  # 50 uV/div at about 10 uV a count
    assert res["uv_per_div"] == pytest.approx(5 * step)
    assert res["sensitivity"] == ["5 counts/div", "10 ms/div"]
    assert res["rms"].endswith(" counts")
    one, two = res["cursors"]
    assert one.startswith("C1 ") and one.endswith(" counts")
    assert two.startswith("\u0394 ") and two.endswith(" counts")
    assert res["trigger_uv"] == pytest.approx(round(100 / step) * step)  # whole counts
    assert res["findings"].startswith("Uncalibrated: amplitudes unknown")
    for word in AMPLITUDE_WORDS:
        assert word not in res["findings"], res["findings"]
    assert res["turns"] == "-"
    assert res["proximity"] == res["epn"] == "needs calibration"
    assert f"needlepoint calibrate --device spikerbox:{link}" in res["calibrate"]
    shown = " | ".join(res["words"])
    assert "uV" not in shown, shown
    assert "TRIGGERED" in res["mode_words"] and "counts" in res["mode_words"]


def test_the_pickers_keep_only_a_device_that_opens(tmp_path):
    from devices.spikerbox.emulator import Emulator

    _remembering(tmp_path)
    link = tmp_path / "box"
    bad, good = f"spikerbox:{tmp_path / 'no-such-port'}", f"spikerbox:{link}"
    with Emulator("MUSCLESS", seed=5, link=str(link)):
        res = run("picker", {"device": "spikerbox:/dev/null", "remember": True, "bad": bad,
                             "good": good, "listed": "sim:rest"}, tmp_path)
    assert res["start"] == {"uri": "spikerbox:/dev/null", "state": "not connected",
                            "settings_device": REMEMBERED, "saved_device": REMEMBERED}
    # Not connected, a pick that fails: the screen waits for it; nothing is remembered.
    b = res["live_bad"]
    assert b["state"] == "not connected" and b["uri"] == bad and b["session"] is None
    assert b["message"].startswith(f"{bad} did not open: ")
    assert b["settings_device"] == b["saved_device"] == REMEMBERED
    # A pick that opens is live and remembered.
    g = res["live_good"]
    assert g["state"] == "live" and g["uri"] == g["session"] == good
    assert g["settings_device"] == g["saved_device"] == good
    # In Settings, with a device live: a failed pick leaves it live and remembered.
    s = res["settings_bad"]
    assert s["state"] == "live" and s["uri"] == s["session"] == good
    assert "did not open" in s["shown"] and f"Still on {good}" in s["shown"]
    assert s["saved_device"] == good and f"Live device: {good}" in s["text"]
    # A listed device's button: opened, live, remembered, and shown chosen.
    listed = res["settings_listed"]
    assert listed["uri"] == listed["session"] == "sim:rest" and listed["state"] == "live"
    assert listed["saved_device"] == "sim:rest" and listed["chosen"] == ["sim:rest"]
    assert _saved(tmp_path) == "sim:rest"
