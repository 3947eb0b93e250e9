"""EMG snippets: the exact int16 samples around an injection, stored losslessly.

Samples are kept as the amplifier gave them (int16 counts and their microvolts per count),
interleaved frame by frame, little-endian, zlib-compressed at level 1: needle EMG is mostly
noise, so a stronger level buys almost nothing (measured: 2.25x at level 1, 2.24x at 6, for
7 s at 20 kHz) and costs ten times the CPU inside the commit. The SHA-256 of the raw samples
is stored beside them and carried by the audit trail, so `verify` notices a changed sample.
Where the samples came from (device URI, kind of source, calibrated or not) is stored with
them too: see provenance.py.
"""

from __future__ import annotations

import hashlib
import zlib

import numpy as np

from app.logbook import provenance
from app.logbook.errors import LogbookError

ENCODING = "zlib1-int16le"
LEVEL = 1


def validate(snippet: dict) -> tuple[np.ndarray, dict]:
    """(samples as (frames, channels) int16, the snippet's scalar fields, its source among
    them) or a clear error."""
    x = snippet.get("samples")
    if not isinstance(x, np.ndarray) or x.dtype != np.int16:
        raise LogbookError("snippet samples must be a numpy int16 array of ADC counts "
                           "(quantise with the device's microvolts per count first)")
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise LogbookError(f"snippet samples must be (frames,) or (frames, channels), not "
                           f"{x.shape}")
    fs, scale = _positive(snippet, "fs"), _positive(snippet, "uv_per_count")
    index = snippet.get("injection_index")
    if not isinstance(index, int | np.integer) or not 0 <= int(index) < x.shape[0]:
        raise LogbookError(f"snippet injection_index must be a sample index within its "
                           f"{x.shape[0]} frames")
    return x, {"fs": fs, "uv_per_count": scale, "injection_index": int(index),
               "frames": int(x.shape[0]), "channels": int(x.shape[1]),
               **provenance.validate(snippet)}


def _positive(snippet: dict, key: str) -> float:
    try:
        v = float(snippet.get(key))
    except (TypeError, ValueError):
        v = float("nan")
    if not (np.isfinite(v) and v > 0):
        raise LogbookError(f"snippet {key} must be a positive number")
    return v


def encode(x: np.ndarray) -> tuple[bytes, str]:
    """(stored bytes, sha256 of the raw samples)."""
    raw = np.ascontiguousarray(x, dtype="<i2").tobytes()
    return zlib.compress(raw, LEVEL), hashlib.sha256(raw).hexdigest()


def decode(blob: bytes, frames: int, channels: int, encoding: str = ENCODING) -> np.ndarray:
    if encoding != ENCODING:
        raise LogbookError(f"snippet encoding {encoding!r} is not one this Needlepoint reads")
    raw = zlib.decompress(blob)
    return np.frombuffer(raw, dtype="<i2").astype(np.int16).reshape(frames, channels)


def sha256_of(blob: bytes) -> str:
    return hashlib.sha256(zlib.decompress(blob)).hexdigest()
