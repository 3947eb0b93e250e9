"""The live signal chain in one object: the filters, then the analyser on channel 0 (given
the raw chunk too, for the clipping and contact checks). The reader thread, `analyze` and
the benchmark all run this, so they cannot drift apart."""

from __future__ import annotations

import numpy as np

from dsp.analyzer import Analyzer
from dsp.filters import FilterChain
from dsp.results import Event


class SignalChain:
    def __init__(self, fs: float, *, mains_hz: float | None = None,
                 highpass_hz: float = 10.0, lowpass_hz: float | None = None,
                 step_uv: float | None = None):
        self.filters = FilterChain(fs, highpass_hz=highpass_hz, lowpass_hz=lowpass_hz,
                                   mains_hz=mains_hz)
        self.analyzer = Analyzer(fs, mains_hz=mains_hz, step_uv=step_uv)

    def process(self, raw: np.ndarray) -> tuple[np.ndarray, list[Event]]:
        """(the filtered chunk, same shape as `raw`; the potentials decided meanwhile).
        `raw` is (frames,) or (frames, channels) in microvolts."""
        filtered = self.filters.process(raw)
        return filtered, self.analyze(filtered, raw)

    def analyze(self, filtered: np.ndarray, raw: np.ndarray) -> list[Event]:
        """The analyser's part alone, for callers that use the filtered chunk first (the
        audio path, which must not wait for the analyser)."""
        first = (lambda a: a) if raw.ndim == 1 else (lambda a: a[:, 0])
        return self.analyzer.process(first(filtered), raw=first(raw))
