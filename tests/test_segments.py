"""Segment detectors driven directly, event by event: what a needle move and a twitch are."""

from __future__ import annotations

from dsp.segments import NeedleBurst


def _move(b: NeedleBurst, t: float) -> None:
    """A large slow deflection at t after 2 s of quiet slow-wave level."""
    for k in range(200):
        b.slow(t - 2.0 + k * 0.01, 5.0, 20.0)
    b.slow(t, 400.0, 500.0)


def test_a_needle_move_with_its_burst_then_a_large_unit_is_a_twitch():
    b = NeedleBurst()
    _move(b, 10.0)
    for k in range(12):  # insertional spikes at 200/s for 60 ms
        b.potential(10.0 + 0.005 * k, 150.0, False)
    b.update(10.2)
    assert [s.kind for s in b.insertion.all(10.2)] == ["insertional_activity"]
    assert b.potential(10.25, 900.0, True)  # absorbed into the twitch
    assert b.twitch.active


def test_a_slow_deflection_without_a_burst_is_not_a_move_for_twitches():
    """A voluntary contraction starts with a movement artefact and large motor units, but
    no burst of insertional spikes: those units are not a local twitch response."""
    b = NeedleBurst()
    _move(b, 10.0)
    b.update(10.2)  # the "burst" died at once
    assert not b.potential(10.25, 900.0, True)
    assert not b.twitch.active
    assert not b.twitch.all(10.3)
