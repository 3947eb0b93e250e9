"""The device contract of DESIGN.md: a description readable without opening, a life cycle,
and chunks of float32 microvolts that carry their own position in the device's sample count.
"""

from __future__ import annotations

import dataclasses
import enum
import time
from dataclasses import dataclass, field

import numpy as np

from devices.errors import DeviceError


@dataclass(frozen=True)
class Chunk:
    """Consecutive frames from one device.

    `data` is float32 microvolts, shape (frames, channels). `first_index` is the index of
    the first frame in the device's own sample count, so a gap between two chunks shows as
    `next.first_index != prev.end_index`; `seq` counts chunks, so a lost chunk shows too.
    `arrival` is `time.monotonic()` when the chunk reached the host.
    """

    data: np.ndarray
    first_index: int
    arrival: float
    seq: int
    fs: float

    @property
    def frames(self) -> int:
        return self.data.shape[0]

    @property
    def channels(self) -> int:
        return self.data.shape[1]

    @property
    def end_index(self) -> int:
        return self.first_index + self.frames

    @property
    def t0(self) -> float:
        """Time of the first frame in seconds of the device's own clock."""
        return self.first_index / self.fs


class Isolation(enum.Enum):
    """Whether an amplifier may be connected to a patient (IEC 60601-1 applied part)."""

    NONE = "none"  # hobby and lab amplifiers: not for patient connection
    BF = "BF"
    CF = "CF"
    UNKNOWN = "unknown"  # declared by nobody yet (a sound card's preamp before set-up)
    NOT_APPLICABLE = "n/a"  # no electrode at all: simulator, file replay

    @property
    def patient_rated(self) -> bool:
        return self in (Isolation.BF, Isolation.CF)


@dataclass(frozen=True)
class DeviceInfo:
    """What a device is, known without opening it."""

    uri: str
    name: str
    kind: str  # "simulator", "file", "serial", "soundcard"
    fs: float  # nominal sample rate, Hz
    channels: int
    channel_labels: tuple[str, ...]
    uv_per_count: float | None  # None where samples arrive already in microvolts
    calibrated: bool  # whether the microvolt scale is known to be true
    sign: int = 1  # +1: a positive sample means the active electrode went positive
    isolation: Isolation = Isolation.NOT_APPLICABLE
    range_uv: float | None = None  # the amplifier's rail, where known
    can_run_fast: bool = False  # can produce samples faster than real time
    details: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["isolation"] = self.isolation.value
        d["patient_rated"] = self.isolation.patient_rated
        d["channel_labels"] = list(self.channel_labels)
        return d


