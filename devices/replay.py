"""The `file:` scheme: a recording replayed as a device, at real speed or as fast as read.

`file:/abs/rec.edf`, `file:relative/rec.wav?uv_fs=5000`, `file:emgdb/emg_healthy.hea?loop=0`.
A `?` inside a path must be written %3F.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from devices.base import DeviceInfo, GeneratedDevice, Isolation
from devices.errors import DeviceError, UnknownDevice
from devices.formats import Recording, read_header, read_recording
from devices.uri import Param, Scheme, Uri, read_params

PARAMS = {
    "loop": Param(bool, True, "start again at the end; loop=0 plays the file once"),
    "uv_fs": Param(float, None, "microvolts at full scale, for a WAV file that does not say",
                   low=1e-9),
    "channels": Param(str, None, "channels to replay, numbered from 0: e.g. 0,2"),
    "block_ms": Param(float, None, "chunk length in ms (default 5 paced, 100 unpaced)",
                      low=0.01, high=10_000.0),
}
_PACED_BLOCK_MS = 5.0
_FAST_BLOCK_MS = 100.0  # unpaced readers want throughput, not latency


class FileDevice(GeneratedDevice):
    """A recording as a device. Frame i of the stream is frame i mod length of the file
    (looping) or frame i (not looping, then the device ends), whatever the chunking."""

    def __init__(self, uri: Uri, paced: bool):
        self.path, self._load, opts = _options(uri)
        header = read_header(self.path, **self._load)
        info = _info(uri, header, opts)
        block_ms = opts["block_ms"] or (_PACED_BLOCK_MS if paced else _FAST_BLOCK_MS)
        super().__init__(info, paced=paced, block=max(1, round(block_ms * info.fs / 1000)))
        self.loop = bool(opts["loop"])
        self._samples: np.ndarray | None = None

    def _open(self) -> None:
        rec = read_recording(self.path, **self._load)
        if rec.fs != self.info.fs or rec.channels != self.info.channels:
            raise DeviceError(f"{self.path} changed since it was described: open it again")
        if rec.samples.shape[0] == 0:
            raise DeviceError(f"{self.path} holds no samples: nothing to replay")
        self._samples = rec.samples

    def _close(self) -> None:
        self._samples = None

    def _generate(self, n: int) -> np.ndarray:
        data = self._samples
        assert data is not None
        if not self.loop:
            return data[self.index:self.index + n].copy()
        return data[(self.index + np.arange(n)) % data.shape[0]]


def _options(uri: Uri) -> tuple[str, dict, dict]:
    """The file, the reader's arguments, and all parameters with defaults."""
    opts = read_params(uri, PARAMS)
    load = {"uv_full_scale": opts["uv_fs"], "channels": _channels(opts["channels"])}
    return _path(uri), load, opts


def _path(uri: Uri) -> str:
    target = uri.target
    if target.startswith("//"):  # file:///abs/path and file://localhost/abs/path
        host, _, rest = target[2:].partition("/")
        if host not in ("", "localhost"):
            raise UnknownDevice(f"{uri.text} names another host ({host}): give a local path")
        target = "/" + rest
    if not target:
        raise UnknownDevice(f"{uri.text} has no path: write file:<path to a recording>")
    return os.path.abspath(os.path.expanduser(target))


def _channels(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise UnknownDevice(
            f"channels={text}: give channel numbers from 0, separated by commas (e.g. 0,2)"
        ) from None


def _info(uri: Uri, rec: Recording, opts: dict) -> DeviceInfo:
    details = {
        **rec.details,
        "source": rec.source,
        "duration_s": rec.duration_s,
        "step_uv": list(rec.step_uv),
        "loop": bool(opts["loop"]),
    }
    return DeviceInfo(
        uri=uri.text,
        name=Path(rec.source).name,
        kind="file",
        fs=rec.fs,
        channels=rec.channels,
        channel_labels=rec.labels,
        uv_per_count=None,
        calibrated=rec.calibrated,
        isolation=Isolation.NOT_APPLICABLE,
        can_run_fast=True,
        details=details,
    )


def describe(uri: Uri) -> DeviceInfo:
    path, load, opts = _options(uri)
    return _info(uri, read_header(path, **load), opts)


SCHEME = Scheme(
    name="file",
    help="replay of a recording (.edf .bdf .wav .hea), looping; ?loop=0 plays it once",
    describe=describe,
    make=FileDevice,
    discover=lambda: [],
    example="file:recordings/rec.edf",
)
