"""The audio path as the app runs it: the reader thread renders each filtered chunk into the
ring (`AudioPath.push`), and something takes from the ring at the sound card's pace: a
real card (`devices.speaker.Speaker`) or a simulated one (`VirtualCard`, for `listen --out`
and `bench audio`). Both call the same `AudioRing.read_into`, so a render to a file and the
benchmark exercise exactly what the speaker plays.
"""

from __future__ import annotations

import gc
from collections import deque
from collections.abc import Callable

import numpy as np

from devices.audio_ring import AudioRing
from dsp.audio.renderer import DEFAULT_VOLUME, AudioRenderer

RING_S = 0.5  # the ring's size: far more than any target fill
# Queued beyond the target by this much after a block: the callback skips back to it. What
# a stall or a backlog left behind plays late for as long as it is kept, and late sound
# misleads the needle more than a skip does. The margin is a few of the device's usual
# chunks (they arrive whole, so the fill rises by one after each), and never under 10 ms.
SKIP_MARGIN_MIN_S = 0.010
SKIP_MARGIN_CHUNKS = 3
CHUNKS_KEPT = 64  # the device's usual chunk: the median of this many
IDLE_S = 0.010  # with no EMG coming, silence (and alerts) is rendered this far ahead


def settle_heap() -> None:
    """Collect once, then put everything alive out of the cyclic collector's reach
    (`gc.freeze`). A full collection walks every object the process holds with the GIL
    held: measured with the app built, up to 92 ms in which neither the reader nor the
    speaker callback can run, far past the audio ring's few ms. What exists by the time
    the sound starts lives as long as the app; later full collections walk only what came
    after. `attach_speaker` calls it, just before the sound starts."""
    gc.collect()
    gc.freeze()


