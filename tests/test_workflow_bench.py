"""The history scrolling benchmark runs end to end on a small logbook and reports its
figures and targets (the 10 000-procedure run is `bench_history(20)`; see docs/workflow.md)."""

from __future__ import annotations

import os

from tests.test_ui_workflow import display


def test_bench_history_reports_frame_times_and_targets(tmp_path, monkeypatch):
    from app.bench.history import bench_history, format_history

    monkeypatch.setenv("NEEDLEPOINT_HOME", str(tmp_path / "home"))
    with display() as disp:
        if disp:
            monkeypatch.setenv("DISPLAY", disp)
        else:
            monkeypatch.delenv("DISPLAY", raising=False)
        rep = bench_history(3, procedures=200, db=tmp_path / "bench.db")
    assert rep["lists"]["procedures"]["rows"] == 200
    assert rep["lists"]["patients"]["rows"] == 20
    for name in ("procedures", "patients"):
        assert rep["lists"][name]["frames"] > 10
    assert set(rep["targets"]) == {"p99_ratio", "max_frame_ms"}
    text = format_history(rep)
    assert "p99 / empty p99" in text and "worst scrolling frame" in text
    assert os.path.exists(tmp_path / "bench.db")
