"""Task presets: what the screen and the speaker start from for each clinical job. The live
screen (sweep, meters) and the audio path (sensitivity, mode) both read them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    sensitivity_uv: float  # per division: also sets the loudness, as on EMG machines
    sweep_ms: float  # per division
    audio_mode: str
    why: str


PRESETS = {
    p.name: p for p in (
        Preset("botulinum", "Botulinum", 200.0, 10.0, "raw",
               "crisp motor units on activation confirm the target muscle"),
        Preset("trigger_point", "Trigger point", 50.0, 10.0, "pitch",
               "end-plate noise and spikes mark the active locus; the tone rises near it"),
        Preset("spontaneous", "Spontaneous activity", 50.0, 10.0, "raw",
               "fibrillations and positive sharp waves at rest"),
    )
}
DEFAULT_PRESET = "spontaneous"


def preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"no preset {name!r}; choose from {', '.join(PRESETS)}") from None
