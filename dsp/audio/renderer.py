"""The audio renderer: filtered EMG in microvolts at the amplifier's rate in, loudspeaker
samples (fractions of full scale) at the sound card's rate out.

It runs on the reader thread, chunk by chunk, straight after the filters and before the
analyser, so the sound never waits for a decision. Per chunk it
- resamples at the ratio `FillControl` asks for, which holds the ring to the sound card at
  its target fill whatever the two clocks do;
- scales microvolts by the displayed sensitivity and the volume, as EMG machines do: at the
  default volume a signal `FULL_SCALE_DIVS` divisions high would reach full scale;
- mixes the mode's sounds: raw EMG; raw plus a tick per potential the analyser decided;
  a tone whose pitch rises with activity; or nothing (mute). Modes, volume and sensitivity
  change through short linear fades, so no setting ever makes a pop;
- gates the EMG below the squelch level, if one is set;
- adds alert chimes (they sound through mute: they are the app talking);
- limits softly: untouched below 80 % of full scale, never reaching it.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from dsp.audio.fill import FillControl
from dsp.audio.resample import Resampler
from dsp.audio.sounds import Tone, alert, soft_limit, tick

MODES = ("raw", "click", "pitch", "mute")
# mode -> (raw EMG, ticks, tone) gains
MODE_MIX = {"raw": (1.0, 0.0, 0.0), "click": (1.0, 1.0, 0.0), "pitch": (0.0, 0.0, 1.0),
            "mute": (0.0, 0.0, 0.0)}
FULL_SCALE_DIVS = 3.0
DEFAULT_VOLUME = 0.6  # on a 0-1 slider
VOLUME_RANGE_DB = 36.0  # the whole slider spans this; 0 itself is silence
SENSITIVITY_RANGE_UV = (1.0, 10000.0)  # per division
SQUELCH_MAX_UV = 5000.0
MODE_FADE_S = 0.005
GAIN_FADE_S = 0.010
SQUELCH_RELEASE_S = 0.020
TONE_LEVEL = 0.3
PITCH_HZ = (200.0, 1600.0)  # the tone's range
PITCH_DIVS = (0.1, 2.0)  # RMS in divisions that maps onto it, logarithmically
ACTIVITY_S = 0.15  # the RMS that drives the pitch is averaged over about this long
LATENESS_KEPT = 10000


def volume_gain(volume: float) -> float:
    """Gain relative to the default volume: 1 there, 0 at 0, +14 dB at 1."""
    if volume <= 0:
        return 0.0
    return 10 ** (VOLUME_RANGE_DB * (volume - DEFAULT_VOLUME) / 20)


def _finite(name: str, value, low: float, high: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number from {low:g} to {high:g} "
                         f"(got {value!r})") from None
    if not (math.isfinite(v) and low <= v <= high):
        raise ValueError(f"{name} must be from {low:g} to {high:g} (got {value!r}); "
                         "the setting is unchanged")
    return v


class Ramp:
    """A gain that moves linearly to its target over `seconds`, sample by sample."""

    def __init__(self, value: float, seconds: float, fs: float):
        self.value = self.target = float(value)
        self.per_sample = 1.0 / max(seconds * fs, 1.0)
        self._span = 1.0  # the size of the current move, so every move takes `seconds`

    def set(self, target: float) -> None:
        if target != self.target:
            self._span = max(abs(target - self.value), 1e-12)
            self.target = float(target)

    def restart(self, value: float) -> None:
        """Jump to `value` and move to the target from there."""
        self.value = float(value)
        self._span = max(abs(self.target - self.value), 1e-12)

    def values(self, n: int) -> np.ndarray | float:
        """The gain for the next n samples: a float when steady (cheap), else an array."""
        if self.value == self.target:
            return self.value
        step = self.per_sample * self._span * np.sign(self.target - self.value)
        v = self.value + step * np.arange(1, n + 1)
        v = np.minimum(v, self.target) if step > 0 else np.maximum(v, self.target)
        self.value = float(v[-1]) if n else self.value
        return v


class AudioRenderer:
    def __init__(self, fs_in: float, fs_out: float, *, block_s: float = 128 / 48000,
                 sensitivity_uv: float = 50.0, volume: float = DEFAULT_VOLUME,
                 mode: str = "raw", squelch_uv: float = 0.0):
        self.fs_in, self.fs_out = float(fs_in), float(fs_out)
        self.resampler = Resampler(fs_in, fs_out)
        self.control = FillControl(block_s)
        self.sensitivity_uv = _finite("sensitivity (uV/div)", sensitivity_uv,
                                      *SENSITIVITY_RANGE_UV)
        self.volume = _finite("volume", volume, 0.0, 1.0)
        self.squelch_uv = _finite("squelch (uV)", squelch_uv, 0.0, SQUELCH_MAX_UV)
        self.mode = self._check_mode(mode)
        self._emg = Ramp(self._emg_gain(), GAIN_FADE_S, fs_out)
        self._level = Ramp(volume_gain(self.volume), GAIN_FADE_S, fs_out)
        raw, ticks, tone = MODE_MIX[self.mode]
        self._raw = Ramp(raw, MODE_FADE_S, fs_out)
        self._ticks = Ramp(ticks, MODE_FADE_S, fs_out)
        self._tone_gain = Ramp(tone, MODE_FADE_S, fs_out)
        self._in = Ramp(1.0, MODE_FADE_S, fs_out)  # fades the EMG in after a gap
        self._tone = Tone(fs_out)
        self._env_uv = 0.0  # squelch envelope
        self._mean_square = 0.0  # activity for the pitch
        self._sounds: list[list] = []  # [samples, next offset]: ticks and alerts playing
        self._alerts: list[str] = []
        self._pending_ticks: list[tuple[int, str]] = []
        self._base = 0  # input samples seen before the resampler last restarted
        self.tick_lateness_s: deque = deque(maxlen=LATENESS_KEPT)
        self.alerts_sounded: deque = deque(maxlen=100)  # names, as they started
        self.primed = 0  # output samples of silence inserted to refill the ring
        self._idle = False

    # -- settings (from any thread: each is one assignment the next chunk reads) --------
    def set_mode(self, mode: str) -> None:
        self.mode = self._check_mode(mode)

    def set_volume(self, volume) -> None:
        self.volume = _finite("volume", volume, 0.0, 1.0)

    def set_sensitivity(self, uv_per_div) -> None:
        self.sensitivity_uv = _finite("sensitivity (uV/div)", uv_per_div,
                                      *SENSITIVITY_RANGE_UV)

    def set_squelch(self, uv) -> None:
        self.squelch_uv = _finite("squelch (uV)", uv, 0.0, SQUELCH_MAX_UV)

    def alert(self, name: str) -> None:
        alert(name, self.fs_out)  # an unknown name fails here, in the caller's thread
        self._alerts.append(name)

    def potentials(self, decided: list[tuple[int, str]]) -> None:
        """Potentials the analyser just decided, as (input sample index, kind): in click
        mode each gets a tick in the next chunk, or on the potential itself if it has not
        been heard yet."""
        self._pending_ticks.extend(decided)

    @staticmethod
    def _check_mode(mode: str) -> str:
        if mode not in MODE_MIX:
            raise ValueError(f"unknown audio mode {mode!r}; choose from {', '.join(MODES)}")
        return mode

    def _emg_gain(self) -> float:
        return 1.0 / (self.sensitivity_uv * FULL_SCALE_DIVS)

    @property
    def delay_s(self) -> float:
        """The delay this renderer aims at: the ring's target fill and the resampler's
        look-ahead (the sound card's own output latency comes on top)."""
        return self.control.target_s + self.resampler.delay_in / self.fs_in

    # -- the work ---------------------------------------------------------------------
    def render(self, x_uv: np.ndarray, *, fill: int, slack: int, starved: bool,
               gap: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """One chunk of filtered EMG (1-D, uV) -> (output samples, float32; the input index
        each output stands for, NaN for inserted silence). `fill` is what the ring held just
        before this chunk, `slack` the least the callback left since the last chunk, and
        `starved` whether it ran dry meanwhile."""
        x = np.nan_to_num(np.asarray(x_uv, np.float64).ravel(), nan=0.0, posinf=0.0,
                          neginf=0.0)
        self._idle = False
        dt = len(x) / self.fs_in
        if gap and self.control.target_s:
            self.control.restart()
        else:
            self.control.update(fill / self.fs_out, dt, slack / self.fs_out, starved)
        if gap:
            self.skip(0)
            self._in.restart(0.0)  # the EMG fades in again after a gap
        y, pos = self.resampler.process_with_positions(x, self.control.scale())
        pos += self._base
        out = self._mix(y, pos)
        if starved or fill == 0:
            prime = max(int(self.control.target_s * self.fs_out) - fill, 0)
            if prime:
                self.primed += prime
                out = np.concatenate((np.zeros(prime), out))
                pos = np.concatenate((np.full(prime, np.nan), pos))
        return soft_limit(out).astype(np.float32), pos

    def skip(self, n: int) -> None:
        """The resampler starts afresh, `n` input samples on (samples that went by
        unrendered, as before the sound started): positions, and the ticks placed by them,
        count them."""
        self._base += self.resampler.consumed + int(n)
        self.resampler.reset()

    def render_idle(self, n: int) -> np.ndarray:
        """`n` output samples while no EMG comes (the amplifier paused or is gone): silence,
        with any alert or tick still sounding, and the pitch tone fading out (a tone with no
        signal behind it would mislead). The EMG fades in again when it returns."""
        self._idle = True
        out = self._mix(np.zeros(n), np.full(n, np.nan))
        self._in.restart(0.0)
        return soft_limit(out).astype(np.float32)

    def _mix(self, y: np.ndarray, pos: np.ndarray) -> np.ndarray:
        n = len(y)
        self._follow_settings()
        level = self._level.values(n)
        out = y * self._emg.values(n) * self._raw.values(n) * self._in.values(n)
        if self.squelch_uv > 0:
            gate = self._squelch(y)
            out *= gate
        else:
            gate = 1.0
        self._track_activity(y)
        tone_gain = self._tone_gain.values(n)
        if np.any(tone_gain):
            out += self._tone.render(n, self._pitch()) * tone_gain * TONE_LEVEL * gate
        else:
            self._tone.hz = 0.0
        self._start_ticks(pos)
        while self._alerts:
            name = self._alerts.pop(0)
            self.alerts_sounded.append(name)
            self._sounds.append([alert(name, self.fs_out), 0, False])
        out += self._play_sounds(n, self._ticks.values(n))
        return out * level

    def _follow_settings(self) -> None:
        self._emg.set(self._emg_gain())
        self._level.set(volume_gain(self.volume))
        raw, ticks, tone = MODE_MIX[self.mode]
        self._raw.set(raw)
        self._ticks.set(ticks)
        self._tone_gain.set(0.0 if self._idle else tone)
        self._in.set(1.0)

    def _start_ticks(self, pos: np.ndarray) -> None:
        decided, self._pending_ticks = self._pending_ticks, []
        if self._ticks.target == 0 and self._ticks.value == 0:
            return
        for index, kind in decided:
            at = int(np.searchsorted(pos, index)) if len(pos) else 0
            if at < len(pos):
                self.tick_lateness_s.append(max(pos[at] - index, 0.0) / self.fs_in)
            self._sounds.append([tick(kind, self.fs_out), -min(at, len(pos)), True])

    def _play_sounds(self, n: int, tick_gain) -> np.ndarray:
        """Ticks (through the tick gain) and alerts (always), each from where it left off.
        A sound's offset is negative while it waits for its place in this chunk."""
        mix = np.zeros(n)
        ticks = np.zeros(n)
        keep = []
        for sound in self._sounds:
            samples, offset, is_tick = sound
            lead = max(-offset, 0)
            part = samples[max(offset, 0):max(offset, 0) + n - lead]
            (ticks if is_tick else mix)[lead:lead + len(part)] += part
            sound[1] = max(offset, 0) + len(part)
            if sound[1] < len(samples):
                keep.append(sound)
        self._sounds = keep
        return mix + ticks * tick_gain

    def _squelch(self, y: np.ndarray) -> np.ndarray:
        """A gate on the EMG's envelope (instant attack, SQUELCH_RELEASE_S decay): shut
        below half the squelch level, open from the level up."""
        log_decay = -1.0 / (SQUELCH_RELEASE_S * self.fs_out)
        k = np.arange(len(y))
        terms = np.log(np.abs(y) + 1e-12) - k * log_decay
        start = math.log(self._env_uv + 1e-12) + log_decay
        env = np.exp(k * log_decay + np.maximum(np.maximum.accumulate(terms), start))
        if len(env):
            self._env_uv = float(env[-1])
        return np.clip((env / self.squelch_uv - 0.5) / 0.5, 0.0, 1.0)

    def _track_activity(self, y: np.ndarray) -> None:
        if len(y):
            a = min(len(y) / (ACTIVITY_S * self.fs_out), 1.0)
            self._mean_square += a * (float(np.mean(y * y)) - self._mean_square)

    def _pitch(self) -> float:
        divs = math.sqrt(self._mean_square) / self.sensitivity_uv
        lo, hi = PITCH_DIVS
        u = math.log(max(divs, 1e-9) / lo) / math.log(hi / lo)
        u = min(max(u, 0.0), 1.0)
        return PITCH_HZ[0] * (PITCH_HZ[1] / PITCH_HZ[0]) ** u
