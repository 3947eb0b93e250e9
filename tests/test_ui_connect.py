"""The live device's connection (app/ui/connect.py, no Kivy) on real devices: the SpikerBox
emulator and the simulator. An amplifier that is not there is waited for and taken when it
comes; one that stops is let go and tried again; nothing else is opened in its place."""

from __future__ import annotations

import queue

from app.session.open import open_session
from app.ui.connect import (
    DISCONNECTED,
    LIVE,
    NOT_CONNECTED,
    Connection,
    isolation_note,
    source_label,
)
from devices import describe


class Loop:
    """The main thread's part: what the worker posts, and the timers, run when pumped."""

    def __init__(self):
        self.posted: queue.Queue = queue.Queue()
        self.timers: list = []
        self.changes: list = []  # the `old` of each on_change
        self.chosen: list[str] = []

    def connection(self) -> Connection:
        return Connection(lambda uri: open_session(uri, sound=False), self.posted.put,
                          lambda s, fn: self.timers.append((s, fn)), self.changes.append,
                          self.chosen.append)

    def pump(self, done, timeout: float = 15.0) -> None:
        while not done():
            self.posted.get(timeout=timeout)()

    def fire_timers(self) -> None:
        timers, self.timers = self.timers, []
        for _s, fn in timers:
            fn()


def test_an_absent_amplifier_is_waited_for_then_opened_and_remembered(tmp_path,
                                                                       monkeypatch):
    from devices.spikerbox.emulator import Emulator

    monkeypatch.setenv("NEEDLEPOINT_HOME", str(tmp_path))
    link = tmp_path / "box"
    uri = f"spikerbox:{link}"
    loop = Loop()
    conn = loop.connection()
    conn.start(uri, chosen=True)  # named on the command line
    loop.pump(lambda: conn.trying is None)
    assert conn.state == NOT_CONNECTED and conn.session is None and conn.uri == uri
    assert "does not exist" in conn.reason and conn.failures == 1
    assert [s for s, _ in loop.timers] == [conn.retry_s] and loop.chosen == []
    loop.fire_timers()  # still absent: tried again, and again later
    loop.pump(lambda: conn.trying is None)
    assert conn.state == NOT_CONNECTED and conn.failures == 2 and len(loop.timers) == 1
    with Emulator("MUSCLESS", seed=1, link=str(link)):
        loop.fire_timers()
        loop.pump(lambda: conn.trying is None)
        try:
            assert conn.state == LIVE and conn.session.info.uri == uri
            assert loop.chosen == [uri] and loop.timers == []  # remembered; no more tries
        finally:
            conn.session.close()


def test_a_device_that_stops_is_let_go_and_tried_again(tmp_path, monkeypatch):
    monkeypatch.setenv("NEEDLEPOINT_HOME", str(tmp_path))
    loop = Loop()
    conn = loop.connection()
    conn.start("sim:rest?seed=1", chosen=False)  # the remembered one: never re-remembered
    loop.pump(lambda: conn.trying is None)
    first = conn.session
    assert conn.state == LIVE and first is not None and loop.chosen == []
    # The reader's own way of saying the device failed (status "error", the reason kept;
    # set here on a session not started, so no reader races it).
    first.last_error, first.status = "the cable came out", "error"
    conn.check()
    assert conn.state == DISCONNECTED and conn.session is None
    assert conn.reason == "the cable came out" and loop.changes[-1] is first
    first.close()
    loop.fire_timers()
    loop.pump(lambda: conn.trying is None)
    try:
        assert conn.state == LIVE and conn.session is not first
        assert conn.session.info.uri == "sim:rest?seed=1" and loop.chosen == []
    finally:
        conn.session.close()


def test_a_pick_that_fails_while_live_changes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("NEEDLEPOINT_HOME", str(tmp_path))
    loop = Loop()
    conn = loop.connection()
    conn.start("sim:rest?seed=1", chosen=False)
    loop.pump(lambda: conn.trying is None)
    live = conn.session
    try:
        conn.pick("spikerbox:/dev/null")
        loop.pump(lambda: conn.trying is None)
        assert conn.state == LIVE and conn.session is live and conn.uri == "sim:rest?seed=1"
        assert conn.message.startswith("spikerbox:/dev/null did not open: ")
        assert conn.message.endswith("Still on sim:rest?seed=1.") and loop.chosen == []
        assert loop.timers == []  # a failed pick is not tried again behind the user's back
    finally:
        live.close()


def test_the_words_for_a_device():
    assert source_label(describe("sim:denervated")) == "SIMULATED - not a patient"
    replay = describe("file:/work/shared/data/physionet-emgdb/emg_healthy.hea")
    assert source_label(replay) == "REPLAY: emg_healthy.hea"
    board = describe("spikerbox:/dev/null")
    assert source_label(board) == ""
    assert isolation_note(board).startswith("NOT isolated for patient connection")
    assert isolation_note(board).endswith("uncalibrated: shown in counts")
    assert isolation_note(describe("sim:rest")) == "no electrode: simulated, not a patient"
