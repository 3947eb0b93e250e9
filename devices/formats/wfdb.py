"""WFDB records (PhysioNet): our own reader of the `.hea` header and format-16 signal files.

Format 16 is all that real needle EMG on PhysioNet uses; other formats are refused by name
rather than guessed at.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from devices.errors import DeviceError
from devices.formats.common import (
    Recording,
    pick_channels,
    require_file,
    short_error,
    unit_note,
    uv_per_unit,
)

_DEFAULT_GAIN = 200.0  # WFDB: a gain of 0 or none means 200 units, uncalibrated
_DEFAULT_FS = 250.0
_GAIN = re.compile(r"^([-+]?[\d.]+(?:[eE][-+]?\d+)?)(?:\(([-+]?\d+)\))?(?:/(\S*))?$")


@dataclass(frozen=True)
class _Signal:
    file: str
    gain: float
    baseline: int
    unit: str
    calibrated: bool
    initial: int | None
    checksum: int | None
    label: str


@dataclass(frozen=True)
class _Header:
    name: str
    fs: float
    frames: int | None  # None: the header leaves it to the file size
    signals: tuple[_Signal, ...]
    comments: tuple[str, ...]


def header_path(path: str | os.PathLike) -> Path:
    """The .hea file for a record given as .hea, .dat or a bare record name."""
    p = Path(path)
    if p.suffix.lower() in (".hea", ".dat"):
        return p.with_suffix(".hea")
    return p.with_name(p.name + ".hea")


def read(path, *, channels: Sequence[int] | None = None, header_only: bool = False):
    hea = header_path(path)
    require_file(hea)
    header = _parse(hea)
    picked = pick_channels(len(header.signals), channels, header.name)
    sigs = [header.signals[i] for i in picked]
    scales = [_uv_per_count(s, header.name) for s in sigs]
    if header_only:
        frames = header.frames if header.frames is not None else _frames_from_size(hea, header)
        samples = np.zeros((0, len(sigs)), np.float32)
    else:
        counts = _load(hea, header)[:, picked]
        frames = counts.shape[0]
        samples = np.empty(counts.shape, np.float32)
        for j, (s, scale) in enumerate(zip(sigs, scales, strict=True)):
            samples[:, j] = (counts[:, j].astype(np.float64) - s.baseline) * scale
    details = {
        "format": "WFDB format 16",
        "record": header.name,
        "frames": frames,
        "duration_s": frames / header.fs,
        "units": [s.unit for s in sigs],
    }
    if not header_only:
        details["checksum"] = "verified"
    notes = [n for n in {unit_note(s.unit) for s in sigs} if n]
    if notes:
        details["notes"] = sorted(notes)
    if header.comments:
        details["comments"] = list(header.comments)
    return Recording(
        samples=samples,
        fs=header.fs,
        labels=tuple(s.label or f"EMG {i + 1}" for i, s in zip(picked, sigs, strict=True)),
        source=str(hea),
        calibrated=all(s.calibrated and s.unit.strip() for s in sigs),
        step_uv=tuple(abs(x) for x in scales),
        details=details,
    )


def _uv_per_count(s: _Signal, record: str) -> float:
    factor = uv_per_unit(s.unit) if s.unit.strip() else 1.0
    if factor is None:
        raise DeviceError(
            f"signal '{s.label}' of {record} is in '{s.unit}', not a voltage: "
            "pick the EMG signals with ?channels=<indices>"
        )
    return factor / s.gain  # one division, so 10000/mV gives exactly 0.1 uV per count


def _parse(hea: Path) -> _Header:
    try:
        text = hea.read_text(encoding="latin-1")
    except OSError as e:
        raise DeviceError(f"cannot read {hea}: {short_error(e)}") from None
    lines, comments = [], []
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#"):
            if line.lstrip("#").strip():
                comments.append(line.lstrip("#").strip())
        elif line:
            lines.append(line)
    if not lines:
        raise DeviceError(f"{hea} is empty: it is not a WFDB header")
    try:
        name, nsig, fs, frames = _record_line(lines[0], hea)
        if len(lines) - 1 < nsig:
            raise ValueError(f"the header lists {len(lines) - 1} of its {nsig} signals")
        signals = tuple(_signal_line(line, hea) for line in lines[1 : 1 + nsig])
    except (ValueError, IndexError) as e:
        raise DeviceError(f"{hea} is not a valid WFDB header: {short_error(e)}") from None
    if not signals:
        raise DeviceError(f"WFDB record {name} has no signals")
    return _Header(name, fs, frames, signals, tuple(comments))


def _record_line(line: str, hea: Path) -> tuple[str, int, float, int | None]:
    tokens = line.split()
    name = tokens[0]
    if "/" in name:
        raise DeviceError(
            f"{hea} is a multi-segment WFDB record, which is not supported: "
            "replay one of its segments instead"
        )
    nsig = int(tokens[1])
    fs = _DEFAULT_FS
    if len(tokens) > 2:
        fs = float(re.split(r"[/(]", tokens[2])[0])
        if not fs > 0:
            raise ValueError(f"sampling frequency {tokens[2]} is not positive")
    frames = int(tokens[3]) if len(tokens) > 3 and int(tokens[3]) > 0 else None
    return name, nsig, fs, frames


def _signal_line(line: str, hea: Path) -> _Signal:
    tokens = line.split()
    file, fmt = tokens[0], tokens[1]
    if fmt != "16":
        raise DeviceError(
            f"{hea} stores its samples in WFDB format {fmt}; only format 16 is supported: "
            "convert the record to format 16 or to EDF"
        )
    if file in ("-", "~"):
        raise DeviceError(f"{hea} has no signal file ('{file}'): nothing to replay")
    gain, baseline, unit, calibrated = _DEFAULT_GAIN, None, "mV", False
    if len(tokens) > 2:
        m = _GAIN.match(tokens[2])
        if not m:
            raise ValueError(f"cannot read the gain '{tokens[2]}'")
        if float(m.group(1)) != 0:
            gain, calibrated = float(m.group(1)), True
        baseline = int(m.group(2)) if m.group(2) is not None else None
        unit = m.group(3) if m.group(3) is not None else "mV"  # WFDB's default unit
    adc_zero = int(tokens[4]) if len(tokens) > 4 else 0
    return _Signal(
        file=file,
        gain=gain,
        baseline=adc_zero if baseline is None else baseline,
        unit=unit,
        calibrated=calibrated,
        initial=int(tokens[5]) if len(tokens) > 5 else None,
        checksum=int(tokens[6]) if len(tokens) > 6 else None,
        label=" ".join(tokens[8:]) if len(tokens) > 8 else "",
    )


def _groups(header: _Header) -> dict[str, list[int]]:
    """Signal indices per signal file, in file order: format 16 interleaves them."""
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(header.signals):
        groups.setdefault(s.file, []).append(i)
    return groups


def _frames_from_size(hea: Path, header: _Header) -> int:
    file, members = next(iter(_groups(header).items()))
    dat = hea.parent / file
    require_file(dat)
    return os.path.getsize(dat) // (2 * len(members))


def _load(hea: Path, header: _Header) -> np.ndarray:
    """All samples as int16 counts, shape (frames, signals), each check passed."""
    out: np.ndarray | None = None
    for file, members in _groups(header).items():
        dat = hea.parent / file
        require_file(dat)
        try:
            flat = np.fromfile(dat, "<i2")
        except OSError as e:
            raise DeviceError(f"cannot read {dat}: {short_error(e)}") from None
        frames = header.frames if header.frames is not None else len(flat) // len(members)
        if len(flat) != frames * len(members):
            raise DeviceError(
                f"WFDB record {header.name} is corrupt: {dat.name} holds {len(flat)} samples, "
                f"the header says {frames * len(members)}; the file is truncated or damaged"
            )
        block = flat.reshape(frames, len(members))
        if out is None:
            out = np.empty((frames, len(header.signals)), np.int16)
        for j, i in enumerate(members):
            _verify(block[:, j], header.signals[i], header.name, i)
            out[:, i] = block[:, j]
    assert out is not None
    return out


def _verify(counts: np.ndarray, s: _Signal, record: str, index: int) -> None:
    if s.checksum is not None:
        # WFDB keeps the sum of all samples in a signed 16-bit accumulator.
        total = (int(counts.sum(dtype=np.int64)) + 32768) % 65536 - 32768
        if total != s.checksum:
            raise DeviceError(
                f"WFDB record {record} is corrupt: checksum of signal {index} is {total}, "
                f"the header says {s.checksum}; the .dat file is damaged or not this record's"
            )
    if s.initial is not None and len(counts) and int(counts[0]) != s.initial:
        raise DeviceError(
            f"WFDB record {record} is corrupt: signal {index} starts at {int(counts[0])}, "
            f"the header says {s.initial}"
        )
