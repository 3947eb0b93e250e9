"""A simulated SpikerBox on a pseudo-terminal, for tests and for trying the app without
hardware (`needlepoint emulate spikerbox`).

It speaks the protocol as a board does: frames at the board's own clock (0.5 % fast by
default), written in bursts of 1-5 ms as a USB link delivers them, message blocks between
frames, and answers to the commands of the reference. The samples come from the needle
EMG simulator, or from a 1 mV peak-to-peak calibrator. `unplug` pulls the cable: the pty
closes, and a new one appears a moment later.
"""

from __future__ import annotations

import collections
import errno
import fcntl
import os
import select
import threading
import time
import tty

import numpy as np

from devices.simulator import SimDevice
from devices.simulator.scenarios import SCENARIOS
from devices.spikerbox.profiles import NOMINAL_RANGE_UV, Profile, profile_for_hwt
from devices.spikerbox.protocol import encode_frames, encode_message, zero_for
from devices.uri import parse_uri

CALIBRATION_UV = 1000.0  # peak to peak, like a calibrator
CALIBRATION_HZ = 10.0
BURST_S = (0.001, 0.005)  # how often the USB link hands over what was sampled
MAX_BACKLOG_S = 0.25  # after a longer stall the board's buffer has overflowed: skip ahead
RECORD_FRAMES = 100_000  # how many of the last frames sent `sent()` remembers
WRITES_KEPT = 1 << 18  # bursts whose write times `writes()` remembers (over 10 minutes)
PULSE_UV = 2000.0  # a pulse's height: well clear of any noise, inside the 5 mV range
FIRMWARE = "1.0"
HARDWARE_VERSION = "1"


class _Simulated:
    """Microvolts from the needle EMG simulator, one seeded simulator per channel."""

    def __init__(self, scenario: str, fs: float, channels: int, seed: int):
        self._devices = []
        for ch in range(channels):
            uri = parse_uri(f"sim:{scenario}?seed={seed + ch}&fs={fs!r}&block_ms=10")
            device = SimDevice(uri, paced=False)
            device.open()
            device.start()
            self._devices.append(device)
        self._buffer = np.zeros((0, channels))

    def take(self, n: int) -> np.ndarray:
        while self._buffer.shape[0] < n:
            block = np.column_stack([d.read().data[:, 0] for d in self._devices])
            self._buffer = np.concatenate([self._buffer, block])
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out


class _Calibrator:
    """A square wave of CALIBRATION_UV peak to peak on every channel."""

    def __init__(self, fs: float, channels: int):
        self._fs, self._channels, self._index = fs, channels, 0

    def take(self, n: int) -> np.ndarray:
        phase = (self._index + np.arange(n)) * CALIBRATION_HZ / self._fs % 1.0
        self._index += n
        level = np.where(phase < 0.5, CALIBRATION_UV / 2, -CALIBRATION_UV / 2)
        return np.repeat(level[:, None], self._channels, axis=1)


