"""The live session: reader thread, ring, gaps, and the analyser fed chunk by chunk."""

from __future__ import annotations

import time

import numpy as np

from app.session.live import LiveSession, Ring
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
    session = LiveSession(make_device("sim:denervated?grade=3&seed=1020")).start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(session.events) < 5:
            time.sleep(0.05)
    finally:
        session.stop()
    assert session.counters.gaps == 0 and session.counters.frames > 0
    assert len(session.events) >= 5
    assert {"rms_uv", "turns_per_s", "rates_per_s", "nearest_unit"} <= set(session.measures)
    assert not session._thread.is_alive()


def test_a_marked_injection_keeps_the_exact_emg_around_the_press():
    """Pressed 1.5 s into a session (less than 5 s before exist), the mark completes 2 s
    later with every frame from the start to 2 s after the press: the filtered frames as
    drawn, and the amplifier's own, both exactly as an offline run gives them."""
    from devices.simulator import render
    from dsp.filters import FilterChain

    uri = "sim:denervated?seed=5"
    session = LiveSession(make_device(uri)).start()
    try:
        time.sleep(1.5)
        mark = session.mark_injection()
        deadline = time.monotonic() + 5
        while not mark.complete and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        session.stop()
    assert mark.complete and list(session.marks) == [mark]
    fs = mark.fs
    assert len(mark.samples) == mark.press_offset + 2 * fs + 1
    assert mark.first_device_index == mark.device_index - mark.press_offset
    x, _ = render(uri, (mark.first_device_index + len(mark.samples)) / fs + 0.1)
    first, n = mark.first_device_index, len(mark.samples)
    assert np.array_equal(mark.raw[:, 0], x[first:first + n].astype(np.float32))
    filtered = FilterChain(fs).process(x.astype(np.float32))
    assert np.array_equal(mark.samples[:, 0], filtered[first:first + n])
    assert "rms_uv" in mark.findings

