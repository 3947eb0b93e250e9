"""`soundcard:<name or index>`: an analogue EMG preamp's output into a sound card input.

    soundcard:0?uv_per_fs=2000&isolation=BF
    soundcard:usb?fs=96000&channels=2&blocksize=64
    soundcard:            (the system's default input)

A sound card knows nothing of microvolts: its samples are fractions of digital full scale.
`uv_per_fs` (the microvolts at the electrodes that drive the card to full scale: preamp gain
and the card's input level together) turns them into microvolts. Without it the device is
UNCALIBRATED and assumes a x1000 preamp into a 1 V full-scale input (1000 uV). Nor can a
sound card say whether its preamp may touch a patient: the clinic declares `isolation`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from devices.base import Chunk, Device, DeviceInfo, Isolation
from devices.errors import DeviceError, DeviceLost, UnknownDevice
from devices.uri import Param, Scheme, Uri, read_params

FS_LOW, FS_HIGH = 44100.0, 96000.0
FALLBACK_FS = 48000.0
UNCALIBRATED_UV_PER_FS = 1000.0  # 1 V full scale behind a x1000 preamp: a guess, said so
PARAMS = {
    "fs": Param(float, None, "sample rate in Hz (default: the card's own if 44.1-96 kHz, "
                "else 48 kHz)", FS_LOW, FS_HIGH),
    "channels": Param(int, 1, "inputs to record, from the first", 1, 32),
    "uv_per_fs": Param(float, None, "microvolts at the electrodes for digital full scale "
                       "(the preamp's gain); unset: UNCALIBRATED, 1000 assumed", low=1e-6),
    "isolation": Param(str, "unknown", "the preamp's patient isolation, as declared by the "
                       "clinic", choices=("none", "BF", "CF", "unknown")),
    "blocksize": Param(int, 128, "frames per sound card callback", 16, 4096),
}
RING_S = 2.0  # how far the reader may fall behind before the oldest frames are lost
STALL_S = 0.5  # no frames for this long: the card has stopped delivering
OVERFLOW_SHOW_S = 1.0  # how long "overflow" stays the status word after one
_POLL_S = 0.1  # a blocked read still checks that the stream is alive this often
_open_streams = 0  # this module's streams; re-enumerating would close them
_abandoned_streams = 0  # dead streams left to PortAudio: re-enumerating would block on them


def _portaudio():
    """The sounddevice module, or a DeviceError saying what is missing."""
    try:
        import sounddevice
    except (OSError, ImportError) as e:  # sounddevice raises OSError without libportaudio2
        raise DeviceError(
            f"no sound input device: PortAudio is not available ({e}; on Debian "
            "apt-get install libportaudio2); plug one in or use sim:"
        ) from None
    return sounddevice


@dataclass(frozen=True)
class SoundInput:
    index: int
    name: str
    hostapi: str
    channels: int
    default_fs: float

    def __str__(self) -> str:
        return f"{self.index}: {self.name} ({self.hostapi}, {self.channels} in)"


def list_inputs() -> list[SoundInput]:
    """Every sound input PortAudio knows of (it enumerates once: see `rescan`)."""
    sd = _portaudio()
    try:
        devices, apis = sd.query_devices(), sd.query_hostapis()
    except sd.PortAudioError as e:
        raise DeviceError(f"no sound input device: PortAudio failed ({e}); plug one in or "
                          "use sim:") from None
    return [SoundInput(i, d["name"], apis[d["hostapi"]]["name"], d["max_input_channels"],
                       float(d["default_samplerate"]))
            for i, d in enumerate(devices) if d["max_input_channels"] > 0]


def rescan() -> None:
    """Make PortAudio enumerate again: a card plugged in, or an audio server (JACK) started
    after this process. PortAudio only enumerates when initialised, and re-initialising
    closes every stream of the process, so call this with no sound stream open at all
    (the speaker's included)."""
    sd = _portaudio()
    if _open_streams:
        raise DeviceError("cannot look for sound cards while a sound input is open: close it")
    if _abandoned_streams:
        raise DeviceError("cannot look for sound cards after a sound input died under "
                          "PortAudio: restart the app")
    sd._terminate()
    sd._initialize()


def _default_input(inputs: list[SoundInput]) -> SoundInput:
    sd = _portaudio()
    apis = sd.query_hostapis()
    first = sd.default.hostapi
    for api in [first] + [a for a in range(len(apis)) if a != first]:
        index = apis[api]["default_input_device"]
        for found in inputs:
            if found.index == index:
                return found
    return inputs[0]


def find_input(target: str) -> SoundInput:
    """The input a URI's target names: an index, a case-insensitive part of its name, or
    nothing (the default input)."""
    inputs = list_inputs()
    if not inputs:
        raise DeviceError("no sound input device: PortAudio finds none (no card, or its "
                          "audio server is not running); plug one in or use sim:")
    listing = "; ".join(map(str, inputs))
    text = target.strip()
    if text in ("", "default"):
        return _default_input(inputs)
    if text.isdigit():
        match = [i for i in inputs if i.index == int(text)]
        if not match:
            raise UnknownDevice(f"soundcard:{text}: no sound input has index {text}; "
                                f"inputs: {listing}")
        return match[0]
    lower = text.lower()
    match = ([i for i in inputs if i.name.lower() == lower]
             or [i for i in inputs if lower in i.name.lower()])
    if not match:
        raise UnknownDevice(f"soundcard:{text}: no sound input is named like '{text}'; "
                            f"inputs: {listing}")
    if len(match) > 1:
        raise UnknownDevice(f"soundcard:{text}: '{text}' names several sound inputs "
                            f"({'; '.join(map(str, match))}): give the index instead")
    return match[0]


def _info(uri: Uri, p: dict, inp: SoundInput) -> DeviceInfo:
    if p["channels"] > inp.channels:
        raise UnknownDevice(f"channels={p['channels']} in {uri.text}: {inp.name} has only "
                            f"{inp.channels} input(s)")
    fs = p["fs"] or (inp.default_fs if FS_LOW <= inp.default_fs <= FS_HIGH else FALLBACK_FS)
    calibrated = p["uv_per_fs"] is not None
    uv = p["uv_per_fs"] if calibrated else UNCALIBRATED_UV_PER_FS
    note = (f"{uv:g} uV at full scale, as set" if calibrated else
            f"UNCALIBRATED: {uv:g} uV at full scale assumed (1 V full scale, preamp gain "
            "1000); set uv_per_fs")
    return DeviceInfo(
        uri=uri.text, name=f"Sound card: {inp.name}" + ("" if calibrated else
                                                         " (UNCALIBRATED)"),
        kind="soundcard", fs=fs, channels=p["channels"],
        channel_labels=tuple(f"{inp.name} in {c + 1}" for c in range(p["channels"])),
        uv_per_count=uv,  # a float sample of 1.0 is digital full scale
        calibrated=calibrated, isolation=Isolation(p["isolation"]), range_uv=uv,
        details={"index": inp.index, "device": inp.name, "hostapi": inp.hostapi,
                 "blocksize": p["blocksize"], "uv_per_fs": uv, "calibration": note},
    )


def describe(uri: Uri) -> DeviceInfo:
    return _info(uri, read_params(uri, PARAMS), find_input(uri.target))


class SoundcardDevice(Device):
    """A sound card input. PortAudio's thread only copies each block into a ring indexed
    by frame number; `read` takes what has arrived. `first_index` counts frames since the
    first start, so frames the reader was too late for, and a stop, show as gaps.

    For the status bar: `status` is "streaming", "overflow" (for a second after any loss),
    "stalled" (no frames for half a second) or "lost"; `overflows` counts blocks the host
    flagged as having lost samples before we saw them (a JACK xrun, an ALSA overrun) and
    `overrun_frames` the frames lost because the reader fell behind."""

    def __init__(self, uri: Uri, paced: bool = True):  # a card keeps its own pace
        p = read_params(uri, PARAMS)
        self.input = find_input(uri.target)
        super().__init__(_info(uri, p, self.input))
        self.blocksize = p["blocksize"]
        self.overflows = 0
        self._late_frames = 0  # written by the reader only
        self._oversize_frames = 0  # written by the callback only: no shared read-modify-write
        size = max(int(RING_S * self.info.fs), 16 * self.blocksize)
        self._ring = np.zeros((size, self.info.channels), np.float32)
        # A callback may be part-way through writing a block while we copy: frames within
        # `_guard` of being overwritten are not trusted (blocks larger than that are dropped).
        self._guard = size // 4
        self._produced = 0  # frames the callback has finished writing (since first start)
        self._consumed = 0  # frames handed out or given up as lost
        self._ready = threading.Event()
        self._stream = None
        self._dead = False  # the stream ended without our asking: never touch it again
        self._stopped_at: float | None = None
        self._progress_at = 0.0
        self._seen_losses = 0
        self._loss_at = -1e9

    @property
    def overrun_frames(self) -> int:
        return self._late_frames + self._oversize_frames

    # PortAudio's thread -----------------------------------------------------------------
    def _callback(self, indata, frames, time_info, status) -> None:
        # Copy and count only: no allocation, logging or lock beyond the Event's brief one,
        # or the card's own buffer overflows while we dawdle.
        if status.input_overflow:
            self.overflows += 1
        ring = self._ring
        size = ring.shape[0]
        if frames > self._guard:
            self._oversize_frames += frames
        else:
            start = self._produced % size
            first = min(frames, size - start)
            ring[start:start + first] = indata[:first]
            if first < frames:
                ring[:frames - first] = indata[first:]
        self._produced += frames  # after the copy: the reader trusts frames below this
        self._ready.set()

    # life cycle -------------------------------------------------------------------------
    def _open(self) -> None:
        global _open_streams
        sd = _portaudio()
        try:
            self._stream = sd.InputStream(
                device=self.input.index, samplerate=self.info.fs,
                channels=self.info.channels, dtype="float32", blocksize=self.blocksize,
                latency="low", callback=self._callback)
        except (sd.PortAudioError, ValueError) as e:
            raise DeviceError(
                f"cannot open sound input {self.input} at {self.info.fs:g} Hz with "
                f"{self.info.channels} channel(s): {e}; try another fs= or channels="
            ) from None
        _open_streams += 1

    def _start(self) -> None:
        if self._stopped_at is not None:
            # The card's clock ran on while stopped: skip the pause so t0 stays true.
            paused = round((time.monotonic() - self._stopped_at) * self.info.fs)
            self._produced += paused
        self._consumed = self._produced  # frames left over from before a stop are stale
        self._ready.clear()
        self._progress_at = time.monotonic()
        try:
            self._stream.start()
        except Exception as e:  # PortAudioError; kept general as sd is imported lazily
            raise DeviceError(f"cannot start sound input {self.input}: {e}") from None

    def _stop(self) -> None:
        if not self._dead:
            self._stream.stop()  # returns once the last callback has finished
        self._stopped_at = time.monotonic()

    def _close(self) -> None:
        global _open_streams, _abandoned_streams
        if self._dead:
            _abandoned_streams += 1
        else:
            self._stream.close()
        # A dead stream is abandoned, not closed: PortAudio's JACK host API blocks for ever
        # stopping or closing a stream whose server has gone (measured with jackd killed).
        self._stream = None
        _open_streams -= 1

    # the reader's thread ----------------------------------------------------------------
    def _read(self, timeout: float | None) -> Chunk | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._ready.clear()  # before looking, so a block arriving after still wakes us
            chunk = self._take()
            if chunk is not None:
                return chunk
            self._check_alive()
            wait = _POLL_S if deadline is None else min(_POLL_S, deadline - time.monotonic())
            if wait <= 0:
                return None
            self._ready.wait(wait)

    def _take(self) -> Chunk | None:
        size = self._ring.shape[0]
        end = self._produced
        start = max(self._consumed, end + self._guard - size)
        if end <= start:
            return None
        data = self._copy(start, end)
        # Frames the callback may have written over while we copied are lost, not garbled.
        trusted = self._produced + self._guard - size
        if trusted > start:
            data = data[min(trusted, end) - start:]
            start = min(trusted, end)
        self._late_frames += start - self._consumed
        self._consumed = end
        self._progress_at = time.monotonic()
        self._update_status()
        if data.shape[0] == 0:
            return None
        data *= np.float32(self.info.uv_per_count)
        return self._chunk(data, start)

    def _copy(self, start: int, end: int) -> np.ndarray:
        size = self._ring.shape[0]
        a, n = start % size, end - start
        first = min(n, size - a)
        out = np.empty((n, self.info.channels), np.float32)
        out[:first] = self._ring[a:a + first]
        out[first:] = self._ring[:n - first]
        return out

    def _update_status(self) -> None:
        losses = self.overflows + self.overrun_frames
        now = time.monotonic()
        if losses != self._seen_losses:
            self._seen_losses, self._loss_at = losses, now
        self.status = "overflow" if now - self._loss_at < OVERFLOW_SHOW_S else "streaming"

    def _check_alive(self) -> None:
        if not self._stream.active:
            self._dead = True
            self.status = "lost"
            raise DeviceLost(f"sound input {self.input} stopped delivering: unplugged, or "
                             "its audio server went away? Open it again")
        if time.monotonic() - self._progress_at > STALL_S:
            self.status = "stalled"


def _discover() -> list[DeviceInfo]:
    # Listing must never fail for want of a sound system: nothing to list is the answer.
    try:
        inputs = list_inputs()
    except DeviceError:
        return []
    found = []
    for inp in inputs:
        uri = Uri("soundcard", str(inp.index), {}, f"soundcard:{inp.index}")
        found.append(_info(uri, read_params(uri, PARAMS), inp))
    return found


SCHEME = Scheme(
    name="soundcard", help="analogue EMG preamp into a sound card input", describe=describe,
    make=SoundcardDevice, discover=_discover, example="soundcard:0?uv_per_fs=2000",
)
