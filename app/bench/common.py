"""What every benchmark shares: the machine it ran on, percentiles of a run, the check of
--seconds, and the child process that holds a benchmark's window."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np


def percentiles(seconds) -> dict:
    """p50, p99 and max in milliseconds (None for no values)."""
    v = np.asarray(seconds, float) * 1000
    if v.size == 0:
        return {"p50": None, "p99": None, "max": None}
    p50, p99 = np.percentile(v, [50, 99])
    return {"p50": rounded(p50, 4), "p99": rounded(p99, 4), "max": rounded(v.max(), 4)}


def machine() -> dict:
    import scipy

    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"python": platform.python_version(), "numpy": np.__version__,
            "scipy": scipy.__version__, "cpus": os.cpu_count(),
            "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
            "load_avg_1_5_15": [round(v, 2) for v in load] if load else None,
            "platform": platform.platform()}


def check_seconds(seconds: float) -> None:
    from app.commands.errors import UsageError

    if not (math.isfinite(seconds) and 0.1 <= seconds <= 3600):
        raise UsageError(f"--seconds must be between 0.1 and 3600, not {seconds:g}")


def rounded(v: float, digits: int) -> float:
    return round(float(v), digits)




def run_window(module: str, kind: str, before: list[str], after: list[str], tmp: Path,
               timeout: float) -> dict:
    """One benchmark window in a child process of its own (`python -m module kind *before
    OUT *after`, with a throwaway NEEDLEPOINT_HOME): the JSON it wrote to OUT. The windows
    are Kivy's, so `module` is one of app/ui's; the parent only reads the figures."""
    root = Path(__file__).resolve().parents[2]  # the checkout, holding app/
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(root), *filter(None, [os.environ.get("PYTHONPATH")])])}
    env["NEEDLEPOINT_HOME"] = str(tmp / "home")
    out = tmp / f"{kind}.json"
    cmd = [sys.executable, "-m", module, kind, *before, str(out), *after]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0 or not out.exists():
        raise RuntimeError(f"{module}: the {kind} window failed (exit {done.returncode}): "
                           f"{done.stderr[-3000:]}")
    return json.loads(out.read_text())