class _Pulses:
    """Silence with one sharp pulse (a single sample of PULSE_UV) every `every_s`, the
    first at `every_s`: a sound whose arrival anywhere downstream can be timed."""

    def __init__(self, fs: float, channels: int, every_s: float):
        self._every = max(int(round(every_s * fs)), 1)
        self._channels, self._index = channels, 0

    def take(self, n: int) -> np.ndarray:
        out = np.zeros((n, self._channels))
        first = max(-(-self._index // self._every), 1) * self._every  # next multiple, > 0
        out[first - self._index::self._every] = PULSE_UV
        self._index += n
        return out


class Emulator:
    """A board of type `hwt` on a pty. `channels` defaults to the board's; `bits` to its
    ADC's; `clock_error` is the board clock's error (+0.005: 0.5 % fast); `link` keeps a
    symlink to the current pty, re-pointed after an unplug. `pulses` (seconds) replaces
    the EMG with silence and a sharp pulse that often, frame index `k * pulses * fs`.

    Use `start()` / `stop()` (or `with`), read `port`, and `sent()` for the counts written.
    """

    def __init__(self, hwt: str = "MUSCLESS", channels: int | None = None,
                 scenario: str = "denervated", *, bits: int | None = None,
                 clock_error: float = 0.005, uv_per_count: float | None = None, seed: int = 0,
                 link: str | None = None, calibration: bool = False,
                 pulses: float | None = None):
        self.profile: Profile = profile_for_hwt(hwt)
        self.hwt = hwt
        self.bits = bits or self.profile.bits
        self.zero = zero_for(self.bits)
        self.max_count = (1 << self.bits) - 1
        # the emulated ADC spans the nominal 5 mV (the simulator clips there too)
        self.uv_per_count = uv_per_count or NOMINAL_RANGE_UV / self.zero
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario '{scenario}'; valid: {', '.join(SCENARIOS)}")
        self.scenario, self.seed, self.calibration = scenario, seed, calibration
        self.pulses = pulses
        self.clock_error = clock_error
        self.default_channels = channels or self.profile.channels
        self.profile.fs_for(self.default_channels)  # refuses a count the board cannot do
        self.link = os.path.abspath(link) if link else None
        if self.link and os.path.lexists(self.link) and not os.path.islink(self.link):
            raise ValueError(f"{self.link} exists and is not a symlink: choose another --link")
        self.port: str | None = None
        self.frames_sent = 0
        self.dropped_bytes = 0  # written while nobody read, and lost as on a real board
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.plugged = threading.Event()
        self._threads: list[threading.Thread] = []
        self._master: int | None = None
        self._slave: int | None = None
        self._outbox: list[bytes] = []
        self._record: collections.deque = collections.deque()
        # (first frame index, whole frames written, time.monotonic() as the write began,
        # the offset in the burst of its first frame off the zero line, or -1)
        self._writes: collections.deque = collections.deque(maxlen=WRITES_KEPT)
        self._recorded = 0
        self._index = 0  # frames sampled since start, across reconfigurations
        self._channels = self.default_channels
        self._streaming = False
        self._unplug_for: float | None = None
        self._replug_at: float | None = None
        self._rng = np.random.default_rng(seed)

    # life cycle -------------------------------------------------------------------------
    def start(self) -> Emulator:
        with self._lock:
            self._power_on()
            self._plug()
        self._threads = [threading.Thread(target=self._write_loop, daemon=True,
                                          name="spikerbox-emulator-writer"),
                         threading.Thread(target=self._control_loop, daemon=True,
                                          name="spikerbox-emulator-control")]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2.0)
        with self._lock:
            self._unplug_now()
            self._replug_at = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # what a test or the command line can do -----------------------------------------------
    @property
    def channels(self) -> int:
        return self._channels

    @property
    def fs(self) -> float:
        """Nominal rate per channel now."""
        return self.profile.fs_for(self._channels)

    @property
    def rate(self) -> float:
        """Frames per second the board really produces (its clock error included)."""
        return self.fs * (1.0 + self.clock_error)

    def send(self, text: str) -> None:
        """Queue a message block (e.g. "EVNT:1;"); it goes out between two frames."""
        block = encode_message(text)
        with self._lock:
            self._outbox.append(block)

    def event(self, digit: int) -> None:
        """An event marker, as from the board's event inputs."""
        self.send(f"EVNT:{digit};")

    def sent(self) -> tuple[int, np.ndarray]:
        """Index of the first frame remembered and the counts of the last frames written
        (shape (frames, channels)); forgotten when the channel count changes."""
        with self._lock:
            if not self._record:
                return self._index, np.zeros((0, self._channels), np.int16)
            first = self._record[0][0]
            return first, np.concatenate([counts for _, counts in self._record])

    def writes(self) -> np.ndarray:
        """Every burst written lately, oldest first: rows of (index of its first frame,
        frames written whole, time.monotonic() as the write began, offset of its first
        frame off the zero line or -1). With `pulses`, that offset finds each pulse."""
        with self._lock:
            return np.array(self._writes, float).reshape(-1, 4)

    def stall(self, seconds: float) -> None:
        """Hold the link for `seconds` (a USB hiccup): nothing is written meanwhile, and
        the board hands over the backlog afterwards, as a real one does."""
        with self._lock:
            time.sleep(seconds)

    def unplug(self, seconds: float) -> None:
        """Pull the cable: the pty closes now (a reader gets EOF), and a new pty appears
        after `seconds`, the link pointing at it. Returns once the old one is closed."""
        self.plugged.wait(timeout=2.0)
        with self._lock:
            self._unplug_for = max(0.0, seconds)
        deadline = time.monotonic() + 2.0
        while self.plugged.is_set() and time.monotonic() < deadline:
            time.sleep(0.002)

    # the board's state ------------------------------------------------------------------
    def _power_on(self) -> None:
        """State after reset: default channels, streaming unless the board waits for
        `start:;`."""
        self._streaming = not self.profile.needs_start
        self._configure(self.default_channels)

    def _configure(self, channels: int) -> None:
        self._channels = channels
        fs = self.profile.fs_for(channels)
        if self.pulses:
            self._source = _Pulses(fs, channels, self.pulses)
        elif self.calibration:
            self._source = _Calibrator(fs, channels)
        else:
            self._source = _Simulated(self.scenario, fs, channels, self.seed)
        self._record.clear()
        self._recorded = 0
        self._restart_clock()

    def _restart_clock(self) -> None:
        self._t0 = time.monotonic()
        self._made = 0  # frames sampled since _t0

    # the pty ----------------------------------------------------------------------------
    def _plug(self) -> None:
        master, slave = os.openpty()
        if self.port is not None and os.ttyname(slave) == self.port:
            # a replugged board should show as a new device: take the next pty
            spare = (master, slave)
            master, slave = os.openpty()
            for fd in spare:
                os.close(fd)
        tty.setraw(slave)  # bytes pass untouched: no echo, no CR/LF or XON/XOFF handling
        flags = fcntl.fcntl(master, fcntl.F_GETFL)
        fcntl.fcntl(master, fcntl.F_SETFL, flags | os.O_NONBLOCK)
        self._master, self._slave = master, slave  # the slave stays open so data buffers
        self.port = os.ttyname(slave)
        if self.link:
            temporary = f"{self.link}.{os.getpid()}.tmp"
            os.symlink(self.port, temporary)
            os.replace(temporary, self.link)
        self.plugged.set()

    def _unplug_now(self) -> None:
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None
        self._outbox.clear()
        if self.link and os.path.islink(self.link):
            os.unlink(self.link)  # as udev removes a vanished device's links
        self.plugged.clear()

    # writer: the board's sampling clock and its USB link ------------------------------------
    def _write_loop(self) -> None:
        while not self._stop.wait(self._rng.uniform(*BURST_S)):
            with self._lock:
                self._write_burst()

    def _write_burst(self) -> None:
        counts = self._sample_due() if self._streaming else None
        if self._master is None:
            return
        payload = b"".join(self._outbox)
        self._outbox.clear()
        head = len(payload)
        if counts is not None:
            payload += encode_frames(counts)
        if not payload:
            return
        before = time.monotonic()  # the bytes are readable from within the write on
        try:
            written = os.write(self._master, payload)
        except OSError as e:  # full (nobody reads) or gone: the board drops it
            if e.errno not in (errno.EAGAIN, errno.EIO):
                raise
            written = 0
        if counts is not None:
            whole = max(0, written - head) // (2 * self._channels)
            off = np.flatnonzero((counts[:whole] != self.zero).any(axis=1))
            self._writes.append((self._index, whole, before, off[0] if off.size else -1))
        self.dropped_bytes += len(payload) - written
        if counts is not None:
            self._remember(counts, max(0, written - head) // (2 * self._channels))

    def _sample_due(self) -> np.ndarray:
        """Counts of the frames the board's clock has produced since the last burst."""
        due = int((time.monotonic() - self._t0) * self.rate)
        backlog = due - self._made
        limit = int(MAX_BACKLOG_S * self.rate)
        if backlog > limit:  # a stall: what the board could not hand over is lost
            self._index += backlog - limit
            self._made += backlog - limit
            backlog = limit
        uv = self._source.take(max(backlog, 0))
        self._made += uv.shape[0]
        counts = np.rint(uv / self.uv_per_count) + self.zero
        return np.clip(counts, 0, self.max_count).astype(np.int16)

    def _remember(self, counts: np.ndarray, whole: int) -> None:
        """Note the first `whole` frames of a burst as sent; the rest never left."""
        if whole:
            self._record.append((self._index, counts[:whole]))
            self.frames_sent += whole
            self._recorded += whole
        self._index += counts.shape[0]
        while self._record and self._recorded - self._record[0][1].shape[0] >= RECORD_FRAMES:
            self._recorded -= self._record.popleft()[1].shape[0]

    # control: commands from the host, unplug and replug ------------------------------------
    def _control_loop(self) -> None:
        inbox = b""
        while not self._stop.is_set():
            self._plug_events()
            master = self._master  # only this thread closes it, so it stays valid here
            if master is None:
                self._stop.wait(0.005)
                continue
            ready, _, _ = select.select([master], [], [], 0.02)
            if not ready:
                continue
            try:
                inbox += os.read(master, 1024)
            except OSError:  # no slave open at the moment: nothing to read
                self._stop.wait(0.005)
                continue
            *lines, inbox = inbox.split(b"\n")
            for line in lines:
                self._command(line.decode("ascii", "replace").strip())

    def _plug_events(self) -> None:
        with self._lock:
            if self._unplug_for is not None:
                self._unplug_now()
                self._replug_at = time.monotonic() + self._unplug_for
                self._unplug_for = None
            elif self._replug_at is not None and time.monotonic() >= self._replug_at:
                self._replug_at = None
                self._power_on()
                self._plug()

    def _command(self, line: str) -> None:
        if line.startswith("conf "):
            line = line[len("conf "):]
        for part in line.split(";"):
            key, _, value = part.strip().partition(":")
            reply = self._answer(key.strip(), value.strip())
            if reply:
                self.send(reply)

    def _answer(self, key: str, value: str) -> str | None:
        p = self.profile
        if key == "b":
            return f"HWT:{self.hwt};"
        if key == "?":
            return f"FWV:{FIRMWARE};HWT:{self.hwt};HWV:{HARDWARE_VERSION};"
        if key == "board":
            return "BRD:0;"
        if key == "max":
            return f"MSF:{round(p.fs_for(1))};MNC:{p.max_channels};"
        with self._lock:
            if key == "c" and p.shared_rate and value.isdigit():
                if 1 <= int(value) <= p.max_channels and int(value) != self._channels:
                    self._configure(int(value))
            elif key == "start" and p.needs_start and not self._streaming:
                self._streaming = True
                self._restart_clock()
            elif key == "h" and p.needs_start:
                self._streaming = False
        return None
