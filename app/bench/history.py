"""The History screen's lists at clinic scale: scrolling 10 000 procedures (and their 1 000
patients) against an empty window's frame time on the same machine and GL.

A logbook of `procedures` signed procedures over procedures/10 patients (two injections
each, audited, built once through app.bench.logbook's bulk loader, or reused from `db`) is
opened by the real HistoryScreen in a real Kivy window. Two child processes
(app/ui/bench_history.py) run one after the other with windows of the same size:

- "empty": a window whose one rectangle changes colour each tick, so that every tick is
  drawn, as every scrolled tick is;
- "history": the History screen listing all procedures, then all patients; each list is
  loaded (timed apart: one long frame, not scrolling), then scrolled at a steady speed
  (SPEED_PX_S, a brisk fling) with a jump to a random place every JUMP_S (a drag on the
  scroll bar: the rows there are built then).

Frame time is the interval between buffer flips. Targets, reported and not asserted:
scrolling p99 <= 1.5 x the empty window's p99, and no scrolling frame over 100 ms.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from app.bench.common import machine, percentiles, run_window
from app.bench.logbook import bulk_load

TICK_S = 1 / 60
SPEED_PX_S = 2500.0
JUMP_S = 2.0
SETTLE_S = 1.0  # after a list loads, before its frames count
P99_RATIO = 1.5
MAX_FRAME_MS = 100.0
LISTS = ("procedures", "patients")


def build(path: Path, procedures: int = 10000) -> dict:
    """The logbook the bench scrolls (kept at `path` for later runs)."""
    from app.logbook import Logbook

    t = time.perf_counter()
    with Logbook(path) as lb:
        if lb.db.execute("SELECT count(*) FROM procedures").fetchone()[0] >= procedures:
            return {"built_s": 0.0, "reused": True}
        bulk_load(lb, procedures, 2 * procedures, 0, [])
    return {"built_s": round(time.perf_counter() - t, 1), "reused": False}


def bench_history(seconds: float = 20.0, procedures: int = 10000, width: int = 1280,
                  height: int = 800, db: str | os.PathLike | None = None,
                  speed_px_s: float = SPEED_PX_S, jump_s: float = JUMP_S) -> dict:
    """Run both windows; `seconds` is the history window's scrolling time (split between
    the two lists), the empty window runs half as long. `db`: a logbook to build once and
    reuse (a temporary one otherwise)."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="needlepoint-bench-history-") as tmp:
        path = Path(db) if db else Path(tmp) / "logbook.db"
        made = build(path, procedures)
        empty = _child("empty", seconds / 2, width, height, path, Path(tmp), 0, 0)
        hist = _child("history", seconds, width, height, path, Path(tmp), speed_px_s,
                      jump_s)
    e = percentiles(np.diff(empty["flips"]["empty"]))
    lists = {}
    for name in LISTS:
        f = np.diff(hist["flips"].get(name, []))
        lists[name] = {"rows": hist["rows"].get(name), "frames": int(f.size),
                       "frame_ms": percentiles(f), "load_ms": hist["load_ms"].get(name),
                       "jumps": hist["jumps"].get(name, 0)}
    all_f = np.concatenate([np.diff(hist["flips"].get(n, [])) for n in LISTS])
    h = percentiles(all_f)
    ratio = (h["p99"] / e["p99"]) if e["p99"] else None
    return {
        "bench": "history", "procedures": procedures, "size": [width, height],
        "speed_px_s": speed_px_s, "jump_s": jump_s,
        "display": hist.get("display"), "logbook": made,
        "frame_ms": {"empty": e, "history": h}, "lists": lists,
        "targets": {
            "p99_ratio": {"limit": P99_RATIO, "value": round(ratio, 3) if ratio else None,
                          "pass": bool(ratio is not None and ratio <= P99_RATIO)},
            "max_frame_ms": {"limit": MAX_FRAME_MS, "value": h["max"],
                             "pass": bool(h["max"] is not None and h["max"] <= MAX_FRAME_MS)},
        },
        "machine": machine(), "wall_s": round(time.perf_counter() - start, 1),
    }


def format_history(rep: dict) -> str:
    f, t = rep["frame_ms"], rep["targets"]

    def pct(p):
        return f"p50 {p['p50']:.1f}  p99 {p['p99']:.1f}  max {p['max']:.1f} ms"

    lines = [f"bench history: {rep['procedures']} procedures, window "
             f"{rep['size'][0]}x{rep['size'][1]} ({rep['display']})",
             f"  empty window        {pct(f['empty'])}",
             f"  history scrolling   {pct(f['history'])}"]
    for name, v in rep["lists"].items():
        lines.append(f"    {name:<11} {v['rows']} rows, loaded in {v['load_ms']:.0f} ms; "
                     f"{v['frames']} frames, {v['jumps']} jumps: {pct(v['frame_ms'])}")
    r = t["p99_ratio"]
    m = t["max_frame_ms"]
    lines.append(f"  p99 / empty p99 = {r['value']} (target <= {r['limit']}): "
                 f"{'pass' if r['pass'] else 'FAIL'}")
    lines.append(f"  worst scrolling frame {m['value']:.1f} ms (target <= {m['limit']:g}): "
                 f"{'pass' if m['pass'] else 'FAIL'}")
    return "\n".join(lines)


def _child(kind: str, seconds: float, width: int, height: int, db: Path, tmp: Path,
           speed: float, jump: float) -> dict:
    return run_window("app.ui.bench_history", kind,
                      [f"{seconds:g}", str(width), str(height), str(db)],
                      [f"{speed:g}", f"{jump:g}"], tmp, timeout=seconds * 3 + 180)
