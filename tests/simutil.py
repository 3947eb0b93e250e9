"""Helpers for tests that run the simulator as fast as it goes."""

from __future__ import annotations

from devices.simulator import render as simulate  # (samples of channel 0, ground truth)


def events(truth, kind: str) -> list[dict]:
    return [e for e in truth.events if e["kind"] == kind]


def covered(truth, kind: str) -> float:
    return sum(s["end"] - s["start"] for s in truth.segments if s["kind"] == kind)


__all__ = ["covered", "events", "simulate"]