class State(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    RUNNING = "running"


class Device:
    """Base of every device: the life cycle and its checks.

    Subclasses implement `_open`, `_start`, `_read`, `_stop`, `_close`. `read` blocks for at
    most `timeout` seconds and returns a Chunk, or None when nothing arrived in time (or a
    finite source has ended: see `ended`).
    """

    info: DeviceInfo

    def __init__(self, info: DeviceInfo):
        self.info = info
        self.state = State.CLOSED
        self.ended = False
        self.status = "closed"  # short words the app can show: "streaming", "no signal"...
        self._seq = 0

    # life cycle -------------------------------------------------------------------------
    def open(self) -> Device:
        if self.state is not State.CLOSED:
            raise DeviceError(f"{self.info.uri} is already open")
        self._open()
        self.state = State.OPEN
        self.status = "open"
        return self

    def start(self) -> None:
        self._require(State.OPEN, "start")
        self._start()
        self.state = State.RUNNING
        self.status = "streaming"

    def read(self, timeout: float | None = None) -> Chunk | None:
        self._require(State.RUNNING, "read from")
        return self._read(timeout)

    def stop(self) -> None:
        if self.state is State.RUNNING:
            self._stop()
            self.state = State.OPEN
            self.status = "stopped"

    def close(self) -> None:
        self.stop()
        if self.state is State.OPEN:
            self._close()
        self.state = State.CLOSED
        self.status = "closed"

    def __enter__(self) -> Device:
        if self.state is State.CLOSED:
            self.open()
        if self.state is State.OPEN:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _require(self, state: State, verb: str) -> None:
        if self.state is not state:
            raise DeviceError(
                f"cannot {verb} {self.info.uri} while it is {self.state.value}: "
                "call open() then start() first"
            )

    def _chunk(self, data: np.ndarray, first_index: int) -> Chunk:
        chunk = Chunk(
            data=data, first_index=first_index, arrival=time.monotonic(), seq=self._seq,
            fs=self.info.fs,
        )
        self._seq += 1
        return chunk

    # for subclasses ----------------------------------------------------------------------
    def _open(self) -> None:
        pass

    def _start(self) -> None:
        pass

    def _read(self, timeout: float | None) -> Chunk | None:
        raise NotImplementedError

    def _stop(self) -> None:
        pass

    def _close(self) -> None:
        pass


class Pacer:
    """Releases sample indices no sooner than a clock running at `rate` frames per second
    would produce them, so a generated source behaves like hardware (a simulated clock
    that runs fast is just a higher rate)."""

    def __init__(self, rate: float):
        self.rate = rate
        self.t0: float | None = None

    def start(self) -> None:
        self.t0 = time.monotonic()

    def due(self, index: int) -> float:
        """Monotonic time at which frame `index` has been produced."""
        assert self.t0 is not None
        return self.t0 + index / self.rate

    def wait(self, index: int, timeout: float | None) -> bool:
        """Sleep until frame `index` is due; False if that is further than `timeout`."""
        delay = self.due(index) - time.monotonic()
        if delay <= 0:
            return True
        if timeout is not None and delay > timeout:
            time.sleep(max(timeout, 0.0))
            return False
        time.sleep(delay)
        return True


class GeneratedDevice(Device):
    """A device whose samples are computed on demand (simulator, file replay).

    Paced, it hands out chunks of `block` frames when a real amplifier would; unpaced, as
    fast as it is asked. The samples are the same either way: subclasses produce them
    through `_generate(n)`, which must not depend on how the stream is cut into chunks.
    """

    def __init__(self, info: DeviceInfo, *, paced: bool, block: int, clock_ppm: float = 0.0):
        super().__init__(info)
        if block < 1:
            raise DeviceError(f"block must be at least 1 frame, not {block}")
        self.paced = paced
        self.block = block
        self.index = 0  # next frame to hand out
        self._pacer = Pacer(info.fs * (1.0 + clock_ppm * 1e-6))

    def _start(self) -> None:
        self._pacer.start()
        self._pacer.t0 -= self.index / self._pacer.rate  # resume where a stop left off

    def _read(self, timeout: float | None) -> Chunk | None:
        if self.ended:
            return None
        n = self.block
        if self.paced and not self._pacer.wait(self.index + n, timeout):
            return None
        data = self._generate(n)
        if data.shape[0] == 0:
            self.ended = True
            self.status = "ended"
            return None
        chunk = self._chunk(data, self.index)
        self.index += data.shape[0]
        return chunk

    def _generate(self, n: int) -> np.ndarray:
        """The next (up to) n frames as float32 microvolts, shape (n, channels)."""
        raise NotImplementedError


def read_frames(device: Device, frames: int, timeout: float = 5.0) -> np.ndarray:
    """Read exactly `frames` frames from a running device (a convenience for tools and
    tests); fewer only if a finite source ends first."""
    parts, got = [], 0
    while got < frames:
        chunk = device.read(timeout)
        if chunk is None:
            if device.ended:
                break
            raise DeviceError(f"{device.info.uri} delivered nothing for {timeout} s")
        parts.append(chunk.data)
        got += chunk.frames
    if not parts:
        return np.zeros((0, device.info.channels), np.float32)
    return np.concatenate(parts)[:frames]
