"""Reading EDF, EDF+ and BDF through edfio, in microvolts."""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Sequence

import edfio
import numpy as np

from devices.errors import DeviceError
from devices.formats.common import (
    Recording,
    pick_channels,
    require_file,
    short_error,
    snap_fs,
    unit_note,
    uv_per_unit,
)

SETTINGS_PREFIX = "needlepoint settings "


def read(path, *, bdf: bool, channels: Sequence[int] | None = None,
         header_only: bool = False) -> Recording:
    require_file(path)
    kind = "BDF" if bdf else "EDF"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        edf = _open(path, kind, bdf)
        signals = _chosen(edf, channels, path)
        factors = [_factor(s, path) for s in signals]
        fs = snap_fs(signals[0].sampling_frequency)
        frames = edf.num_data_records * signals[0].samples_per_data_record
        if header_only:
            samples = np.zeros((0, len(signals)), np.float32)
        else:
            samples = _samples(signals, factors, frames, path, kind)
        details = _details(edf, signals, kind, frames, fs, header_only)
    found = sorted({short_error(w.message) for w in caught})
    if found:
        details["warnings"] = found
    return Recording(
        samples=samples,
        fs=fs,
        labels=tuple(s.label or f"EMG {i + 1}" for i, s in enumerate(signals)),
        source=str(path),
        calibrated=all(s.physical_dimension.strip() for s in signals)
        and not _said_uncalibrated(details),
        step_uv=tuple(_coarsest(_step(s, f), _noted_step(details))
                      for s, f in zip(signals, factors, strict=True)),
        details=details,
    )


def _said_uncalibrated(details: dict) -> bool:
    """Our own recordings note an uncalibrated amplifier in the header's recording field
    (the samples are still in uV units, on a guessed scale)."""
    return "calibrated=0" in str(details.get("recording", "")).split()


def _open(path, kind: str, bdf: bool):
    # A damaged header can fail anywhere inside edfio; none of that is for the user.
    try:
        return edfio.read_bdf(path) if bdf else edfio.read_edf(path, lazy_load_data=True)
    except Exception as e:
        raise DeviceError(
            f"cannot read {path} as {kind}: {short_error(e)}; the file is damaged or not {kind}"
        ) from None


def _chosen(edf, channels, path) -> list:
    signals = list(edf.signals)
    if not signals:
        raise DeviceError(f"{path} holds annotations only: there is no signal to replay")
    if channels is None:
        fs0 = signals[0].sampling_frequency
        return [s for s in signals if s.sampling_frequency == fs0]
    picked = [signals[i] for i in pick_channels(len(signals), channels, str(path))]
    rates = {s.sampling_frequency for s in picked}
    if len(rates) > 1:
        raise DeviceError(
            f"the channels picked from {path} have different sampling rates "
            f"({', '.join(f'{r:g}' for r in sorted(rates))} Hz): pick channels of one rate"
        )
    return picked


def _factor(signal, path) -> float:
    unit = signal.physical_dimension
    if not unit.strip():
        return 1.0
    factor = uv_per_unit(unit)
    if factor is None:
        raise DeviceError(
            f"signal '{signal.label}' in {path} is in '{unit}', not a voltage: "
            "pick the EMG channels with ?channels=<indices, from 0>"
        )
    return factor


def _noted_step(details: dict) -> float | None:
    """The amplifier's microvolts per count, as our recordings note it: the samples went
    through that step before the file's finer one."""
    try:
        noted = json.loads(details.get("recorded_with", "")).get("uv_per_count")
    except (ValueError, AttributeError):  # another program's file, or a truncated note
        return None
    return float(noted) if isinstance(noted, int | float) and noted > 0 else None


def _coarsest(*steps: float | None) -> float | None:
    known = [x for x in steps if x]
    return max(known) if known else None


def _step(signal, factor: float) -> float | None:
    digital = signal.digital_max - signal.digital_min
    if digital == 0:
        return None
    return abs(signal.physical_max - signal.physical_min) / digital * factor


def _samples(signals, factors, frames, path, kind) -> np.ndarray:
    out = np.empty((frames, len(signals)), np.float32)
    try:
        for j, (s, f) in enumerate(zip(signals, factors, strict=True)):
            gain, offset = _calibration(s)
            out[:, j] = (s.digital[:frames] + offset) * (gain * f)
    except Exception as e:
        raise DeviceError(
            f"cannot read the samples of {path}: {short_error(e)}; the {kind} file is damaged"
        ) from None
    return out


def _calibration(signal) -> tuple[float, float]:
    """Gain and offset (in counts) as edfio computes them, except that an offset which is
    a whole number of counts up to float noise is made whole: then data stored on a grid
    (0.1 uV from a WFDB record) come back as exactly count * step."""
    digital = signal.digital_max - signal.digital_min
    physical = signal.physical_max - signal.physical_min
    if digital == 0 or physical == 0:
        return 1.0, 0.0  # edfio too returns such a signal uncalibrated
    gain = physical / digital
    offset = signal.physical_max / gain - signal.digital_max
    if abs(offset - round(offset)) < 1e-6:
        offset = float(round(offset))
    return gain, offset


def _details(edf, signals, kind: str, frames: int, fs: float, header_only: bool) -> dict:
    reserved = edf.reserved.strip() if hasattr(edf, "reserved") else ""
    d: dict = {
        "format": reserved if reserved.startswith(kind) else kind,
        "frames": frames,
        "duration_s": frames / fs,
        "record_duration_s": edf.data_record_duration,
        "recording": edf.local_recording_identification,
        "units": [s.physical_dimension for s in signals],
    }
    # An anonymised or malformed date is no reason to refuse a file.
    with contextlib.suppress(Exception):
        d["start"] = edf.startdatetime.isoformat()
    for key, attr in (("prefiltering", "prefiltering"), ("transducer", "transducer_type")):
        values = {getattr(s, attr) for s in signals} - {""}
        if values:
            d[key] = sorted(values)
    dropped = [s.label for s in edf.signals if s not in signals]
    if dropped:
        d["not_replayed"] = dropped
    notes = [n for n in {unit_note(s.physical_dimension) for s in signals} if n]
    if d["format"].endswith("+D"):
        notes.append("discontinuous EDF+D: replayed as if continuous")
    if notes:
        d["notes"] = sorted(notes)
    if not header_only:
        d.update(_annotations(edf))
    return d


def _annotations(edf) -> dict:
    try:
        annotations = edf.annotations
    except Exception as e:  # unreadable annotations do not spoil the signal
        return {"annotations_error": short_error(e)}
    out: dict = {"annotations": len(annotations)}
    for a in annotations:
        if a.text.startswith(SETTINGS_PREFIX):
            out["recorded_with"] = a.text[len(SETTINGS_PREFIX):]
            break
    return out
