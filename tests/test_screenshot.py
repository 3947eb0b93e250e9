"""`needlepoint screenshot`, headless: the picture the README and docs show, regenerated."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

from tests.uiutil import ROOT, child_env


def _run(args, home: Path) -> subprocess.CompletedProcess:
    # offscreen GL, as in CI
    return subprocess.run([sys.executable, "-m", "app.commands.cli", "screenshot", *args],
                          env=child_env(home), capture_output=True, text=True, timeout=120,
                          cwd=ROOT)


def _size(png: Path) -> tuple[int, int]:
    head = png.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_a_demo_procedure_detail_in_portrait(tmp_path):
    out = tmp_path / "detail.png"
    done = _run(["--demo", "--screen", "detail", "--size", "800x1280", "--seconds", "2",
                 "--out", str(out)], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert _size(out) == (800, 1280)
    assert not (tmp_path / "logbook.db").exists()  # the demo's logbook is a throwaway


def test_the_live_screen_frozen_and_a_refusal(tmp_path):
    out = tmp_path / "live.png"
    done = _run(["--trace", "frozen", "--preset", "botulinum", "--seconds", "2", "--out",
                 str(out)], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert _size(out) == (1280, 800)
    bad = _run(["--screen", "patient", "--out", str(tmp_path / "p.png")], tmp_path)
    assert bad.returncode == 2 and "add --demo" in bad.stderr


def test_a_device_that_cannot_be_opened_is_pictured_not_connected_and_a_simulator_labelled(
        tmp_path):
    settings = tmp_path / "settings.json"
    settings.write_text('{"device": "sim:rest?seed=2"}')
    before = settings.read_bytes()
    out = tmp_path / "offline.png"
    done = _run(["--device", "spikerbox:/dev/null", "--seconds", "1.5", "--out", str(out)],
                tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    # Pictured as the app shows it: not connected, with the reason; never the simulator.
    assert "spikerbox:/dev/null: not connected: cannot open /dev/null" in done.stdout
    assert _size(out) == (1280, 800)
    assert settings.read_bytes() == before  # the remembered device as it was
    sim = _run(["--device", "sim:rest?seed=1", "--seconds", "1", "--size", "800x1280",
                "--out", str(tmp_path / "sim.png")], tmp_path)
    assert sim.returncode == 0, sim.stderr[-2000:]
    assert "sim:rest?seed=1: live: SIMULATED - not a patient" in sim.stdout
    assert settings.read_bytes() == before


def test_the_demo_entry_offers_last_times_plan(tmp_path):
    import json

    out, listed = tmp_path / "entry.png", tmp_path / "entry.json"
    done = _run(["--demo", "--screen", "entry", "--seconds", "2", "--out", str(out),
                 "--widgets", str(listed)], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    texts = [w.get("text", "") for w in json.loads(listed.read_text())["widgets"]]
    # the demo's signed session gave four muscles; the first is filled today as last time
    assert "Sternocleidomastoid\nL 25 U · 25 of 25 U today" in texts
    assert "Splenius capitis\nR 35 U · 0 of 35 U today" in texts
    assert "Needle 27G x 37 mm  (change)" in texts
    assert any(t == "30 U" for t in texts)  # quick picks, last time's trapezius dose among
