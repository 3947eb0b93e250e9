"""What every benchmark shares: the machine it ran on, percentiles of a run, the check of
--seconds."""

from __future__ import annotations

import math
import os
import platform

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


