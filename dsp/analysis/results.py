"""What the analyser reports, live and offline: the shapes of DESIGN.md's `analyze --json`."""

from __future__ import annotations

from dataclasses import dataclass, field

EVENT_KINDS = ("fibrillation", "positive_sharp_wave", "end_plate_spike", "fasciculation",
               "muap", "myotonic_discharge", "unclassified")
SEGMENT_KINDS = ("end_plate_noise", "insertional_activity", "local_twitch_response",
                 "tonic_activity", "lead_off")


@dataclass
class Event:
    """One potential. `t` is the time in seconds of its largest absolute peak."""

    t: float
    kind: str
    amplitude_uv: float  # peak to peak
    duration_ms: float
    train: int | None = None
    rise_us: float | None = None  # main negative spike's rise, for motor units
    initial: str = ""  # "positive" or "negative": the first phase
    decided_at: float = 0.0  # when the analyser committed to it (live: for the click delay)
    rule: str = ""  # the id of the classifier's rule that named it (dsp.analysis.classify)

    def as_json(self) -> dict:
        d = {"t": round(self.t, 5), "kind": self.kind,
             "amplitude_uv": round(self.amplitude_uv, 1),
             "duration_ms": round(self.duration_ms, 2), "train": self.train}
        if self.rise_us is not None:
            d["rise_us"] = round(self.rise_us)
        if self.rule:
            d["rule"] = self.rule
        return d


@dataclass
class Train:
    id: int
    kind: str
    rate_hz: float
    cv: float
    count: int

    def as_json(self) -> dict:
        return {"id": self.id, "kind": self.kind, "rate_hz": round(self.rate_hz, 2),
                "cv": round(self.cv, 3), "count": self.count}


@dataclass
class Segment:
    start: float
    end: float
    kind: str

    def as_json(self) -> dict:
        return {"start": round(self.start, 3), "end": round(self.end, 3), "kind": self.kind}


@dataclass
class Analysis:
    """The whole result of an offline analysis (the JSON of `needlepoint analyze`)."""

    source: str
    fs: float
    duration_s: float
    channel: int = 0
    events: list[Event] = field(default_factory=list)
    trains: list[Train] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    summary: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        return {
            "source": self.source, "fs": self.fs, "duration_s": round(self.duration_s, 3),
            "channel": self.channel,
            "events": [e.as_json() for e in self.events],
            "trains": [t.as_json() for t in self.trains],
            "segments": [s.as_json() for s in self.segments],
            "summary": self.summary,
        }


__all__ = ["EVENT_KINDS", "SEGMENT_KINDS", "Analysis", "Event", "Segment", "Train"]