class AudioPath:
    """Renderer and ring, fed by the reader thread; optionally a speaker taking from it."""

    def __init__(self, fs_in: float, *, fs_out: float = 48000.0, blocksize: int = 128,
                 sensitivity_uv: float = 50.0, volume: float = DEFAULT_VOLUME,
                 mode: str = "raw", squelch_uv: float = 0.0, wait_for_speaker: bool = False):
        self.fs_in, self.fs_out, self.blocksize = float(fs_in), float(fs_out), int(blocksize)
        self.ring = AudioRing(int(RING_S * fs_out))
        self.renderer = AudioRenderer(fs_in, fs_out, block_s=blocksize / fs_out,
                                      sensitivity_uv=sensitivity_uv, volume=volume,
                                      mode=mode, squelch_uv=squelch_uv)
        self.speaker = None
        self.speaker_error: str | None = None
        self._underruns_seen = 0
        self._missing_seen = 0
        self._skipped_seen = 0
        self.late_dropped = 0  # samples of a stall's backlog not played (came too late)
        self._next_index: int | None = None
        self._idling = False
        # With `wait_for_speaker`, nothing is rendered until a speaker is attached: the app
        # starts its sound once the screen is up, and a ring filled (or a fill control
        # taught) meanwhile would only have to be thrown away.
        self.waiting = wait_for_speaker
        self._unrendered = 0  # samples that went by while waiting
        self._chunks: deque = deque(maxlen=CHUNKS_KEPT)  # recent chunks' lengths (input)

    def push(self, x_uv: np.ndarray, first_index: int | None = None) -> np.ndarray:
        """Render one chunk of filtered EMG (1-D, uV) into the ring. `first_index` is the
        chunk's first sample in the device's count: a jump means samples were lost, and
        the sound restarts from silence rather than splice across the hole. Returns the
        input position of each sample written (NaN for silence), for measurements."""
        if self.waiting:
            self._unrendered += len(x_uv)
            self._next_index = None
            return np.zeros(0)
        if self._unrendered:  # the first chunk with a speaker: it starts afresh
            self.renderer.skip(self._unrendered)
            self._unrendered = 0
        ring = self.ring
        gap = (first_index is not None and self._next_index is not None
               and first_index != self._next_index)
        if first_index is not None:
            self._next_index = first_index + len(x_uv)
        fill = ring.queued
        low = ring.take_low_slack()
        slack = fill if low == ring.capacity else low  # no callback since the last chunk
        starved = ring.underruns != self._underruns_seen
        self._underruns_seen = ring.underruns
        missing, self._missing_seen = ring.missing - self._missing_seen, ring.missing
        if starved:  # how long it ran dry: the slack it would have needed, negative
            slack = min(slack, -missing)
        if ring.skipped != self._skipped_seen:
            # The callback jumped back to the target: the fill average is of the past.
            self._skipped_seen = ring.skipped
            self.renderer.control.restart()
        if self._idling:  # the EMG is back after silence: refill afresh, blame no one
            self._idling, gap = False, True
        out, positions = self.renderer.render(x_uv, fill=fill, slack=slack,
                                              starved=starved, gap=gap)
        target = int(self.renderer.control.target_s * self.fs_out)
        usual = self._usual_chunk(len(x_uv))
        # The target is the fill just before a chunk comes; a skip lands anywhere between
        # two chunks, where the ring holds half a chunk more on average.
        ring.skip_to = target + usual // 2
        ring.skip_above = target + max(int(SKIP_MARGIN_MIN_S * self.fs_out),
                                       SKIP_MARGIN_CHUNKS * usual)
        # After running dry, the sound resumes with its newest sample where a usual chunk
        # puts it; a backlog that came as several chunks is skipped by the callback.
        ring.resume_above = target + usual
        if starved and ring.starved and not gap and fill == 0:  # the ring waits, empty
            out, positions = self._resume_on_time(out, positions, target + usual)
        taken = ring.write(out)
        return positions[:taken]

    def _resume_on_time(self, out: np.ndarray, positions: np.ndarray,
                        level: int) -> tuple[np.ndarray, np.ndarray]:
        """The first chunk after the ring ran dry: the sound resumes with its newest sample
        where a usual chunk puts it (`level`: the target and a usual chunk), never later.
        The renderer put the target's worth of silence before the chunk; a chunk that holds
        what came late (the stall's backlog) would then play late by the backlog's length
        for as long as the fill control takes to drain it (a third of a second and more).
        So the silence goes first, and then the oldest of the backlog: the gap is already
        there (the ring faded out), and the ring fades the sound in again where it
        resumes."""
        cut = len(out) - level
        if cut <= 0:
            return out, positions
        self.late_dropped += int(np.isfinite(positions[:cut]).sum())
        return out[cut:], positions[cut:]

    def _usual_chunk(self, chunk: int) -> int:
        """The median of the device's recent chunks, in output samples."""
        self._chunks.append(chunk)
        return int(sorted(self._chunks)[len(self._chunks) // 2] * self.fs_out / self.fs_in)

    def relearn(self) -> None:
        """The start is over (the app's screen is up): the delay is learnt afresh from
        the pace to come, not from the hold-ups of the start."""
        self.renderer.control.relearn()

    def idle(self) -> None:
        """Call often (every few ms) while no chunk comes: once the ring has run dry (its
        fade took the EMG down to silence), keep it fed with silence so that alerts still
        sound. Does nothing while EMG is flowing."""
        ring = self.ring
        if self.waiting or not (ring.starved or self._idling):
            return  # the EMG already queued is still playing out
        want = int((self.renderer.control.target_s + IDLE_S) * self.fs_out) - ring.queued
        if want > 0:
            self._idling = True
            ring.resume_above = ring.capacity  # silence (and chimes) is not a late backlog
            ring.write(self.renderer.render_idle(want))

    # -- the controls (any thread: the renderer reads each once per chunk) ---------------
    def set_mode(self, mode: str) -> None:
        """raw, click, pitch or mute; ValueError for any other."""
        self.renderer.set_mode(mode)

    def set_volume(self, volume: float) -> None:
        """0 (silent) to 1; ValueError outside it, and the volume stays as it was."""
        self.renderer.set_volume(volume)

    def set_sensitivity(self, uv_per_div: float) -> None:
        """The trace's microvolts per division: loudness follows, as on EMG machines."""
        self.renderer.set_sensitivity(uv_per_div)

    @property
    def mode(self) -> str:
        return self.renderer.mode

    @property
    def volume(self) -> float:
        return self.renderer.volume

    @property
    def sensitivity_uv(self) -> float:
        return self.renderer.sensitivity_uv

    def alert(self, name: str) -> None:
        """A chime (`mark`, `lost`, `warning`), heard through any mode and with no signal."""
        self.renderer.alert(name)

    def potentials(self, events, fs: float) -> None:
        """The analyser's new events (their `t` in seconds of the analysed stream)."""
        if events:
            self.renderer.potentials([(int(round(e.t * fs)), e.kind) for e in events])

    def delay_s(self) -> float:
        """What a sample spends from arrival to the air: ring, resampler, the card."""
        card = self.speaker.latency_s if self.speaker is not None else 0.0
        return self.renderer.delay_s + card

    def status(self) -> dict:
        r = self.ring
        return {"mode": self.renderer.mode, "volume": self.renderer.volume,
                "delay_ms": round(self.delay_s() * 1000, 1),
                "underruns": r.underruns, "overruns": r.overruns, "skipped": r.skipped,
                "speaker": (self.speaker.name if self.speaker is not None
                            else self.speaker_error or "none")}

    def status_line(self, stream_status: str, seconds: float) -> str:
        """One line for a terminal, as `listen` and `gui --status` print each second."""
        st = self.status()
        xruns = self.speaker.xruns if self.speaker is not None else 0
        return (f"  {seconds:6.1f} s  {stream_status:<12} delay {st['delay_ms']:5.1f} ms  "
                f"underruns {st['underruns']}  card xruns {xruns}")

    # -- the speaker -------------------------------------------------------------------
    def attach_speaker(self, output=None, *, blocksize: int | None = None):
        """Open the sound card and start playing; on failure keep the reason (said once by
        the caller) and carry on silent."""
        from devices.speaker import NoSpeaker, Speaker

        speaker = Speaker(self.ring, output=output, fs=self.fs_out,
                          blocksize=blocksize or self.blocksize)
        settle_heap()
        try:
            speaker.open()
        except NoSpeaker as e:
            self.speaker_error = str(e)
            return None
        self.speaker = speaker
        self.speaker_error = None
        self.waiting = False
        return speaker

    def check_speaker(self) -> str | None:
        """Call now and then: a speaker that stopped calling back is closed and its loss
        reported (once); the EMG goes on without sound."""
        if self.speaker is not None and self.speaker.lost():
            name = self.speaker.name
            self.speaker.abandon()
            self.speaker = None
            self.speaker_error = (f"sound output {name!r} stopped (unplugged, or its audio "
                                  "server ended); carrying on without sound")
            return self.speaker_error
        return None

    def close(self) -> None:
        if self.speaker is not None:
            self.speaker.close()
            self.speaker = None


class VirtualCard:
    """A sound card driven by a given clock: `run_until(t)` makes every callback due by `t`,
    each taking `blocksize` frames from the ring, and hands the block to `sink(block,
    frames_of_signal, t, first_read)`, where `first_read` is the ring's read count before
    the callback (which sample of the stream the block starts with)."""

    def __init__(self, ring: AudioRing, fs_out: float, blocksize: int, start_s: float,
                 sink: Callable[[np.ndarray, int, float, int], None]):
        self.ring = ring
        self.period = blocksize / fs_out
        self.block = np.zeros(blocksize, np.float32)
        self.calls = 0
        self.start_s = start_s
        self.sink = sink

    @property
    def next_s(self) -> float:
        return self.start_s + self.calls * self.period

    def run_until(self, t: float) -> None:
        while self.next_s <= t:
            before = self.ring.read
            taken = self.ring.read_into(self.block)
            self.sink(self.block, taken, self.next_s, before)
            self.calls += 1

