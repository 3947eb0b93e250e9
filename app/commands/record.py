"""`needlepoint record`: a fixed stretch of any device into .edf, .bdf or .wav."""

from __future__ import annotations

import argparse
import datetime
import math
import time

import numpy as np

from devices import (
    DEFAULT_URI,
    Chunk,
    Device,
    DeviceError,
    DeviceInfo,
    Isolation,
    make_device,
)
from devices.formats import WRITABLE, check_writable, write_recording

_SILENCE_S = 5.0  # this long without a chunk means the device is not streaming


def add_parser(sub) -> None:
    p = sub.add_parser(
        "record", help="record a device into a file",
        description="Record S seconds from a device into an EDF+, BDF+ or WAV file. The "
        "simulator and file replay run as fast as they can unless --realtime.",
    )
    p.add_argument("--device", default=DEFAULT_URI, metavar="URI",
                   help=f"what to record (default {DEFAULT_URI}); see `needlepoint devices`")
    p.add_argument("--seconds", type=float, required=True, metavar="S",
                   help="how long to record, in seconds")
    p.add_argument("--out", required=True, metavar="FILE",
                   help=f"the file to write, ending in {', '.join(WRITABLE)}")
    p.add_argument("--realtime", action="store_true",
                   help="pace the simulator and file replay like hardware")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from app.commands.errors import UsageError

    if not (math.isfinite(args.seconds) and args.seconds > 0):
        raise UsageError(f"--seconds must be a positive number, not {args.seconds:g}")
    check_writable(args.out)  # before recording, not after
    device = make_device(args.device, paced=args.realtime)
    if round(args.seconds * device.info.fs) < 1:
        raise UsageError(f"--seconds {args.seconds:g} is shorter than one sample at "
                         f"{device.info.fs:g} Hz")
    interrupted = False
    with device:
        # Read after opening: hardware may only then say what it is (rate, channels).
        info = device.info
        frames = max(round(args.seconds * info.fs), 1)
        take = _Take(info)
        start = datetime.datetime.now()
        try:
            _capture(device, take, frames)
        except KeyboardInterrupt:  # keep what was recorded: it may be all there is
            interrupted = True
    samples = take.samples(frames)
    if samples.shape[0] == 0:
        raise DeviceError(f"{info.uri} delivered no samples: nothing written")
    write_recording(
        args.out, samples, info.fs, labels=info.channel_labels, device_uri=info.uri,
        settings=settings_of(info, paced=args.realtime or not info.can_run_fast),
        annotations=take.notes, step_uv=_steps(info), calibrated=info.calibrated,
        start=start,
    )
    print(_summary(args.out, samples, info, take, short=samples.shape[0] < frames,
                   interrupted=interrupted))
    return 130 if interrupted else 0


class _Take:
    """Chunks as they come, with every break in the device's sample count noted."""

    def __init__(self, info: DeviceInfo):
        self.info = info
        self.parts: list[np.ndarray] = []
        self.frames = 0
        self.gaps = 0
        self.missing = 0
        self.notes: list[tuple[float, None, str]] = []
        self._next: int | None = None

    def add(self, chunk: Chunk) -> None:
        if chunk.channels != self.info.channels:
            raise DeviceError(
                f"{self.info.uri} sent {chunk.channels} channels, not the "
                f"{self.info.channels} it declared"
            )
        if self._next is not None and chunk.first_index != self._next:
            jump = chunk.first_index - self._next
            self.gaps += 1
            self.missing += max(jump, 0)
            text = f"gap: {jump} frames missing" if jump > 0 else f"{-jump} frames repeated"
            self.notes.append((self.frames / self.info.fs, None, text))
        self._next = chunk.end_index
        self.parts.append(chunk.data)
        self.frames += chunk.frames

    def samples(self, frames: int) -> np.ndarray:
        if not self.parts:
            return np.zeros((0, self.info.channels), np.float32)
        return np.concatenate(self.parts)[:frames]


def _capture(device: Device, take: _Take, frames: int) -> None:
    heard = time.monotonic()
    while take.frames < frames:
        chunk = device.read(timeout=0.5)
        if chunk is None:
            if device.ended:
                return
            if time.monotonic() - heard > _SILENCE_S:
                raise DeviceError(
                    f"{device.info.uri} delivered nothing for {_SILENCE_S:g} s: "
                    "check that it is connected and switched on"
                )
            continue
        heard = time.monotonic()
        take.add(chunk)


def settings_of(info: DeviceInfo, *, paced: bool) -> dict:
    """What the file should say about its source: scale and rate first (they go into the
    80-character EDF header while there is room), then the device's own short facts."""
    out = {
        "fs": info.fs, "calibrated": info.calibrated, "kind": info.kind, "name": info.name,
        "uv_per_count": info.uv_per_count, "sign": info.sign,
        "isolation": info.isolation.value, "range_uv": info.range_uv, "paced": paced,
    }
    for key, value in info.details.items():
        if key not in out and isinstance(value, str | int | float) and len(str(value)) <= 80:
            out[key] = value
    return {k: v for k, v in out.items() if v is not None}


def _steps(info: DeviceInfo) -> list | None:
    steps = info.details.get("step_uv")
    if isinstance(steps, list | tuple) and len(steps) == info.channels:
        return list(steps)
    return [info.uv_per_count] * info.channels if info.uv_per_count else None


def _summary(out: str, samples: np.ndarray, info: DeviceInfo, take: _Take, *, short: bool,
             interrupted: bool) -> str:
    n, ch = samples.shape
    line = (f"wrote {n} frames x {ch} channel{'s' if ch != 1 else ''} at {info.fs:g} Hz "
            f"({n / info.fs:.3f} s) to {out}")
    if take.gaps:
        line += f"; {take.gaps} gap{'s' if take.gaps != 1 else ''} ({take.missing} frames missing)"
    if interrupted:
        line += "; interrupted before the end"
    elif short:
        line += "; the source ended early"
    if not info.calibrated:
        # (a device that knows why it is uncalibrated, an LSL stream, says so itself)
        line += "\n" + (info.details.get("calibration") or
                        "UNCALIBRATED: amplitudes are a guess; run needlepoint calibrate")
    if info.isolation is Isolation.NONE:
        line += f"\n{info.details.get('warning') or 'NOT isolated for patient connection.'}"
    return line
