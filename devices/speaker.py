"""The loudspeaker: a PortAudio output stream whose callback only copies from the audio ring.

The callback never blocks, allocates a buffer, logs or takes a lock: it hands the card's
block to `AudioRing.read_into`, copies channel 0 to any other channels, counts the card's
own underflows and notes its time. Everything else (resampling, gains, sounds) happened on
the reader thread before.

With no output device (no sound card, no PortAudio), opening raises `NoSpeaker`, whose
message says what to change; the app says it once and carries on without sound.
"""

from __future__ import annotations

import time

import numpy as np

from devices.audio_ring import AudioRing
from devices.errors import DeviceError

PREFERRED_FS = 48000.0
DEFAULT_BLOCKSIZE = 128
LOST_AFTER_S = 1.0  # no callback for this long while running: the output is gone
TIMES_KEPT = 1 << 16  # callback times kept for timing reports (a preallocated ring)
# Streams whose card died under them. They are never stopped or closed: PortAudio's JACK
# host API blocks for ever stopping or closing a stream whose server has gone (measured
# here with jackd killed; devices/soundcard.py meets the same). Held so nothing frees them.
_abandoned: list = []


class NoSpeaker(DeviceError):
    """No sound output can be had here; the message says why and what to change."""


def _portaudio():
    try:
        import sounddevice
    except (OSError, ImportError) as e:  # sounddevice raises OSError without libportaudio2
        raise NoSpeaker(f"no sound output: PortAudio is not available ({e}; on Debian "
                        "apt-get install libportaudio2)") from None
    return sounddevice


def outputs() -> list[dict]:
    """Every output PortAudio lists: index, name, channels, default rate."""
    sd = _portaudio()
    return [{"index": i, "name": d["name"], "channels": d["max_output_channels"],
             "fs": d["default_samplerate"]}
            for i, d in enumerate(sd.query_devices()) if d["max_output_channels"] > 0]


def find_output(spec: str | int | None = None) -> dict:
    """The output named by index or by part of its name, or the default one."""
    found = outputs()
    if not found:
        raise NoSpeaker("no sound output device: PortAudio lists none (no sound card, or "
                        "the audio server started after this program); plug one in, or "
                        "render to a file with `needlepoint listen --out F.wav`")
    if spec is None or spec == "":
        sd = _portaudio()
        default = sd.default.device[1]
        return next((o for o in found if o["index"] == default), found[0])
    if isinstance(spec, int) or str(spec).isdigit():
        match = [o for o in found if o["index"] == int(spec)]
    else:
        match = [o for o in found if str(spec).lower() in o["name"].lower()]
    if not match:
        names = "; ".join(f"{o['index']}: {o['name']}" for o in found)
        raise NoSpeaker(f"no sound output matches {spec!r}; the outputs are: {names}")
    return match[0]


class Speaker:
    """Plays an `AudioRing` on a sound card until closed."""

    def __init__(self, ring: AudioRing, *, output: str | int | None = None,
                 fs: float | None = None, blocksize: int = DEFAULT_BLOCKSIZE):
        self.ring = ring
        self.spec = output
        self.blocksize = int(blocksize)
        self.requested_fs = fs
        self.fs = fs or PREFERRED_FS
        self.name = ""
        self.stream = None
        self.xruns = 0  # the card's own output underflows, as PortAudio flags them
        self.times = np.zeros(TIMES_KEPT)  # the stream's time at each callback
        self.reads = np.zeros(TIMES_KEPT, np.int64)  # the ring's read count after each
        self.clock = np.zeros(TIMES_KEPT)  # time.monotonic() at each callback
        self.calls = 0
        self.started_at = 0.0
        self.last_call = 0.0

    def choose_rate(self) -> float:
        """48 kHz where the card takes it, else its own rate."""
        sd = _portaudio()
        out = find_output(self.spec)
        self.name = out["name"]
        for fs in ([self.requested_fs] if self.requested_fs else [PREFERRED_FS, out["fs"]]):
            try:
                sd.check_output_settings(device=out["index"], samplerate=fs, channels=1,
                                         dtype="float32")
                self.fs = float(fs)
                self._index = out["index"]
                self._channels = min(out["channels"], 2)
                return self.fs
            except Exception as e:  # PortAudioError or ValueError: say what was refused
                last = e
        raise NoSpeaker(f"sound output {out['name']!r} refuses {self.requested_fs or 'any'} "
                        f"Hz float32 ({last}); choose another output or rate")

    def open(self) -> Speaker:
        sd = _portaudio()
        if self.stream is None:
            if not hasattr(self, "_index"):
                self.choose_rate()
            try:
                self.stream = sd.OutputStream(
                    device=self._index, samplerate=self.fs, blocksize=self.blocksize,
                    channels=self._channels, dtype="float32", latency="low",
                    callback=self._callback)
                self.stream.start()
            except Exception as e:  # PortAudioError: the card is busy or went away
                self.stream = None
                raise NoSpeaker(f"cannot play on {self.name!r}: {e}; close what else "
                                "uses it, or choose another output") from None
            self.started_at = self.last_call = time.monotonic()
        return self

    def _callback(self, outdata, frames, time_info, status) -> None:
        self.ring.read_into(outdata[:, 0])
        if outdata.shape[1] > 1:
            outdata[:, 1:] = outdata[:, :1]
        if status.output_underflow:
            self.xruns += 1
        i = self.calls % TIMES_KEPT
        self.times[i] = time_info.currentTime
        self.reads[i] = self.ring.read
        self.last_call = self.clock[i] = time.monotonic()
        self.calls += 1

    @property
    def latency_s(self) -> float:
        """The card's own output latency, as PortAudio reports it (after the callback)."""
        return float(self.stream.latency) if self.stream is not None else 0.0

    def lost(self) -> bool:
        """The stream stopped calling back: the card was unplugged or its server died."""
        if self.stream is None:
            return True
        if not self.stream.active:
            return True
        return time.monotonic() - self.last_call > LOST_AFTER_S

    def _in_order(self, a: np.ndarray) -> np.ndarray:
        """The kept entries of one of the callback rings, oldest first."""
        n = min(self.calls, TIMES_KEPT)
        return np.roll(a, -(self.calls % TIMES_KEPT))[-n:] if n else a[:0]

    def callback_gaps(self) -> np.ndarray:
        """Seconds between the callbacks kept so far (by the stream's clock)."""
        return np.diff(self._in_order(self.times))

    def kept_calls(self) -> tuple[np.ndarray, np.ndarray]:
        """The last `TIMES_KEPT` callbacks, oldest first: the ring's read count after each,
        and its time.monotonic()."""
        return self._in_order(self.reads), self._in_order(self.clock)

    def abandon(self) -> None:
        """Let go of a stream whose card is gone, without touching it (see `_abandoned`)."""
        if self.stream is not None:
            _abandoned.append(self.stream)
            self.stream = None

    def close(self) -> None:
        if self.stream is not None and self.lost():
            self.abandon()
            return
        stream, self.stream = self.stream, None
        if stream is not None:
            try:
                stream.abort()
                stream.close()
            except Exception:  # a stream whose card is gone may refuse; it is closed anyway
                pass

    def __enter__(self) -> Speaker:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()
