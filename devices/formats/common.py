"""What every reader returns, and the unit and channel rules they share."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from devices.errors import DeviceError


@dataclass(frozen=True)
class Recording:
    """A recording in microvolts.

    `samples` is float32, shape (frames, channels). A header-only read (`read_header`)
    leaves it with no rows; `details["frames"]` then says how long the file is.
    `step_uv` is each channel's quantisation step in microvolts, None where unknown
    (float data).
    """

    samples: np.ndarray
    fs: float
    labels: tuple[str, ...]
    source: str
    calibrated: bool
    step_uv: tuple[float | None, ...]
    details: dict = field(default_factory=dict)

    @property
    def frames(self) -> int:
        return int(self.details.get("frames", self.samples.shape[0]))

    @property
    def channels(self) -> int:
        return self.samples.shape[1]

    @property
    def duration_s(self) -> float:
        return self.frames / self.fs


# Microvolts per unit. Case-insensitive because real headers disagree ("10000/mv").
_VOLT_UNITS = {
    "uv": 1.0, "µv": 1.0, "μv": 1.0, "microvolt": 1.0, "microvolts": 1.0,
    "mv": 1e3, "millivolt": 1e3, "millivolts": 1e3,
    "v": 1e6, "volt": 1e6, "volts": 1e6,
    "nv": 1e-3, "nanovolt": 1e-3, "nanovolts": 1e-3,
}


def uv_per_unit(unit: str) -> float | None:
    """Microvolts in one `unit`, or None for a unit that is not a voltage."""
    return _VOLT_UNITS.get(unit.strip().lower())


def unit_note(unit: str) -> str | None:
    """A line for `details` when a unit was converted or assumed."""
    factor = uv_per_unit(unit)
    if not unit.strip():
        return "no physical unit given: read as microvolts, not calibrated"
    if factor == 1.0:
        return None
    return f"converted from {unit.strip()} to uV"


def pick_channels(count: int, channels: Sequence[int] | None, source: str) -> list[int]:
    """Indices of the channels to keep, checked against how many there are."""
    if channels is None:
        return list(range(count))
    picked = [int(c) for c in channels]
    if not picked:
        raise DeviceError(f"no channels picked from {source}: give at least one index")
    bad = [c for c in picked if not 0 <= c < count]
    if bad:
        raise DeviceError(
            f"{source} has {count} channel{'s' if count != 1 else ''} (0 to {count - 1}); "
            f"there is no channel {', '.join(map(str, bad))}"
        )
    return picked


def short_error(e: BaseException) -> str:
    """The first line of an exception, for appending to our own message."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    # Bytes of a damaged file end up in parsers' messages: show them escaped, not raw.
    text = "".join(c if c.isprintable() and c.isascii() else "?" for c in text)
    return text if len(text) <= 160 else text[:157] + "..."


def require_file(path: str | os.PathLike) -> None:
    if not os.path.exists(path):
        raise DeviceError(f"{path} does not exist: check the path")
    if os.path.isdir(path):
        raise DeviceError(f"{path} is a folder: give a recording file inside it")


def snap_fs(fs: float) -> float:
    """Header round-off leaves 3999.9999999 where 4000 was meant; undo it (within 1 ppm)."""
    nearest = round(fs)
    return float(nearest) if nearest and abs(fs - nearest) <= 1e-6 * fs else fs
