"""A stored snippet played back with sound, through the same renderer the live sound uses
(dsp.audio.renderer: resampler, loudness from sensitivity, soft limiter), so it sounds as it did at
the bedside. The rendered sound goes into a ring of its own, played by a second stream on
the live speaker's output: the live ring has one writer (the reader thread) and stays
untouched, so the live sound never stops for a review. Without a speaker it says NO SOUND
and the screen still draws and sweeps its cursor. No Kivy."""

from __future__ import annotations

import numpy as np

from devices.audio_ring import AudioRing
from dsp.audio.renderer import AudioRenderer

TAIL_S = 0.2  # silence after the snippet, so the ring's fade ends in silence


def render(counts: np.ndarray, uv_per_count: float, fs: float, fs_out: float = 48000.0, *,
           sensitivity_uv: float = 50.0, volume: float = 0.6, mode: str = "raw"
           ) -> np.ndarray:
    """The snippet's first channel as the speaker would play it (float32, fs_out)."""
    x = np.asarray(counts, np.float64)
    x = (x[:, 0] if x.ndim == 2 else x) * float(uv_per_count)
    r = AudioRenderer(fs, fs_out, sensitivity_uv=sensitivity_uv, volume=volume, mode=mode)
    out, pos = r.render(x, fill=0, slack=0, starved=True)
    # The renderer primes a live ring with silence; a whole snippet needs none, so the
    # sound starts with the drawing's cursor.
    real = np.flatnonzero(~np.isnan(pos))
    out = out[real[0]:] if real.size else out
    return np.concatenate([out, np.zeros(int(TAIL_S * fs_out), np.float32)])


class Player:
    """Plays one snippet at a time on the live audio path's output, or says why not."""

    def __init__(self, audio=None, output=None):
        self.audio = audio  # the app's AudioPath (None: the app runs without sound)
        self.output = output
        self.speaker = None
        self.seconds = 0.0

    def play(self, snip: dict, *, sensitivity_uv: float = 50.0, volume: float = 0.6) -> str:
        """Starts playing; returns "" or the words to show (NO SOUND ...)."""
        self.stop()
        self.seconds = snip["frames"] / float(snip["fs"])
        live = getattr(self.audio, "speaker", None)
        if live is None:
            return "NO SOUND: no sound output (drawn only)"
        from devices.speaker import NoSpeaker, Speaker

        fs_out = float(live.fs)
        sound = render(snip["samples"], snip["uv_per_count"], snip["fs"], fs_out,
                       sensitivity_uv=sensitivity_uv, volume=volume)
        ring = AudioRing(len(sound) + 1)
        ring.write(sound)
        speaker = Speaker(ring, output=self.output, fs=fs_out, blocksize=live.blocksize)
        try:
            speaker.open()
        except NoSpeaker as e:
            return f"NO SOUND: {e}"
        self.speaker = speaker
        return ""

    def stop(self) -> None:
        if self.speaker is not None:
            self.speaker.close()
            self.speaker = None
