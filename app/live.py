"""The live session: a reader thread takes chunks from a device, filters them, runs the
analyser on channel 0, and publishes the filtered signal into a bounded ring that the
screen peeks at, the potentials into a bounded event list and the measures into a snapshot
the screen reads a few times a second. No Kivy here.

Nothing downstream can block the reader: the ring overwrites its oldest samples, the
event list drops its oldest, and every gap in the device's sample count or chunk sequence
is counted, never hidden.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from devices import Device, DeviceError
from devices.base import State
from dsp.chain import SignalChain

MEASURES_EVERY_S = 0.1  # the activity panel updates several times a second
AUDIO_IDLE_POLL_S = 0.004
EVENTS_KEPT = 1000


class Ring:
    """A single-writer ring of the last `capacity` frames and the total written, so a reader
    knows exactly which device sample each value is."""

    def __init__(self, capacity: int, channels: int):
        self.buf = np.zeros((capacity, channels), np.float32)
        self.capacity = capacity
        self.written = 0  # frames ever written; the newest is index written - 1
        self._lock = threading.Lock()  # held only for a copy, never across I/O

    def write(self, data: np.ndarray) -> None:
        n = data.shape[0]
        keep = data[-self.capacity:]  # of a write longer than the ring, only its tail stays
        m = keep.shape[0]
        with self._lock:
            start = (self.written + n - m) % self.capacity
            first = min(m, self.capacity - start)
            self.buf[start:start + first] = keep[:first]
            self.buf[: m - first] = keep[first:]
            self.written += n

    def last(self, frames: int) -> tuple[np.ndarray, int]:
        """(a copy of the newest `frames` frames, the ring index of the first of them)."""
        with self._lock:
            frames = min(frames, self.written, self.capacity)
            end = self.written
            idx = (np.arange(end - frames, end)) % self.capacity
            return self.buf[idx], end - frames


@dataclass
class Counters:
    chunks: int = 0
    frames: int = 0
    gaps: int = 0  # discontinuities in the device's sample count
    lost_frames: int = 0
    lost_chunks: int = 0  # holes in the chunk sequence numbers
    errors: int = 0


class LiveSession:
    """Runs one device on a reader thread and keeps the last `seconds` of signal."""

    def __init__(self, device: Device, seconds: float = 60.0, mains_hz: int | None = None,
                 audio=None):
        self.device = device
        self.audio = audio  # an app.audio.AudioPath, or None for no sound
        self.info = device.info
        fs = device.info.fs
        self.ring = Ring(int(seconds * fs), device.info.channels)
        self.chain = SignalChain(fs, mains_hz=mains_hz, step_uv=device.info.uv_per_count)
        self.events: deque = deque(maxlen=EVENTS_KEPT)  # appended by the reader only
        self.measures: dict = {}  # replaced whole, so a reader never sees half of one
        self._measure_every = max(int(MEASURES_EVERY_S * fs), 1)
        self._next_measures = self._measure_every
        self.counters = Counters()
        self.status = "starting"
        self.last_error: str | None = None
        self.last_arrival = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="device-reader", daemon=True)
        self._expect_index: int | None = None
        self._expect_seq: int | None = None
        self._lost_said = False

    def start(self) -> LiveSession:
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            if self.device.state is State.CLOSED:  # the caller may have opened it to
                self.device.open()  # learn its rate before building the audio path
            self.device.start()
            self.status = "streaming"
            # With sound, wake often while no chunk comes: the audio path must keep feeding
            # the card (silence, alerts) when the amplifier pauses.
            wait = AUDIO_IDLE_POLL_S if self.audio is not None else 0.1
            while not self._stop.is_set():
                chunk = self.device.read(wait)
                if chunk is None:
                    self._no_chunk()
                    if self.device.ended:
                        return
                    continue
                self._publish(chunk)
        except DeviceError as e:
            self.counters.errors += 1
            self.last_error = str(e)
            self.status = "error"
        finally:
            self.device.close()

    def _publish(self, chunk) -> None:
        c = self.counters
        if self._expect_index is not None and chunk.first_index != self._expect_index:
            c.gaps += 1
            c.lost_frames += max(chunk.first_index - self._expect_index, 0)
        if self._expect_seq is not None and chunk.seq != self._expect_seq:
            c.lost_chunks += max(chunk.seq - self._expect_seq, 0)
        self._expect_index = chunk.end_index
        self._expect_seq = chunk.seq + 1
        filtered = self.chain.filters.process(chunk.data)
        if self.audio is not None:  # sound first: it never waits for the analyser
            self.audio.push(filtered[:, 0], chunk.first_index)
        self.ring.write(filtered)
        events = self.chain.analyze(filtered, chunk.data)
        if self.audio is not None:
            self.audio.potentials(events, self.info.fs)
        self.events.extend(events)
        if self.chain.analyzer.total >= self._next_measures:
            self.measures = self.chain.analyzer.measures()
            self._next_measures += self._measure_every
        c.chunks += 1
        c.frames += chunk.frames
        self.last_arrival = chunk.arrival
        self.status = self.device.status
        self._lost_said = False

    def _no_chunk(self) -> None:
        self.status = self.device.status
        if self.audio is None:
            return
        self.audio.idle()
        if self.status.startswith("no signal") and not self._lost_said:
            self._lost_said = True
            self.audio.alert("lost")  # the physician hears that the amplifier is gone

    def signal_age(self) -> float:
        """Seconds since the last chunk arrived (large when the amplifier is lost)."""
        return time.monotonic() - self.last_arrival if self.last_arrival else float("inf")
