"""Recording files in and out, in microvolts: EDF/EDF+/BDF (edfio), WAV, WFDB format 16.

Every failure is a DeviceError with one line that says what is wrong and what to do.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from devices.errors import DeviceError
from devices.files import atomic_write
from devices.formats import edf, edf_write, wav, wfdb
from devices.formats.common import Recording, short_error

__all__ = [
    "READABLE", "WRITABLE", "Recording", "check_writable", "read_header", "read_recording",
    "write_recording",
]

READABLE = (".edf", ".bdf", ".wav", ".hea", ".dat")
WRITABLE = (".edf", ".bdf", ".wav")


def read_recording(path: str | os.PathLike, *, uv_full_scale: float | None = None,
                   channels: Sequence[int] | None = None) -> Recording:
    """The whole recording, samples in microvolts."""
    return _read(path, uv_full_scale, channels, header_only=False)


def read_header(path: str | os.PathLike, *, uv_full_scale: float | None = None,
                channels: Sequence[int] | None = None) -> Recording:
    """What `read_recording` would return, without reading the samples where the format
    allows it: `samples` has no rows and `details["frames"]` gives the length."""
    return _read(path, uv_full_scale, channels, header_only=True)


def _read(path, uv_full_scale, channels, *, header_only: bool) -> Recording:
    kind = _kind(Path(path))
    if uv_full_scale is not None and kind != ".wav":
        raise DeviceError(
            f"uv_fs applies to WAV files only; {path} carries its own scale: remove uv_fs"
        )
    if kind == ".wav":
        return wav.read(path, uv_full_scale=uv_full_scale, channels=channels,
                        header_only=header_only)
    if kind in (".edf", ".bdf"):
        return edf.read(path, bdf=kind == ".bdf", channels=channels, header_only=header_only)
    return wfdb.read(path, channels=channels, header_only=header_only)


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".edf", ".bdf", ".wav"):
        return suffix
    if suffix in (".hea", ".dat") or (not suffix and wfdb.header_path(path).exists()):
        return ".hea"
    if not suffix and not path.exists():
        raise DeviceError(f"{path} does not exist (nor {path}.hea): check the path")
    raise DeviceError(
        f"cannot replay '{path.name}': use a recording ending in "
        f"{', '.join(READABLE)} (or a WFDB record name)"
    )


def check_writable(path: str | os.PathLike) -> None:
    """Refuse, before any recording starts, a file name we could not write."""
    p = Path(path)
    if p.suffix.lower() not in WRITABLE:
        raise DeviceError(
            f"cannot write '{p.name}': the file name must end in {', '.join(WRITABLE)}"
        )
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise DeviceError(f"cannot write {p}: the folder {folder} does not exist")
    if p.is_dir():
        raise DeviceError(f"cannot write {p}: it is a folder")


def write_recording(path: str | os.PathLike, samples_uv: np.ndarray, fs: float, *,
                    labels: Sequence[str] = (), device_uri: str, settings: dict,
                    annotations: Iterable[tuple[float, float | None, str]] = (),
                    step_uv: Sequence[float | None] | float | None = None,
                    calibrated: bool = True,
                    start: datetime.datetime | None = None) -> None:
    """Write microvolts to .edf (EDF+C), .bdf (BDF+C) or .wav (float32), atomically.

    `step_uv` is each channel's quantisation step, where known (an ADC's microvolts per
    count, a WFDB or EDF source's step): EDF and BDF then store the samples on that grid,
    losslessly. `annotations` are (onset s, duration s or None, text); WAV keeps none.
    """
    check_writable(path)
    samples = _checked(samples_uv)
    fs = float(fs)
    if not (np.isfinite(fs) and fs > 0):
        raise DeviceError(f"cannot write a sampling rate of {fs:g} Hz")
    channels = samples.shape[1]
    labels = _labels(labels, channels)
    steps = _steps(step_uv, channels)
    path = Path(path)
    kind = path.suffix.lower()
    try:
        # Streamed into a temporary beside the file, renamed over it only once complete, so
        # a full disk or a kill never leaves half a recording under the final name. Readable
        # by all (less the umask), as recordings always were: the signal, the device and its
        # settings, no patient identity (the EDF patient field is anonymous), made to be replayed.
        with atomic_write(path, 0o644, binary=True) as file:
            if kind == ".wav":
                wav.write(file, samples, fs, labels=labels, device_uri=device_uri,
                          settings=settings, calibrated=calibrated)
            else:
                edf_write.write(file, samples, fs, bdf=kind == ".bdf", labels=labels,
                                device_uri=device_uri, settings=settings,
                                annotations=annotations, step_uv=steps,
                                start=start or datetime.datetime.now())
    except OSError as e:
        raise DeviceError(f"cannot write {path}: {short_error(e)}") from None


def _checked(samples_uv) -> np.ndarray:
    samples = np.asarray(samples_uv, dtype=np.float32)
    if samples.ndim == 1:
        samples = samples[:, None]
    if samples.ndim != 2 or samples.shape[0] == 0 or samples.shape[1] == 0:
        raise DeviceError(f"nothing to write: samples have shape {samples.shape}")
    if not np.all(np.isfinite(samples)):
        raise DeviceError("cannot write samples that are NaN or infinite")
    return samples


def _labels(labels: Sequence[str], channels: int) -> list[str]:
    labels = list(labels)
    if labels and len(labels) != channels:
        raise DeviceError(f"{len(labels)} labels given for {channels} channels")
    return [x or f"EMG {i + 1}" for i, x in enumerate(labels)] or [
        f"EMG {i + 1}" for i in range(channels)]


def _steps(step_uv, channels: int) -> list[float | None]:
    if step_uv is None or isinstance(step_uv, int | float):
        return [step_uv] * channels
    steps = list(step_uv)
    return steps if len(steps) == channels else [None] * channels
