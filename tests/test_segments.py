"""Segment detectors driven directly, event by event: what a needle move and a twitch are."""

from __future__ import annotations

import pytest

from dsp.analysis.segments import NeedleBurst
from dsp.chain import analyze
from tests.simutil import simulate


def _quiet(b: NeedleBurst, t0: float, t1: float) -> None:
    for k in range(int(round((t1 - t0) / 0.01))):
        b.slow(t0 + k * 0.01, 5.0, 20.0)


def _burst(b: NeedleBurst, t: float) -> None:
    for k in range(12):  # insertional spikes at 200/s for 60 ms
        b.potential(t + 0.005 * k, 150.0, False)


def _move(b: NeedleBurst, t: float, excursion_uv: float = 400.0, peak_uv: float = 500.0,
          quiet_s: float = 2.0) -> None:
    """A slow deflection at t (by default a large one) after `quiet_s` of quiet slow-wave
    level."""
    _quiet(b, t - quiet_s, t)
    b.slow(t, excursion_uv, peak_uv)


def test_a_needle_move_with_its_burst_then_a_large_unit_is_a_twitch():
    b = NeedleBurst()
    _move(b, 10.0)
    _burst(b, 10.0)
    b.update(10.2)
    assert [s.kind for s in b.insertion.all(10.2)] == ["insertional_activity"]
    assert b.potential(10.25, 900.0, True)  # absorbed into the twitch
    assert b.potential(10.28, 1200.0, True)
    assert b.twitch.active and b.twitch.start == 10.245


def test_a_slow_deflection_without_a_burst_is_not_a_move_for_twitches():
    """A voluntary contraction starts with a movement artefact and large motor units, but
    no burst of insertional spikes: those units are not a local twitch response."""
    b = NeedleBurst()
    _move(b, 10.0)
    b.update(10.2)  # the "burst" died at once
    assert not b.potential(10.25, 900.0, True)
    assert not b.potential(10.28, 900.0, True)
    assert not b.twitch.active
    assert not b.twitch.all(10.3)


def test_a_small_artefact_under_the_spikes_riding_on_it_is_a_move():
    """A narrow artefact of a few hundred microvolts keeps 70 uV below 25 Hz, and the
    injury spikes on it make the block three times that: still a move, and the large
    units after it a twitch."""
    b = NeedleBurst()
    _move(b, 10.0, 70.0, 250.0)
    _burst(b, 10.0)
    b.update(10.2)
    assert [s.kind for s in b.insertion.all(10.2)] == ["insertional_activity"]
    assert b.potential(10.25, 900.0, True)
    assert b.potential(10.28, 900.0, True)
    assert b.twitch.active


def test_one_large_discharge_after_a_move_is_not_a_twitch():
    """Two injury spikes on top of each other make one large potential; a twitch is a
    burst of discharges (the second one confirms it, from the first)."""
    b = NeedleBurst()
    _move(b, 10.0)
    _burst(b, 10.0)
    assert b.potential(10.15, 1000.0, True)  # part of the needle's response either way
    b.update(10.4)
    assert not b.twitch.all(10.4)
    assert b.potential(10.42, 900.0, True)
    assert b.potential(10.45, 900.0, True)
    assert [(s.start, s.kind) for s in b.twitch.all(10.5)] == [(10.415, "local_twitch_response")]


def test_a_large_motor_unit_alone_is_not_a_move():
    """A 3 mV motor unit potential's low frequencies reach about a tenth of its size."""
    b = NeedleBurst()
    _move(b, 10.0, 350.0, 3000.0)
    b.update(10.2)
    assert not b.insertion.all(10.2)


def test_no_move_while_motor_units_fire():
    """A slow deflection among firing motor units (a contraction moving the needle) is
    neither insertional activity nor the start of a twitch."""
    b = NeedleBurst()
    for k in range(200):
        b.slow(8.0 + k * 0.01, 5.0, 20.0)
        if k % 10 == 0:
            b.potential(8.0 + k * 0.01, 500.0, True)  # a unit at 10 Hz
    b.slow(10.0, 400.0, 500.0)
    _burst(b, 10.0)
    assert not b.potential(10.25, 900.0, True)
    assert not b.insertion.all(10.3) and not b.twitch.all(10.3)


def test_potentials_before_a_move_are_not_its_burst_whatever_the_chunks():
    """Offline, a second of blocks comes before that second's potentials: those before
    the move are still judged as before it (not absorbed, not counted in its burst)."""
    b = NeedleBurst()
    _move(b, 10.0)
    _quiet(b, 10.01, 10.5)
    assert not b.potential(9.6, 150.0, False)
    assert not b.potential(9.9, 150.0, False)
    assert b.potential(10.005, 150.0, False)
    assert b.insertion.all(10.1)[0].start == 10.0


def test_no_move_is_judged_before_a_second_of_signal():
    """At the start of a recording the slow-wave level and what fired are unknown."""
    b = NeedleBurst()
    _move(b, 0.5, quiet_s=0.5)
    b.update(0.7)
    assert not b.insertion.all(0.7)


def test_needle_segments_do_not_depend_on_chunk_size():
    """Offline analysis feeds a second at a time, live 5 ms: the same moves, bursts and
    twitches either way (a burst once ran on to its 1 s limit in 1 s chunks, as nothing
    checked for quiet while the twitch took the potentials), and every twitch found."""
    x, truth = simulate("sim:trigger-point?seed=1016", 20)
    runs = [[(round(s.start, 3), round(s.end, 3), s.kind) for s in analyze(x, truth.fs,
                                                                       chunk_s=c).segments
             if s.kind in ("insertional_activity", "local_twitch_response")]
            for c in (1.0, 0.005)]
    assert runs[0] == runs[1]
    found = [(a, b) for a, b, kind in runs[0] if kind == "local_twitch_response"]
    for s in truth.segments:
        if s["kind"] == "local_twitch_response":
            assert any(a <= s["end"] and s["start"] <= b for a, b in found), s


@pytest.mark.parametrize("t, uv", [(9.99, 400.0), (9.3, 480.0)],
                         ids=["the move's own first discharge", "one large potential"])
def test_one_unit_like_potential_before_a_move_is_not_motor_units_firing(t, uv):
    """Injury discharges start with the move, a little before its deflection shows below
    25 Hz: a large one just before is not a motor unit firing before the move. And spikes
    on top of each other in an end-plate zone can read as one large unit-like potential;
    firing units come again."""
    b = NeedleBurst()
    _quiet(b, 8.0, 10.0)
    assert not b.potential(t, uv, True)
    b.slow(10.0, 400.0, 500.0)
    b.update(10.05)
    assert [s.kind for s in b.insertion.all(10.05)] == ["insertional_activity"]
