"""The live session: reader thread, ring, gaps, and the analyser fed chunk by chunk."""

from __future__ import annotations

import time

import numpy as np

from app.live import LiveSession, Ring
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
