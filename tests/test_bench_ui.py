"""`needlepoint bench ui` on a short run: the report's shape and the vertex bound. Timings
from a shared machine are reported by the bench, never asserted here."""

from __future__ import annotations

import json

from app.bench.ui import PHASES
from app.commands import cli


def test_short_run_reports_every_figure_and_keeps_two_vertices_per_column(capsys):
    assert cli.main(["bench", "ui", "--json", "--seconds", "3", "--size", "800x480"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["bench"] == "ui" and rep["window"] == [800, 480] and rep["channels"] == 2
    assert set(rep["phases"]) == {p[0] for p in PHASES}
    for name, p in rep["phases"].items():
        assert p["frames"] > 0, name
        for key in ("trace_cpu_ms", "trace_wall_ms", "frame_ms", "frame_cpu_ms"):
            assert set(p[key]) == {"p50", "p99", "max"} and p[key]["p50"] is not None, (name, key)
        v = p["vertices"]
        assert v["width"] == 800 and v["meshes"] >= 2
        assert 0 < v["per_mesh_max"] <= 2 * v["width"], (name, v)
        if p["mode"] != "triggered":
            assert p["arrival_to_vertex_ms"]["p50"] is not None and p["samples_drawn"] > 0
    assert rep["frame_ms"]["empty"]["p50"] is not None and rep["frame_ms"]["trace"]["p50"]
    assert 0 < rep["launch_to_first_trace_s"] < 60
    assert rep["targets"]["vertices_per_mesh"]["pass"]
    assert isinstance(rep["targets"]["trace_cpu_p99_ms"]["pass"], bool)


def test_cli_refuses_silly_lengths(capsys):
    assert cli.main(["bench", "ui", "--seconds", "0.5"]) == 2
    assert "--seconds" in capsys.readouterr().err
