"""The EMG kept with an injection, as the logbook stores it: exact int16 counts, their
scale and where they came from. From hardware the counts are the amplifier's own (raw / its
step, exactly); from the simulator, which has no step, the finest round scale that fits the
snippet in int16. The source (device URI, amplifier/simulator/replay, calibrated or not) is
the session's device's, noted on the Mark at the press."""

from __future__ import annotations

import numpy as np

from app.session.activity import findings as finding_words

# Round scales, finest first: the smallest that keeps the largest sample under FIT counts.
SCALES_UV = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)
FIT = 32000


def choose_scale(raw_uv: np.ndarray) -> float:
    peak = float(np.max(np.abs(raw_uv))) if raw_uv.size else 0.0
    for s in SCALES_UV:
        if peak / s < FIT:
            return s
    return SCALES_UV[-1]


def quantise(raw_uv: np.ndarray, uv_per_count: float | None) -> tuple[np.ndarray, float]:
    """(int16 counts, uV per count). With the device's step the counts are recovered
    exactly (the raw samples are counts times the step); values outside int16 are clipped
    and would show as a flat top, as the amplifier clipped them."""
    raw = np.asarray(raw_uv, np.float64)
    if raw.ndim == 1:
        raw = raw[:, None]
    scale = float(uv_per_count) if uv_per_count else choose_scale(raw)
    counts = np.rint(raw / scale)
    return np.clip(counts, -32768, 32767).astype(np.int16), scale


def plain(v):
    """The analyser's measures as JSON-friendly values (numpy scalars and arrays)."""
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [plain(x) for x in v]
    if hasattr(v, "tolist"):
        return v.tolist()
    if isinstance(v, float) and v != v:
        return None
    return v


def from_mark(mark) -> dict:
    """The `snippet=` argument of Logbook.log_injection for one completed Mark."""
    raw = mark.raw if mark.raw is not None else mark.samples
    counts, scale = quantise(raw, mark.uv_per_count)
    found = plain(dict(mark.findings or {}))
    found["words"] = finding_words(mark.findings or {})
    return {"samples": counts, "uv_per_count": scale, "fs": float(mark.fs),
            "injection_index": int(mark.press_offset), "findings": found,
            "source_uri": mark.source_uri, "source_kind": mark.source_kind,
            "calibrated": mark.calibrated}


def provenance(injection: dict) -> str:
    """Where an injection's EMG came from, in words for the screens ("SIMULATED - not a
    patient", "REPLAY: rec.edf", "amplifier: ...", "..., uncalibrated (counts)", "source not
    recorded"); "" when no EMG was kept with it."""
    src = injection.get("emg_source")
    return src["label"] if src else ""


def emg_summary(found: dict | None) -> dict:
    """The three figures followed over time: RMS, end-plate noise rate, tonic activity."""
    f = found or {}
    return {"rms_uv": _num(f.get("rms_uv")),
            "epn_per_s": _num(f.get("end_plate_noise_per_s")),
            "tonic": 1.0 if f.get("tonic_activity") else 0.0}


def _num(v) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if x == x else None
