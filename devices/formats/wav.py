"""WAV: scipy reads the samples; our own small RIFF walker and writer handle what scipy
skips, the LIST/INFO chunk where we keep the microvolt scale.

A WAV has no unit, so a WAV is only usable with a scale: ours carry it in an ICMT comment
(`needlepoint uv_full_scale=4096.0 fs=4000.0 ...`), anybody else's needs `uv_fs`.
"""

from __future__ import annotations

import math
import struct
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

import numpy as np
import scipy.io.wavfile

from devices.errors import DeviceError
from devices.formats.common import Recording, pick_channels, require_file, short_error

MARK = "needlepoint"
_PCM, _FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE


@dataclass
class _Head:
    tag: int = 0
    channels: int = 0
    rate: int = 0
    bits: int = 0
    block_align: int = 0
    frames: int = 0
    info: dict[str, str] = field(default_factory=dict)


# reading ---------------------------------------------------------------------------------

def read(path, *, uv_full_scale: float | None = None, channels: Sequence[int] | None = None,
         header_only: bool = False) -> Recording:
    require_file(path)
    head = _walk(path)
    ours = _our_comment(head.info.get("ICMT", "")) if head else {}
    scale, scale_from = _scale(path, uv_full_scale, ours)
    data = _load(path, head, header_only)
    picked = pick_channels(data.channels, channels, str(path))
    if data.counts is None:
        samples = np.zeros((0, len(picked)), np.float32)
    else:
        samples = _microvolts(data.counts[:, picked], scale)
    fs = _stored_fs(ours, data.rate)
    labels = _labels(ours, data.channels)
    details = {
        "format": f"WAV {'float' if data.is_float else 'PCM'} {data.bits}-bit",
        "frames": data.frames,
        "duration_s": data.frames / fs,
        "uv_full_scale": scale,
        "scale_from": scale_from,
    }
    if "device" in ours:
        details["recorded_with"] = ours["device"]
    if data.warnings:
        details["warnings"] = sorted({short_error(w.message) for w in data.warnings})
    step = None if data.is_float else scale / 2.0 ** (data.bits - 1)
    return Recording(
        samples=samples,
        fs=fs,
        labels=tuple(labels[i] for i in picked),
        source=str(path),
        calibrated=ours.get("calibrated", "1") == "1" if scale_from == "file" else True,
        step_uv=tuple(step for _ in picked),
        details=details,
    )


@dataclass
class _Data:
    rate: int
    channels: int
    frames: int
    is_float: bool
    bits: int
    counts: np.ndarray | None = None  # None after a header-only read
    warnings: list = field(default_factory=list)


def _load(path, head: _Head | None, header_only: bool) -> _Data:
    if header_only and head and head.tag in (_PCM, _FLOAT) and head.channels:
        return _Data(head.rate, head.channels, head.frames, head.tag == _FLOAT, head.bits)
    rate, counts, caught = _scipy_read(path)
    bits = head.bits if head and head.bits else 8 * counts.dtype.itemsize
    return _Data(rate, counts.shape[1], counts.shape[0], counts.dtype.kind == "f", bits,
                 counts, caught)


def _microvolts(counts: np.ndarray, scale: float) -> np.ndarray:
    centre = 128.0 if counts.dtype == np.uint8 else 0.0  # 8-bit WAV is unsigned
    full = _full_scale(counts.dtype)
    return ((counts.astype(np.float64) - centre) * (scale / full)).astype(np.float32)


def _scale(path, uv_full_scale, ours: dict) -> tuple[float, str]:
    if uv_full_scale is not None:
        if not (math.isfinite(uv_full_scale) and uv_full_scale > 0):
            raise DeviceError(f"uv_fs={uv_full_scale} must be a positive number of microvolts")
        return float(uv_full_scale), "uv_fs"
    try:
        return float(ours["uv_full_scale"]), "file"
    except (KeyError, ValueError):
        raise DeviceError(
            f"{path} has no microvolt scale: add ?uv_fs=<microvolts at full scale> to the "
            f"URI, e.g. file:{path}?uv_fs=5000"
        ) from None


