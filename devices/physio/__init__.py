"""`physio:<scenario>`: a second, physiological needle EMG generator (issue 27).

    physio:denervated?grade=3&seed=7&fs=10000&noise_uv=6&mains=50

Single-fibre potentials from a line-source volume-conductor model (devices/physio/fibre.py),
motor units as sums of their fibres with jitter, recruitment and rate coding, and the
spontaneous kinds (devices/physio/generator.py); parameters and their sources in
docs/physio-generator.md. Built independently of devices/simulator, to judge the analyser
on data its rules were not fitted to. A device scheme of its own whose DeviceInfo kind is
"simulator", so everything that shows or records it says SIMULATED, as for `sim:`.
Seeded and deterministic.
"""

from __future__ import annotations

import numpy as np

from devices.base import DeviceInfo, GeneratedDevice, Isolation, read_frames
from devices.errors import UnknownDevice
from devices.physio.generator import Grid, Renderer, Truth
from devices.physio.scenarios import SCENARIOS, build
from devices.uri import Param, Scheme, Uri, parse_uri, read_params

PARAMS = {
    "seed": Param(int, 0, "random seed: same seed, same samples"),
    "fs": Param(float, 20000.0, "sample rate in Hz", 1000, 100000),
    "noise_uv": Param(float, 5.0, "amplifier noise, uV RMS", 0, 200),
    "mains": Param(int, 0, "mains hum frequency in Hz (0: none)", choices=(0, 50, 60)),
    "hum_uv": Param(float, 20.0, "mains hum amplitude in uV when mains is set", 0, 5000),
    "block_ms": Param(float, 5.0, "chunk length delivered, ms", 0.05, 1000),
    "grade": Param(int, 2, "denervated: fibrillation grade 1-4", 1, 4),
    "effort": Param(float, 0.1, "voluntary, mixed: held effort 0-1", 0, 1),
    "units": Param(int, 8, "voluntary: motor units in the pool around the tip", 1, 30),
    "moves": Param(float, 0.0, "seconds between needle moves (0: one, at the start)", 0,
                   3600),
}


def _scenario(uri: Uri) -> str:
    name = uri.target or "rest"
    if name not in SCENARIOS:
        raise UnknownDevice(
            f"unknown physio scenario '{name}'; valid: {', '.join(SCENARIOS)}")
    return name


def describe(uri: Uri) -> DeviceInfo:
    name = _scenario(uri)
    p = read_params(uri, PARAMS)
    canonical = uri.text if uri.text.startswith("physio:") else f"physio:{name}"
    return DeviceInfo(
        uri=canonical, name=f"Simulator (physiological): {name}", kind="simulator",
        fs=p["fs"], channels=1, channel_labels=("EMG sim",), uv_per_count=None,
        calibrated=True, isolation=Isolation.NOT_APPLICABLE, range_uv=None,
        can_run_fast=True, details={"scenario": name, "generator": "physio", **p})


class PhysioDevice(GeneratedDevice):
    def __init__(self, uri: Uri, paced: bool):
        info = describe(uri)
        p = read_params(uri, PARAMS)
        super().__init__(info, paced=paced, block=max(1, round(p["block_ms"] * 1e-3 * p["fs"])))
        grid = Grid(p["fs"])
        sources, trains = build(info.details["scenario"], grid, p)
        self.renderer = Renderer(grid, sources, trains, p["seed"], p["noise_uv"], p["mains"],
                                 p["hum_uv"])
        self._buffer = np.zeros(0)

    def _generate(self, n: int) -> np.ndarray:
        parts = [self._buffer]
        have = self._buffer.size
        while have < n:
            block = self.renderer.render_block()
            parts.append(block)
            have += block.size
        data = np.concatenate(parts)
        self._buffer = data[n:]
        return data[:n, None].astype(np.float32)

    def truth(self) -> Truth:
        """Ground truth of the frames handed out so far."""
        return self.renderer.truth(self.index)


def render(uri: str, seconds: float) -> tuple[np.ndarray, Truth]:
    """Channel 0 (float64 microvolts) and the ground truth of `seconds` of a `physio:` URI."""
    parsed = parse_uri(uri)
    if parsed.scheme != "physio":
        raise UnknownDevice(f"{uri} is not a physio URI (physio:<scenario>)")
    dev = PhysioDevice(parsed, paced=False)
    with dev:
        x = read_frames(dev, int(round(seconds * dev.info.fs)))
        return x[:, 0].astype(np.float64), dev.truth()


def _discover() -> list[DeviceInfo]:
    return [describe(Uri("physio", name, {}, f"physio:{name}")) for name in SCENARIOS]


SCHEME = Scheme(
    name="physio", help="physiological needle EMG generator (simulated)", describe=describe,
    make=lambda uri, paced: PhysioDevice(uri, paced), discover=_discover,
    example="physio:denervated?grade=3&seed=7",
)
