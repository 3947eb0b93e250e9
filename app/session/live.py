"""The live session: a reader thread takes chunks from a device, filters them, runs the
analyser on channel 0, and publishes the filtered signal into a bounded ring that the
screen peeks at (`display`), the potentials into a bounded event list and the measures
into a snapshot the screen reads a few times a second (`snapshot`). Completed marks wait in
a queue until the screen takes them (`take_marks`). No Kivy here.

Nothing downstream can block the reader: the ring overwrites its oldest samples, the
event list drops its oldest, and every gap in the device's sample count or chunk sequence
is counted, never hidden. Marks are the exception that is never dropped: each is a press
of the physician's, and each becomes an injection record.

`app.session.open.open_session` builds a session from a device URI. It runs on its own
thread (`start`), or is stepped by hand (`feed`) by whoever reads the device itself.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from devices import Device, DeviceError
from devices.base import State
from dsp.chain import SignalChain

MEASURES_EVERY_S = 0.1  # the activity panel updates several times a second
AUDIO_IDLE_POLL_S = 0.004
GIL_SWITCH_S = 0.001
READER_RT_PRIORITY = 20  # below an audio server's (jackd -P 70), above everything else
MARK_BEFORE_S, MARK_AFTER_S = 5.0, 2.0  # the EMG kept with each marked injection


@dataclass
class Mark:
    """An injection marked on the live screen: the EMG from 5 s before the press to 2 s
    after it, exact, with what the analyser said at the press."""

    pressed_at: float  # time.monotonic() of the press
    ring_index: int  # the newest frame in the ring at the press (ring count)
    device_index: int  # the same frame in the device's own sample count
    fs: float
    findings: dict  # the analyser's measures at the press
    events: list  # potentials decided in the 5 s before the press
    samples: np.ndarray | None = None  # (frames, channels) float32 uV, filtered as shown
    raw: np.ndarray | None = None  # the same frames as the amplifier gave them (uV)
    uv_per_count: float | None = None  # the amplifier's step: raw / step are its counts
    first_device_index: int = 0  # device index of samples[0]
    press_offset: int = 0  # samples[press_offset] is the frame at the press
    # Where the EMG came from, kept with the snippet so no record passes simulated or
    # replayed EMG off as the patient's, or counts as microvolts.
    source_uri: str | None = None  # the device's URI
    source_kind: str | None = None  # "amplifier", "simulator" or "replay"
    calibrated: bool | None = None  # whether the device's microvolt scale was calibrated
    # Kept by the records (app.workflow.procedure): its row in the logbook's pending marks,
    # once written, and the procedure open at the press (None: none was).
    pending_id: str | None = None
    procedure_id: str | None = None

    @property
    def complete(self) -> bool:
        return self.samples is not None
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


@dataclass(frozen=True)
class Snapshot:
    """What the screen shows of the session at one moment, copied: reading it never races
    the reader thread, and changing it changes nothing in the session."""

    status: str  # the device's short words: "streaming", "no signal: ...", "error"...
    last_error: str | None
    signal_age: float  # seconds since the last chunk arrived (inf before the first)
    counters: Counters  # a copy
    measures: Mapping  # the analyser's latest measures (read-only; {} before the first)


class LiveSession:
    """Runs one device on a reader thread and keeps the last `seconds` of signal."""

    def __init__(self, device: Device, seconds: float = 60.0, mains_hz: int | None = None,
                 audio=None):
        self.device = device
        self.audio = audio  # an app.session.audio.AudioPath, or None for no sound
        self.info = device.info
        fs = device.info.fs
        self.ring = Ring(int(seconds * fs), device.info.channels)
        # The amplifier's own samples too: a marked injection keeps them exactly.
        self.raw_ring = Ring(int(seconds * fs), device.info.channels)
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
        self.priority = "normal"  # what the reader thread got: "realtime", "nice -10"...
        self._device_offset = 0  # device index minus ring index (changes at a gap)
        self._pending: deque = deque()  # marks waiting for their 2 s after the press
        # Completed marks until the screen takes them: unbounded, as each one is a press.
        self._completed: queue.SimpleQueue[Mark] = queue.SimpleQueue()
        self._mark_lock = threading.Lock()

    @property
    def display(self) -> Ring:
        """The filtered signal as drawn: the screen reads it (`written`, `capacity`,
        `last`); only the session writes it."""
        return self.ring

    def snapshot(self) -> Snapshot:
        return Snapshot(status=self.status, last_error=self.last_error,
                        signal_age=self.signal_age(),
                        counters=dataclasses.replace(self.counters),
                        measures=MappingProxyType(self.measures))

    def take_marks(self) -> list[Mark]:
        """The marks completed since the last call, oldest first; each is handed out once."""
        out = []
        while True:
            try:
                out.append(self._completed.get_nowait())
            except queue.Empty:
                return out

    def start(self) -> LiveSession:
        if self.audio is not None:
            # Sound is the one thing that cannot wait: hand the GIL over every 1 ms rather
            # than every 5 ms, so the reader renders soon after a chunk even while the UI
            # thread is busy in Python.
            sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_S))
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the reader thread (which closes the device); harmless if never started."""
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(timeout)

    def close(self) -> None:
        """Stop, and let go of the device and the sound card."""
        self.stop()
        if not self._thread.is_alive():  # (a reader stuck in a read closes it on leaving)
            self.device.close()
        if self.audio is not None:
            self.audio.close()

    def _run(self) -> None:
        if self.audio is not None:
            self.priority = raise_priority()
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
                self.feed(chunk)
        except DeviceError as e:
            self.counters.errors += 1
            self.last_error = str(e)
            self.status = "error"
        finally:
            self.device.close()

    def feed(self, chunk) -> None:
        """Take one chunk from the device: filter, sound, ring, analyser, marks. The reader
        thread calls it for each chunk; a caller that reads the device itself (a render to
        a file, a test stepping device time by hand) calls it instead, never both."""
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
        self._device_offset = chunk.first_index - self.ring.written
        self.raw_ring.write(chunk.data)
        self.ring.write(filtered)
        events = self.chain.analyze(filtered, chunk.data)
        if self.audio is not None:
            self.audio.potentials(events, self.info.fs)
        self.events.extend(events)
        if self.chain.analyser.total >= self._next_measures:
            self.measures = self.chain.analyser.measures()
            self._next_measures += self._measure_every
        if self._pending:
            self._complete_marks()
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

    def mark_injection(self) -> Mark:
        """Called from the screen at the press: note where the stream is and what the
        analyser says; the reader thread copies the 7 s once the 2 s after have come."""
        index = self.ring.written - 1
        now = self.chain.analyser.now if self.chain.analyser.total else 0.0
        events = [e.as_json() for e in list(self.events) if e.t >= now - MARK_BEFORE_S]
        mark = Mark(pressed_at=time.monotonic(), ring_index=index,
                    device_index=index + self._device_offset, fs=self.info.fs,
                    findings=dict(self.measures), events=events, source_uri=self.info.uri,
                    source_kind=source_kind(self.info),
                    calibrated=bool(self.info.calibrated))
        with self._mark_lock:
            self._pending.append(mark)
        return mark

    def _complete_marks(self) -> None:
        fs = self.info.fs
        after = int(round(MARK_AFTER_S * fs))
        before = int(round(MARK_BEFORE_S * fs))
        with self._mark_lock:
            while self._pending and self.ring.written > self._pending[0].ring_index + after:
                mark = self._pending.popleft()
                # Frames [start, press + 2 s]; fewer before the press in a young session.
                start = max(mark.ring_index - before, 0)
                samples, first = self.ring.last(self.ring.written - start)
                raw, _ = self.raw_ring.last(self.raw_ring.written - start)
                mark.samples = samples[: mark.ring_index + after + 1 - first]
                mark.raw = raw[: mark.ring_index + after + 1 - first]
                mark.uv_per_count = self.info.uv_per_count
                mark.press_offset = mark.ring_index - first
                mark.first_device_index = first + (mark.device_index - mark.ring_index)
                self._completed.put(mark)

    def signal_age(self) -> float:
        """Seconds since the last chunk arrived (large when the amplifier is lost)."""
        return time.monotonic() - self.last_arrival if self.last_arrival else float("inf")


def source_kind(info) -> str:
    """What a device's signal is, as records and screens say it: "simulator", "replay" (a
    file), or "amplifier" (any other device is hardware on a needle)."""
    return {"simulator": "simulator", "file": "replay"}.get(info.kind, "amplifier")


def raise_priority() -> str:
    """Lift the calling thread (the reader, which renders the sound) above the UI and the
    rest of the machine where the system allows: round-robin realtime, else a better nice
    value, else nothing. Linux applies both per thread. Returns what was obtained."""
    try:
        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(READER_RT_PRIORITY))
        return f"realtime (SCHED_RR {READER_RT_PRIORITY})"
    except (AttributeError, PermissionError, OSError):
        pass
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), -10)
        return "nice -10"
    except (AttributeError, PermissionError, OSError):
        return "normal"
