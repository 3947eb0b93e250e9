"""`sim:<scenario>`: the built-in needle EMG simulator, the default device.

    sim:denervated?grade=3&seed=7&fs=20000&noise_uv=6&mains=50&drift_ppm=5000

Seeded and deterministic; paced like a real amplifier or as fast as it is read; it can
report the ground truth of everything it rendered, and takes live controls (move the
needle, effort, proximity) for training.
"""

from __future__ import annotations

import numpy as np

from devices.base import DeviceInfo, GeneratedDevice, Isolation, read_frames
from devices.errors import UnknownDevice
from devices.simulator.engine import Controls, Engine, Truth
from devices.simulator.scenarios import SCENARIOS
from devices.uri import Param, Scheme, Uri, parse_uri, read_params

PARAMS = {
    "seed": Param(int, 0, "random seed: same seed, same samples"),
    "fs": Param(float, 20000.0, "sample rate in Hz", 1000, 100000),
    "noise_uv": Param(float, 4.0, "amplifier and needle noise, uV RMS", 0, 200),
    "mains": Param(int, 0, "mains hum frequency in Hz (0: none)", choices=(0, 50, 60)),
    "hum_uv": Param(float, 20.0, "mains hum amplitude in uV when mains is set", 0, 5000),
    "drift_ppm": Param(float, 0.0, "device clock error in ppm (+5000: 0.5 % fast)", -50000,
                       50000),
    "clip_uv": Param(float, 5000.0, "amplifier clipping level in uV", 10, 1e6),
    "block_ms": Param(float, 5.0, "chunk length delivered, ms", 0.05, 1000),
    "grade": Param(int, 2, "denervated: fibrillation grade 1-4", 1, 4),
    "effort": Param(float, None, "voluntary/dystonia: hold effort 0-1 instead of the profile",
                    0, 1),
    "proximity": Param(float, 0.8, "needle proximity to the nearest unit, 0 far to 1 on it",
                       0, 1),
    "units": Param(int, None, "motor units in the pool (voluntary 8, dystonia 3)", 1, 30),
    "moves": Param(float, 0.0, "seconds between automatic needle moves (0: none; "
                   "trigger-point moves every 4 s)", 0, 3600),
    "epn_hz": Param(float, 300.0, "end-plate noise: miniature potentials per second", 10,
                    5000),
    "fasc_hz": Param(float, 0.1, "denervated: fasciculations per second", 0, 5),
}

DEFAULT_UNITS = {"voluntary": 8, "dystonia": 3}


def _scenario(uri: Uri) -> str:
    name = uri.target or "rest"
    if name not in SCENARIOS:
        raise UnknownDevice(
            f"unknown simulator scenario '{name}'; valid: {', '.join(SCENARIOS)}"
        )
    return name


def describe(uri: Uri) -> DeviceInfo:
    name = _scenario(uri)
    p = read_params(uri, PARAMS)
    canonical = uri.text if uri.text.startswith("sim:") else f"sim:{name}"
    return DeviceInfo(
        uri=canonical, name=f"Simulator: {name}", kind="simulator", fs=p["fs"], channels=1,
        channel_labels=("EMG sim",), uv_per_count=None, calibrated=True,
        isolation=Isolation.NOT_APPLICABLE, range_uv=p["clip_uv"], can_run_fast=True,
        details={"scenario": name, **{k: v for k, v in p.items() if v is not None}},
    )


class SimDevice(GeneratedDevice):
    def __init__(self, uri: Uri, paced: bool):
        info = describe(uri)
        p = read_params(uri, PARAMS)
        super().__init__(info, paced=paced, block=max(1, round(p["block_ms"] * 1e-3 * p["fs"])),
                         clock_ppm=p["drift_ppm"])
        opts = {**p, "units": p["units"] or DEFAULT_UNITS.get(info.details["scenario"], 8)}
        self.controls = Controls(effort=p["effort"], proximity=p["proximity"])
        self.engine = Engine(p["fs"], p["seed"], noise_uv=p["noise_uv"],
                             mains_hz=p["mains"], hum_uv=p["hum_uv"], clip_uv=p["clip_uv"],
                             controls=self.controls)
        built = SCENARIOS[info.details["scenario"]](self.engine.world, opts)
        self.engine.attach(built.sources, built.move_every_s)
        self._buffer = np.zeros(0, np.float32)

    def _generate(self, n: int) -> np.ndarray:
        parts = [self._buffer]
        have = self._buffer.size
        while have < n:
            block = self.engine.render_block()
            parts.append(block)
            have += block.size
        data = np.concatenate(parts)
        self._buffer = data[n:]
        return data[:n, None]

    # training controls (thread-safe; they act within 10 ms) ------------------------------
    def move_needle(self) -> None:
        self.engine.move_needle()

    def set_effort(self, effort: float | None) -> None:
        self.engine.set_effort(effort)

    def set_proximity(self, proximity: float) -> None:
        self.engine.set_proximity(proximity)

    def truth(self) -> Truth:
        """Ground truth of every potential and segment in the frames handed out so far."""
        t = self.engine.truth()
        done = self.index
        t.events = [e for e in t.events if e["index"] < done]
        t.segments = [{**s, "end": min(s["end"], done / t.fs)} for s in t.segments
                      if s["start"] * t.fs < done]
        return t


def render(uri: str, seconds: float, controls=None) -> tuple[np.ndarray, Truth]:
    """Channel 0 (float64 microvolts) and the ground truth of `seconds` of a `sim:` URI,
    rendered as fast as it goes. `controls(device, index)` is called before each chunk,
    for callers that steer the simulator (training scripts, tests)."""
    parsed = parse_uri(uri)
    if parsed.scheme != "sim":
        raise UnknownDevice(f"{uri} is not a simulator URI (sim:<scenario>)")
    dev = SimDevice(parsed, paced=False)
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
        return x[:, 0].astype(np.float64), dev.truth()


def _discover() -> list[DeviceInfo]:
    return [describe(Uri("sim", name, {}, f"sim:{name}")) for name in SCENARIOS]


SCHEME = Scheme(
    name="sim", help="built-in needle EMG simulator", describe=describe,
    make=lambda uri, paced: SimDevice(uri, paced), discover=_discover,
    example="sim:denervated?grade=3&seed=7",
)
