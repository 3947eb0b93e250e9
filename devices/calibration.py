"""Microvolts per count, per amplifier, as set by `needlepoint calibrate`.

One small JSON file in the app's home folder (NEEDLEPOINT_HOME, else
~/.local/share/needlepoint), keyed by the amplifier's identity (its USB serial number, else
the port it was calibrated on). Written atomically; a damaged file is set aside, never
overwritten in place, and reads as "no calibration" with the reason kept for the user.
"""

from __future__ import annotations

import datetime
import json
import os
from dataclasses import dataclass
from pathlib import Path

from devices.errors import DeviceError
from devices.files import atomic_write, home

FILE_NAME = "calibration.json"


def path() -> Path:
    return home() / FILE_NAME


@dataclass(frozen=True)
class Calibration:
    uv_per_count: float
    when: str  # UTC, ISO 8601
    how: str  # e.g. "1000 uV p-p calibrator, 812.4 counts p-p"


def _read_all() -> dict:
    p = path()
    try:
        text = p.read_text()
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise DeviceError(f"cannot read the calibration file {p}: {e.strerror}") from None
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not an object")
        return data
    except ValueError:
        bad = p.with_suffix(".damaged.json")
        os.replace(p, bad)  # keep it for whoever wants to look; start afresh
        raise DeviceError(
            f"the calibration file {p} was damaged; it is kept as {bad.name}: calibrate "
            "the amplifier again"
        ) from None


def load(key: str) -> Calibration | None:
    """The stored calibration of amplifier `key`, or None (never calibrated, or the file is
    damaged: then this raises DeviceError once, saying so)."""
    entry = _read_all().get(key)
    if not isinstance(entry, dict):
        return None
    try:
        value = float(entry["uv_per_count"])
    except (KeyError, TypeError, ValueError):
        return None
    if not value > 0:
        return None
    return Calibration(value, str(entry.get("when", "")), str(entry.get("how", "")))


def save(key: str, uv_per_count: float, how: str) -> Calibration:
    """Store amplifier `key`'s scale (other amplifiers' entries are kept)."""
    if not uv_per_count > 0:
        raise DeviceError(f"a calibration must be a positive scale, not {uv_per_count}")
    try:
        data = _read_all()
    except DeviceError:
        data = {}  # the damaged file was set aside; this calibration starts a new one
    when = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    data[key] = {"uv_per_count": uv_per_count, "when": when, "how": how}
    p = path()
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        # Readable by all (less the umask), as it was written before: amplifiers' scales,
        # nothing about any patient, so nothing to hide.
        with atomic_write(p, 0o644) as f:
            f.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
    except OSError as e:
        raise DeviceError(f"cannot store the calibration in {p}: {e.strerror}; free some "
                          "space or set NEEDLEPOINT_HOME to a writable folder") from None
    return Calibration(uv_per_count, when, how)
