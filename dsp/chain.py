"""The live signal chain in one object: the filters, then the analyser on channel 0 (given
the raw chunk too, for the clipping and contact checks). The reader thread, `analyze` and
the benchmark all run this, so they cannot drift apart."""

from __future__ import annotations

import numpy as np

from dsp.analysis.analyser import LOOKAHEAD_S, Analyser
from dsp.analysis.results import Analysis, Event
from dsp.filters import FilterChain

# The lowest sample rate the chain is built for. The analyser's bands are capped at 0.45 fs:
# its detection band (to 1.5 kHz) needs more than 3.3 kHz to stand whole, and its shape
# branch, where phases and turns are read, reaches 2.5 kHz at 5.6 kHz and 2.25 kHz at 5 kHz,
# still enough for the 1-5 ms phases of spontaneous potentials. Below 5 kHz potentials are
# read blunted. The accuracy of docs/analyser.md is measured at 10 and 20 kHz only.
MIN_FS = 5000.0


class SignalChain:
    def __init__(self, fs: float, *, mains_hz: float | None = None,
                 highpass_hz: float = 10.0, lowpass_hz: float | None = None,
                 step_uv: float | None = None):
        self.filters = FilterChain(fs, highpass_hz=highpass_hz, lowpass_hz=lowpass_hz,
                                   mains_hz=mains_hz)
        self.analyser = Analyser(fs, mains_hz=mains_hz, step_uv=step_uv)

    def process(self, raw: np.ndarray) -> tuple[np.ndarray, list[Event]]:
        """(the filtered chunk, same shape as `raw`; the potentials decided meanwhile).
        `raw` is (frames,) or (frames, channels) in microvolts."""
        filtered = self.filters.process(raw)
        return filtered, self.analyze(filtered, raw)

    def analyze(self, filtered: np.ndarray, raw: np.ndarray) -> list[Event]:
        """The analyser's part alone, for callers that use the filtered chunk first (the
        audio path, which must not wait for the analyser)."""
        first = (lambda a: a) if raw.ndim == 1 else (lambda a: a[:, 0])
        return self.analyser.process(first(filtered), raw=first(raw))


def analyze(samples_uv: np.ndarray, fs: float, *, source: str = "", channel: int = 0,
            mains_hz: float | None = None, chunk_s: float = 1.0,
            step_uv: float | None = None) -> Analysis:
    """Offline analysis of one channel: the filters and the analyser of the live path, fed
    in chunks of `chunk_s`. `step_uv`: the recording's resolution, where known."""
    raw = np.asarray(samples_uv, np.float64).reshape(-1)
    chain = SignalChain(fs, mains_hz=mains_hz, step_uv=step_uv)
    an = chain.analyser
    step = max(int(chunk_s * fs), 1)
    for i in range(0, raw.size, step):
        chain.process(raw[i:i + step])
    # Flush the look-ahead: a recording's end is silence, not more signal.
    chain.process(np.zeros(int((LOOKAHEAD_S + 0.01) * fs) + an.detector.dominance))
    duration = raw.size / fs
    events = [e for e in an.events if e.t < duration]
    return Analysis(source=source, fs=float(fs), duration_s=duration, channel=channel,
                    events=events, trains=an.train_list(),
                    segments=[s for s in an.segments(duration) if s.start < duration],
                    summary=an.measurer.summary(an, duration, events))
