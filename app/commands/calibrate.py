"""`needlepoint calibrate --device URI`: microvolts per count from a calibrator.

Connect a calibrator (a square wave of known peak-to-peak amplitude, 1 mV by default) to
the amplifier's input, run this, and the scale is stored for that amplifier; every later
recording and screen shows calibrated amplitudes. `needlepoint emulate spikerbox
--calibration` plays the part of a calibrator.
"""

from __future__ import annotations

import argparse

import numpy as np

from devices import DeviceError, make_device, read_frames
from devices.calibration import path as calibration_path
from devices.calibration import save
from devices.uri import parse_uri

LEVEL_SHARE = 0.4  # the highest and lowest 40 % of samples give the wave's two levels
ON_LEVEL = 0.8  # at least this share of samples must sit on one of the two levels
LEVEL_TOLERANCE = 0.1  # of the peak to peak
MIN_COUNTS = 8  # a smaller wave cannot give the scale to 1 %


def add_parser(sub) -> None:
    p = sub.add_parser(
        "calibrate", help="set an amplifier's microvolts per count from a calibrator",
        description="Read a calibrator's square wave (1 mV peak to peak unless --uv-pp) on "
        "the first channel and store the amplifier's microvolts per count.",
    )
    p.add_argument("--device", required=True, metavar="URI",
                   help="the amplifier, e.g. spikerbox:auto")
    p.add_argument("--uv-pp", type=float, default=1000.0, metavar="UV",
                   help="the calibrator's peak-to-peak amplitude in microvolts (default 1000)")
    p.add_argument("--seconds", type=float, default=3.0, metavar="S",
                   help="how long to read (default 3)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from app.commands.errors import UsageError

    if not (args.uv_pp > 0 and args.seconds > 0):
        raise UsageError("--uv-pp and --seconds must be positive numbers")
    device = make_device(args.device)
    key = device.info.details.get("calibration_key")
    if key is None or device.info.uv_per_count is None:
        raise UsageError(f"{args.device} is not an amplifier that sends counts; a sound "
                         "card's scale is set with soundcard:...?uv_per_fs=")
    if "uv_per_count" in parse_uri(args.device).params:
        raise UsageError("remove ?uv_per_count= from the URI: calibration measures it")
    with device:
        info = device.info
        frames = max(int(args.seconds * info.fs), 100)
        counts = read_frames(device, frames)[:, 0] / info.uv_per_count
    pp = square_wave_pp(counts)
    uv_per_count = args.uv_pp / pp
    how = f"{args.uv_pp:g} uV p-p calibrator, {pp:.2f} counts p-p"
    save(key, uv_per_count, how)
    print(f"{info.name.replace(' (UNCALIBRATED)', '')}: {uv_per_count:.5g} uV per count "
          f"({how}); stored in {calibration_path()} for {key}")
    return 0


def square_wave_pp(x: np.ndarray) -> float:
    """Peak to peak of a square wave between its two levels (robust to its edges and to
    noise), or DeviceError when the signal is not one."""
    x = np.sort(np.asarray(x, np.float64))
    k = max(int(LEVEL_SHARE * x.size), 1)
    low, high = float(np.median(x[:k])), float(np.median(x[-k:]))
    pp = high - low
    if not pp >= MIN_COUNTS:
        raise DeviceError(
            f"no calibrator signal: {pp:.1f} counts peak to peak; connect the calibrator "
            "to the first channel's input and try again"
        )
    near = (np.abs(x - low) <= LEVEL_TOLERANCE * pp) | (np.abs(x - high) <= LEVEL_TOLERANCE * pp)
    if near.mean() < ON_LEVEL:
        raise DeviceError(
            f"the signal is not a calibrator's square wave (only {near.mean():.0%} of samples "
            "on its two levels): connect the calibrator, keep the electrodes still, retry"
        )
    return pp
