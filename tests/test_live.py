"""The live session: reader thread, ring, gaps, and the analyser fed chunk by chunk."""

from __future__ import annotations

import time

import numpy as np

from app.session.live import LiveSession, Ring
from app.session.open import open_session
from devices import make_device


def test_ring_keeps_the_newest_frames_in_order():
    ring = Ring(10, 1)
    data = np.arange(25, dtype=np.float32)[:, None]
    ring.write(data[:7])
    ring.write(data[7:23])  # longer than the ring: only its tail stays
    ring.write(data[23:])
    last, first = ring.last(10)
    assert first == 15 and np.array_equal(last[:, 0], np.arange(15, 25))


def test_session_filters_analyses_and_measures_a_paced_device():
    """On its own reader thread. The wait is for what the test needs to see (the deadline
    only keeps a broken session from hanging the run), never for an amount of time."""
    session = LiveSession(make_device("sim:denervated?grade=3&seed=1020")).start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (
                len(session.events) >= 5 and "nearest_unit" in session.snapshot().measures):
            time.sleep(0.05)
    finally:
        session.stop()
    snap = session.snapshot()
    assert snap.counters.gaps == 0 and snap.counters.frames > 0
    assert len(session.events) >= 5
    assert {"rms_uv", "turns_per_s", "rates_per_s", "nearest_unit"} <= set(snap.measures)
    assert not session._thread.is_alive()


def test_a_marked_injection_keeps_the_exact_emg_around_the_press():
    """Pressed 1.5 s into a session (less than 5 s before exist), the mark completes 2 s
    later with every frame from the start to 2 s after the press: the filtered frames as
    drawn, and the amplifier's own, both exactly as an offline run gives them. Device time
    is stepped by hand, so the machine's speed cannot move the press."""
    from devices.simulator import render
    from dsp.filters import FilterChain

    uri = "sim:denervated?seed=5"
    session = open_session(uri, sound=False, paced=False)
    device = session.device
    device.start()
    fs = session.info.fs
    try:
        while session.display.written < 1.5 * fs:
            session.feed(device.read(1.0))
        mark = session.mark_injection()
        assert not mark.complete
        while session.display.written <= mark.ring_index + 2 * fs:
            assert not mark.complete
            session.feed(device.read(1.0))
    finally:
        session.close()
    assert mark.complete and session.take_marks() == [mark]
    assert mark.first_device_index == 0 and mark.press_offset == mark.ring_index
    assert len(mark.samples) == mark.press_offset + 2 * fs + 1
    assert mark.first_device_index == mark.device_index - mark.press_offset
    x, _ = render(uri, (mark.first_device_index + len(mark.samples)) / fs + 0.1)
    first, n = mark.first_device_index, len(mark.samples)
    assert np.array_equal(mark.raw[:, 0], x[first:first + n].astype(np.float32))
    filtered = FilterChain(fs).process(x.astype(np.float32))
    assert np.array_equal(mark.samples[:, 0], filtered[first:first + n])
    assert "rms_uv" in mark.findings

