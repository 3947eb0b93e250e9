"""The session's public face (app.session): `open_session` wires a device URI, `feed` steps
it by hand, `snapshot` and `display` are what the screen reads, `take_marks` hands over
every completed mark. Device time here is stepped by the test, never the wall clock."""

from __future__ import annotations

import numpy as np
import pytest

from app.session import LiveSession, Mark, Snapshot, open_session
from devices import DeviceError
from devices.base import State

URI = "sim:denervated?seed=7&grade=3"


def _step(session: LiveSession, frames: int) -> None:
    """Feed the session from its own device until `frames` more have gone in."""
    device = session.device
    if device.state is State.OPEN:
        device.start()
    target = session.snapshot().counters.frames + frames
    while session.snapshot().counters.frames < target:
        chunk = device.read(1.0)
        assert chunk is not None
        session.feed(chunk)


def test_open_session_wires_the_device_and_the_sound_at_its_rate():
    session = open_session("sim:rest?fs=10000", paced=False, volume=0.3, mode="pitch",
                           sensitivity_uv=200.0, blocksize=256)
    try:
        assert session.device.state is State.OPEN  # opened: hardware says its rate then
        audio = session.audio
        assert audio.fs_in == 10000.0 and audio.blocksize == 256 and audio.fs_out == 48000.0
        assert (audio.mode, audio.volume, audio.sensitivity_uv) == ("pitch", 0.3, 200.0)
        audio.set_mode("click")
        audio.set_volume(0.5)
        audio.set_sensitivity(100.0)
        assert (audio.mode, audio.volume, audio.sensitivity_uv) == ("click", 0.5, 100.0)
        with pytest.raises(ValueError):
            audio.set_volume(2.0)
        assert audio.volume == 0.5
    finally:
        session.close()
    assert session.device.state is State.CLOSED
    quiet = open_session("sim:rest", sound=False)
    assert quiet.audio is None
    quiet.close()


def test_open_session_refuses_absurd_sound_and_lets_go_of_the_device(monkeypatch):
    import app.session.open as opener

    made = []
    real = opener.make_device
    monkeypatch.setattr(opener, "make_device",
                        lambda uri, paced: made.append(real(uri, paced=paced)) or made[-1])
    with pytest.raises(ValueError, match="volume"):
        open_session("sim:rest", volume=5.0)
    assert made[0].state is State.CLOSED
    with pytest.raises(DeviceError):
        open_session("nosuch:thing")


def test_feed_steps_the_session_by_hand_and_the_snapshot_is_a_copy():
    session = open_session(URI, sound=False, paced=False)
    try:
        fs = session.info.fs
        before = session.snapshot()
        assert isinstance(before, Snapshot) and before.counters.frames == 0
        assert before.signal_age == float("inf") and dict(before.measures) == {}
        _step(session, int(2 * fs))
        snap = session.snapshot()
        assert snap.counters.frames >= 2 * fs and snap.counters.gaps == 0
        assert snap.status == "streaming" and snap.last_error is None
        assert session.display.written == snap.counters.frames
        assert {"rms_uv", "turns_per_s"} <= set(snap.measures)
        with pytest.raises(TypeError):
            snap.measures["rms_uv"] = 0.0  # read-only
        snap.counters.frames = -1  # a copy: the session's own count is untouched
        assert session.snapshot().counters.frames >= 2 * fs
        with pytest.raises(AttributeError):
            snap.status = "error"  # frozen
        data, first = session.display.last(int(fs))
        assert data.shape == (int(fs), 1) and first == session.display.written - int(fs)
    finally:
        session.close()


def test_150_marks_in_one_run_are_all_handed_over():
    """More marks than any bound the session once had (100): every one completes and is
    handed over exactly once, oldest first, drained now and then as a screen would."""
    session = open_session("sim:denervated?seed=7&grade=3&fs=10000", sound=False,
                           paced=False)
    try:
        fs = session.info.fs
        chunk = 50  # 5 ms at 10 kHz
        _step(session, int(0.5 * fs))
        pressed: list[Mark] = []
        taken: list[Mark] = []
        for i in range(150):
            pressed.append(session.mark_injection())
            _step(session, 2 * chunk)
            if i % 7 == 0:  # the screen drains between presses too
                taken += session.take_marks()
        _step(session, int(2 * fs) + chunk)  # the 2 s after the last press
        taken += session.take_marks()
        assert session.take_marks() == []  # each handed out once
    finally:
        session.close()
    assert len(taken) == 150
    assert [id(m) for m in taken] == [id(m) for m in pressed]  # all of them, in order
    assert all(m.complete for m in taken)
    assert len({m.device_index for m in taken}) == 150
    for m in taken:
        assert len(m.samples) == m.press_offset + 2 * fs + 1
        assert m.first_device_index == m.device_index - m.press_offset
        assert m.raw.shape == m.samples.shape and m.samples.dtype == np.float32


def test_a_session_never_started_stops_and_closes_cleanly():
    session = open_session("sim:rest", sound=False)
    session.stop()
    session.close()
    session.close()
    assert session.device.state is State.CLOSED
