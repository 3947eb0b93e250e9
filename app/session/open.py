"""One way to get a live session from a device URI, for the app, `listen` and the benches:
make the device, open it (hardware says its rate only once open), build the audio path at
that rate if sound is wanted, and the session around both.

The session comes back built, not started: `start()` runs it on its reader thread, or the
caller reads `session.device` itself and hands each chunk to `session.feed`.
"""

from __future__ import annotations

from app.session.audio import AudioPath
from app.session.live import LiveSession
from devices import make_device
from dsp.audio.renderer import DEFAULT_VOLUME

SOUND_FS = 48000.0
DISPLAY_S = 60.0  # what the display ring holds; a mark reaches back 5 s of it


def open_session(uri: str, *, sound: bool = True, paced: bool = True,
                 mains_hz: int | None = None, volume: float = DEFAULT_VOLUME,
                 sensitivity_uv: float = 50.0, mode: str = "raw", squelch_uv: float = 0.0,
                 fs_out: float = SOUND_FS, blocksize: int = 128,
                 wait_for_speaker: bool = False, seconds: float = DISPLAY_S) -> LiveSession:
    """The device at `uri`, opened, in a session with an audio path (`session.audio`; None
    without `sound`). `paced=False` lets a simulator or a replay run as fast as it is read.
    `wait_for_speaker`: render no sound until a speaker is attached (the app, which starts
    its sound once its screen is up).

    Raises DeviceError when the device cannot be had, ValueError for an absurd volume,
    sensitivity, squelch or mode (the device is closed again then)."""
    device = make_device(uri, paced=paced)
    device.open()
    try:
        audio = (AudioPath(device.info.fs, fs_out=fs_out, blocksize=blocksize,
                           sensitivity_uv=sensitivity_uv, volume=volume, mode=mode,
                           squelch_uv=squelch_uv, wait_for_speaker=wait_for_speaker)
                 if sound else None)
        return LiveSession(device, seconds=seconds, mains_hz=mains_hz, audio=audio)
    except BaseException:
        device.close()
        raise
