"""`needlepoint bench ui`: the live trace's own work per frame on this machine's GL.

Two child processes (app/ui/bench_ui.py) run one after the other, each a real Kivy window
of the same size (offscreen GL without a display, the X server of DISPLAY with one) with
the same Clock interval (1/60 s) and the same writer thread filling an app.session.live.Ring
with 2 channels of the simulator (sim:denervated, two seeds) at 20 kHz at real pace, in 5
ms writes:

- "empty": the window holds an empty widget and only asks for a redraw each tick;
- "trace": the window holds a Trace (app/ui/trace.py) that calls `update(ring, fs)` each
  tick, in phases: free-running sweep at 10 ms/div then at 100 ms/div, then a short spell
  of cascade and of triggered mode at 10 ms/div.

Per frame it records the thread CPU time (time.thread_time) and wall time of update():
the decimation of the new samples and the vertex assignment, which is the app's own work
(the GL draw that follows is Kivy's and Mesa's, seen in the frame time); the interval
between buffer flips (frame time) and the process CPU time per frame (main thread, Mesa's
llvmpipe threads and the writer: what a frame costs the machine), beside the empty
window's; the vertices of every Mesh
against the width; for every sample, the time from its write into the ring to the
update() that put it into a vertex; and the time from launching the process to the first
update() that drew samples and to the flip that showed them. The first frame of a phase
(a restart: the trace backfills one screen from the ring) is reported apart.

Targets are reported as pass or fail, never asserted: "trace work p99 < 2 ms" (sweep at 10
and 100 ms/div) and "vertices <= 2 x width" (every Mesh, every phase).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from app.bench.common import machine, percentiles, run_window

FS = 20000.0
CHANNELS = 2
SOURCES = ("sim:denervated?grade=3&seed=1", "sim:denervated?grade=3&seed=2")
SIGNAL_S = 10.0  # looped
WRITE_S = 0.005
TICK_S = 1 / 60
TARGET_CPU_P99_MS = 2.0
# name, mode, ms/div, share of the run
PHASES = (("sweep_10ms", "sweep", 10, 0.4), ("sweep_100ms", "sweep", 100, 0.4),
          ("cascade_10ms", "cascade", 10, 0.1), ("triggered_10ms", "triggered", 10, 0.1))
TARGET_PHASES = ("sweep_10ms", "sweep_100ms")


def add_parser(kinds) -> None:
    q = kinds.add_parser(
        "ui", help="the live trace's work per frame, frame time beside an empty window",
        description="Run a real Kivy window with the live trace fed 2 channels at 20 kHz at "
        "real pace, and an empty window of the same size, one after the other; report the "
        "trace's thread CPU time per frame (p50/p99/max), frame times, vertices per Mesh "
        "against the width, the delay from a sample's arrival to its vertex and the time "
        "from launch to the first drawn trace. Targets are reported, not asserted.")
    q.add_argument("--json", action="store_true", help="print one JSON object")
    q.add_argument("--seconds", type=float, default=20.0, metavar="S",
                   help="seconds of the trace window (default 20); the empty one runs half")
    q.add_argument("--size", default="1280x800", help="window size WxH (default 1280x800)")
    q.add_argument("--history", action="store_true",
                   help="instead: scroll the history lists of a 10 000-procedure logbook "
                   "and compare frame times with an empty window's")
    q.add_argument("--db", default=None, metavar="PATH",
                   help="with --history: a logbook to build once and reuse")
    q.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import re

    from app.commands.errors import UsageError

    if not (np.isfinite(args.seconds) and 2 <= args.seconds <= 600):
        raise UsageError(f"--seconds must be from 2 to 600 (got {args.seconds:g})")
    m = re.fullmatch(r"(\d{3,4})x(\d{3,4})", args.size)
    if not m:
        raise UsageError(f"--size {args.size}: write width x height, e.g. 1280x800")
    if args.history:
        from app.bench.history import bench_history, format_history

        rep = bench_history(args.seconds, width=int(m[1]), height=int(m[2]), db=args.db)
        print(json.dumps(rep, indent=2) if args.json else format_history(rep))
        return 0
    rep = bench_ui(args.seconds, int(m[1]), int(m[2]))
    if args.json:
        print(json.dumps(rep, indent=2))
    else:
        print(format_ui(rep))
    return 0


def source_signal(seconds: float = SIGNAL_S) -> np.ndarray:
    from devices.simulator import render

    chans = [render(f"{uri}&fs={FS:g}", seconds)[0] for uri in SOURCES]
    return np.stack(chans, axis=1).astype(np.float32)


def bench_ui(seconds: float = 20.0, width: int = 1280, height: int = 800) -> dict:
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="needlepoint-bench-ui-") as tmp:
        sig = Path(tmp) / "signal.npy"
        np.save(sig, source_signal())
        empty = _child("empty", seconds / 2, width, height, sig, Path(tmp))
        trace = _child("trace", seconds, width, height, sig, Path(tmp))
    phases = {}
    for name, mode, ms, _share in PHASES:
        f = [r for r in trace["frames"] if r["phase"] == name]
        steady = [r for r in f if not r["restart"]]
        restart = [r for r in f if r["restart"]]
        verts = trace["vertices"].get(name, {"per_mesh": [], "width": width})
        delays = trace["delays"].get(name, {"delay_s": [], "count": []})
        d = np.repeat(np.asarray(delays["delay_s"], float), np.asarray(delays["count"], int))
        phases[name] = {
            "mode": mode, "ms_per_div": ms, "frames": len(steady),
            "trace_cpu_ms": percentiles([r["cpu"] for r in steady]),
            "trace_wall_ms": percentiles([r["wall"] for r in steady]),
            "restart_cpu_ms": percentiles([r["cpu"] for r in restart])["max"],
            "frame_ms": percentiles(np.diff(trace["flips"].get(name, []))),
            "frame_cpu_ms": percentiles(np.diff(trace["cpu"].get(name, []))),
            "vertices": {"per_mesh_max": max(verts["per_mesh"], default=0),
                         "meshes": len(verts["per_mesh"]), "width": verts["width"],
                         "limit": 2 * verts["width"]},
            "arrival_to_vertex_ms": percentiles(d),
            "samples_drawn": int(d.size),
        }
    flips_all = np.concatenate([np.diff(v) for v in trace["flips"].values() if len(v) > 1])
    cpu_all = np.concatenate([np.diff(v) for v in trace["cpu"].values() if len(v) > 1])
    worst = max((phases[p]["trace_cpu_ms"]["p99"] or 0.0) for p in TARGET_PHASES)
    vmax = max(p["vertices"]["per_mesh_max"] for p in phases.values())
    limit = 2 * width
    targets = {
        "trace_cpu_p99_ms": {"limit": TARGET_CPU_P99_MS, "value": worst,
                             "phases": list(TARGET_PHASES),
                             "pass": bool(worst < TARGET_CPU_P99_MS)},
        "vertices_per_mesh": {"limit": limit, "value": vmax, "pass": bool(vmax <= limit)},
    }
    return {
        "bench": "ui",
        "window": [width, height],
        "display": trace["display"],
        "gl": trace["gl"],
        "fs": FS, "channels": CHANNELS, "sources": list(SOURCES),
        "seconds": seconds, "tick_s": round(TICK_S, 5),
        "phases": phases,
        "frame_ms": {"trace": percentiles(flips_all),
                     "empty": percentiles(np.diff(empty["flips"].get("empty", [])))},
        "frame_cpu_ms": {"trace": percentiles(cpu_all),
                         "empty": percentiles(np.diff(empty["cpu"].get("empty", [])))},
        "fps": {"trace": trace["fps"], "empty": empty["fps"]},
        "launch_to_first_trace_s": trace["first_update_s"],
        "launch_to_first_trace_flip_s": trace["first_flip_s"],
        "launch_to_first_flip_empty_s": empty["first_flip_s"],
        "targets": targets,
        "pass": all(t["pass"] for t in targets.values()),
        "machine": machine(),
        "wall_s": round(time.perf_counter() - start, 2),
    }


def _child(kind: str, seconds: float, width: int, height: int, signal: Path,
           tmp: Path) -> dict:
    return run_window("app.ui.bench_ui", kind,
                      [f"{seconds:g}", str(width), str(height), str(signal)],
                      [repr(time.time())], tmp, timeout=seconds * 3 + 120)


def format_ui(rep: dict) -> str:
    w, h = rep["window"]
    lines = [f"bench ui: {w}x{h} window ({rep['display']}, {rep['gl'].get('renderer', '?')}), "
             f"{rep['channels']} channels at {rep['fs']:g} Hz, {rep['seconds']:g} s",
             "phase            frames  trace CPU ms p50/p99/max   frame ms p50/p99   "
             "vertices/mesh (limit)  arrival->vertex ms p50/p99"]
    for name, p in rep["phases"].items():
        c, f, v, d = p["trace_cpu_ms"], p["frame_ms"], p["vertices"], p["arrival_to_vertex_ms"]
        lines.append(
            f"{name:<16} {p['frames']:6d}  {_f(c['p50'])} / {_f(c['p99'])} / {_f(c['max'])}"
            f"   {_f(f['p50'], 1)} / {_f(f['p99'], 1)}   {v['per_mesh_max']} x {v['meshes']}"
            f" ({v['limit']})   {_f(d['p50'], 1)} / {_f(d['p99'], 1)}")
    ft, fe = rep["frame_ms"]["trace"], rep["frame_ms"]["empty"]
    lines.append(f"frame time: trace p50 {_f(ft['p50'], 1)} ms p99 {_f(ft['p99'], 1)} ms "
                 f"({rep['fps']['trace']} fps); empty window p50 {_f(fe['p50'], 1)} ms p99 "
                 f"{_f(fe['p99'], 1)} ms ({rep['fps']['empty']} fps)")
    ct, ce = rep["frame_cpu_ms"]["trace"], rep["frame_cpu_ms"]["empty"]
    lines.append(f"process CPU per frame: trace p50 {_f(ct['p50'], 1)} ms p99 "
                 f"{_f(ct['p99'], 1)} ms; empty window p50 {_f(ce['p50'], 1)} ms p99 "
                 f"{_f(ce['p99'], 1)} ms")
    lines.append(f"launch to first trace: {_f(rep['launch_to_first_trace_s'], 2)} s "
                 f"(update), {_f(rep['launch_to_first_trace_flip_s'], 2)} s (on screen); "
                 f"empty window's first frame {_f(rep['launch_to_first_flip_empty_s'], 2)} s")
    for name, t in rep["targets"].items():
        lines.append(f"target {name}: {t['value']} vs {t['limit']}: "
                     f"{'PASS' if t['pass'] else 'FAIL'}")
    return "\n".join(lines)


def _f(v, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}f}"

