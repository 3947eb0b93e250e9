"""Helpers for tests that run the simulator as fast as it goes."""

from __future__ import annotations

import numpy as np

from devices import make_device, read_frames


def simulate(uri: str, seconds: float, controls=None):
    """(samples of channel 0, ground truth, device) for `seconds` of a simulator URI.
    `controls(device, index)` is called before each chunk, for tests that steer it."""
    dev = make_device(uri, paced=False)
    with dev:
        frames = int(round(seconds * dev.info.fs))
        if controls is None:
            x = read_frames(dev, frames)
        else:
            parts, got = [], 0
            while got < frames:
                controls(dev, got)
                chunk = dev.read(1.0)
                parts.append(chunk.data)
                got += chunk.frames
            x = np.concatenate(parts)[:frames]
        return x[:, 0].astype(np.float64), dev.truth(), dev


def events(truth, kind: str) -> list[dict]:
    return [e for e in truth.events if e["kind"] == kind]


def covered(truth, kind: str) -> float:
    return sum(s["end"] - s["start"] for s in truth.segments if s["kind"] == kind)