def _scipy_read(path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            rate, data = scipy.io.wavfile.read(path)
        except Exception as e:  # scipy raises many kinds for a damaged file
            raise DeviceError(
                f"cannot read {path} as WAV: {short_error(e)}; the file is damaged or not WAV"
            ) from None
    if data.ndim == 1:
        data = data[:, None]
    return rate, data, list(caught)


def _full_scale(dtype: np.dtype) -> float:
    if dtype.kind == "f":
        return 1.0
    if dtype == np.uint8:
        return 128.0
    return float(2 ** (8 * dtype.itemsize - 1))  # 24-bit arrives left-justified in int32


def _stored_fs(ours: dict, rate: int) -> float:
    # The fmt chunk holds whole hertz only; our comment keeps the exact rate.
    try:
        fs = float(ours["fs"])
    except (KeyError, ValueError):
        return float(rate)
    return fs if abs(fs - rate) < 1 else float(rate)


def _labels(ours: dict, count: int) -> list[str]:
    stored = [unquote(x) for x in ours.get("labels", "").split(",")] if "labels" in ours else []
    return stored if len(stored) == count else [f"EMG {i + 1}" for i in range(count)]


def _our_comment(text: str) -> dict[str, str]:
    tokens = text.split()
    if not tokens or tokens[0] != MARK:
        return {}
    pairs = (t.partition("=") for t in tokens[1:])
    return {k: unquote(v) for k, sep, v in pairs if sep}


def _walk(path) -> _Head | None:
    """Header facts and INFO strings of a little-endian RIFF WAVE; None for other kinds
    (RIFX, RF64), which scipy reads in full."""
    try:
        with open(path, "rb") as f:
            riff = f.read(12)
            if len(riff) < 12 or riff[:4] != b"RIFF":
                return None
            if riff[8:12] != b"WAVE":
                raise DeviceError(f"{path} is a RIFF file but not WAV: give a .wav recording")
            return _chunks(f)
    except OSError as e:
        raise DeviceError(f"cannot read {path}: {short_error(e)}") from None


def _chunks(f) -> _Head:
    head = _Head()
    f.seek(0, 2)
    end, pos = f.tell(), 12
    while pos + 8 <= end:
        f.seek(pos)
        cid, size = struct.unpack("<4sI", f.read(8))
        if cid == b"fmt " and size >= 16:
            _fmt(f.read(min(size, 40)), head)
        elif cid == b"data":
            head.frames = min(size, end - pos - 8) // max(head.block_align, 1)
        elif cid == b"LIST" and size >= 4:
            head.info.update(_info(f.read(min(size, 1 << 20))))
        pos += 8 + size + (size & 1)
    return head


def _fmt(raw: bytes, head: _Head) -> None:
    head.tag, head.channels, head.rate, _, head.block_align, head.bits = struct.unpack(
        "<HHIIHH", raw[:16])
    if head.tag == _EXTENSIBLE and len(raw) >= 26:
        head.bits = struct.unpack("<H", raw[18:20])[0] or head.bits  # valid bits
        head.tag = struct.unpack("<H", raw[24:26])[0]  # first two bytes of the sub-format


def _info(raw: bytes) -> dict[str, str]:
    if raw[:4] != b"INFO":
        return {}
    out, pos = {}, 4
    while pos + 8 <= len(raw):
        cid, size = struct.unpack("<4sI", raw[pos:pos + 8])
        value = raw[pos + 8:pos + 8 + size].split(b"\0", 1)[0]
        out[cid.decode("latin-1")] = value.decode("utf-8", "replace")
        pos += 8 + size + (size & 1)
    return out


# writing ---------------------------------------------------------------------------------

def write(file, samples: np.ndarray, fs: float, *, labels: Sequence[str], device_uri: str,
          settings: dict, calibrated: bool) -> None:
    frames, channels = samples.shape
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    # A power of two: dividing by it and multiplying back are exact in float32.
    scale = 2.0 ** math.ceil(math.log2(max(peak, 2.0**-20)))
    data = (samples.astype(np.float32) / np.float32(scale)).astype("<f4").tobytes()
    rate = round(fs)
    if not 1 <= rate < 2**32:
        raise DeviceError(f"a WAV file cannot hold a sampling rate of {fs:g} Hz: write .edf")
    facts = {k: v for k, v in settings.items() if isinstance(v, str | int | float)}
    facts.update({  # ours last: a setting of the same name must not change the scale
        "uv_full_scale": repr(scale),
        "fs": repr(float(fs)),
        "calibrated": "1" if calibrated else "0",
        "labels": ",".join(quote(x, safe="") for x in labels),
        "device": device_uri,
    })
    comment = " ".join([MARK, *(f"{k}={quote(str(v), safe=':/,')}" for k, v in facts.items())])
    fmt = struct.pack("<HHIIHHH", _FLOAT, channels, rate, rate * channels * 4, channels * 4,
                      32, 0)
    info = b"INFO" + _chunk(b"ISFT", b"needlepoint\0") + _chunk(b"ICMT", comment.encode() + b"\0")
    body = b"WAVE" + _chunk(b"fmt ", fmt) + _chunk(b"fact", struct.pack("<I", frames))
    body += _chunk(b"LIST", info)
    total = len(body) + 8 + len(data)
    if total >= 2**32:
        raise DeviceError(f"{frames} frames are too many for a WAV file (4 GiB): write .edf")
    file.write(b"RIFF" + struct.pack("<I", total) + body)
    file.write(b"data" + struct.pack("<I", len(data)))
    file.write(data)


def _chunk(cid: bytes, payload: bytes) -> bytes:
    pad = b"\0" if len(payload) & 1 else b""
    return cid + struct.pack("<I", len(payload)) + payload + pad
