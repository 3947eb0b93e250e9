"""The sounds the audio path adds to the EMG: ticks for detected potentials, alert chimes,
the pitch mode's tone, and the soft limiter that keeps all of it below full scale.

EMG sounds like noise: crackle (fibrillations), thumps (motor units), hiss (end-plate
noise). So whatever the app adds is tonal: a tick is a few cycles of a pure tone, an alert
is a two-note chime of sine partials with a bell-like decay, held far longer than any
potential. Nobody mistakes either for a potential.
"""

from __future__ import annotations

import numpy as np

KNEE = 0.8  # the limiter leaves everything below this fraction of full scale untouched
CEILING = 0.98  # and approaches this, never full scale

# Tick pitch per kind, so an ear can tell them apart: higher for the small, fast ones.
TICK_HZ = {
    "fibrillation": 4000.0,
    "end_plate_spike": 3200.0,
    "positive_sharp_wave": 2400.0,
    "fasciculation": 1200.0,
    "muap": 1600.0,
    "myotonic_discharge": 2800.0,
}
TICK_CYCLES = 3
TICK_LEVEL = 0.25  # of full scale, before the volume

# Alerts: (notes in Hz, seconds per note). Rising = done, falling = lost, repeated = warn.
ALERTS = {
    "mark": ((880.0, 1318.5), 0.09),  # an injection was marked
    "lost": ((987.8, 659.3), 0.14),  # the amplifier's signal is gone
    "warning": ((1046.5, 1046.5, 1046.5), 0.07),  # a dose rule needs attention
}
ALERT_LEVEL = 0.3


def soft_limit(y: np.ndarray, knee: float = KNEE, ceiling: float = CEILING) -> np.ndarray:
    """In place: identity up to `knee`, then a tanh curve with slope 1 at the knee that
    approaches `ceiling`. Loud potentials stay loud; nothing reaches full scale."""
    a = np.abs(y)
    over = a > knee
    if over.any():
        room = ceiling - knee
        y[over] = np.sign(y[over]) * (knee + room * np.tanh((a[over] - knee) / room))
    return y


def tick(kind: str, fs: float) -> np.ndarray:
    """A Hann-windowed burst of a few cycles: a crisp tick, not a potential."""
    hz = TICK_HZ.get(kind, 2000.0)
    n = max(int(round(TICK_CYCLES / hz * fs)), 4)
    t = np.arange(n) / fs
    return (TICK_LEVEL * np.hanning(n) * np.sin(2 * np.pi * hz * t)).astype(np.float64)


def alert(name: str, fs: float) -> np.ndarray:
    """A chime: each note a sine with its octave, a 5 ms attack and an exponential decay."""
    try:
        notes, note_s = ALERTS[name]
    except KeyError:
        raise ValueError(f"no alert sound {name!r}; choose from {', '.join(ALERTS)}") from None
    n = int(round(note_s * fs))
    t = np.arange(n) / fs
    attack = np.minimum(t / 0.005, 1.0)
    env = attack * np.exp(-t / (note_s / 3))
    env[-int(0.005 * fs):] *= np.linspace(1, 0, int(0.005 * fs))  # end at zero, no click
    parts = [env * (np.sin(2 * np.pi * f * t) + 0.3 * np.sin(4 * np.pi * f * t)) / 1.3
             for f in notes]
    return ALERT_LEVEL * np.concatenate(parts)


class Tone:
    """A phase-continuous sine whose frequency glides from chunk to chunk."""

    def __init__(self, fs: float):
        self.fs = fs
        self.hz = 0.0
        self._phase = 0.0

    def render(self, n: int, hz: float) -> np.ndarray:
        start = self.hz or hz
        freqs = np.linspace(start, hz, n, endpoint=False) if n else np.zeros(0)
        phase = self._phase + 2 * np.pi * np.cumsum(freqs) / self.fs
        if n:
            self._phase = float(phase[-1] % (2 * np.pi))
        self.hz = hz
        # Two partials: a soft, reedy tone that is easy to follow as it moves.
        return (np.sin(phase) + 0.25 * np.sin(2 * phase)) / 1.25
