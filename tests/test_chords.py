"""Upside Down Labs boards speak Chords, not the SpikerBox protocol: a fake board on a
pseudo-terminal, opened as `spikerbox:<pty>`, is refused with the reason in one line."""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import threading
import time
import tty

import numpy as np
import pytest

from app.commands.cli import main
from devices import DeviceError, describe, discover, make_device
from devices.spikerbox import device as sbdevice
from devices.spikerbox.protocol import encode_chords, encode_frames, find_chords

WORDS = ["Upside Down Labs", "Chords protocol", "cannot show needle EMG", "10 kHz or more",
         "72-720 Hz", "isolated for patient connection"]


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("NEEDLEPOINT_HOME", str(tmp_path / "home"))


class ChordsBoard:
    """Chords firmware on a pty, as their UNO-R4 sketch behaves: a command is what arrives
    until a second passes without a byte (Arduino's readString), `WHORU` is answered with
    the board's name, `START` and `STOP` start and stop 500 Hz packets of 6 channels."""

    def __init__(self, name: str = "UNO-R4", *, streaming: bool = False, fs: float = 500.0):
        self.name, self.fs, self.streaming = name, fs, streaming
        self.heard: list[str] = []
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        flags = fcntl.fcntl(self._master, fcntl.F_GETFL)
        fcntl.fcntl(self._master, fcntl.F_SETFL, flags | os.O_NONBLOCK)
        self.port = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ChordsBoard:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(2.0)
        os.close(self._master)
        os.close(self._slave)

    def _run(self) -> None:
        inbox, last_byte, counter, sent, t0 = b"", None, 0, 0, time.monotonic()
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.01)
            if ready:
                try:
                    inbox += os.read(self._master, 1024)
                    last_byte = time.monotonic()
                except OSError:
                    pass
            if inbox and time.monotonic() - last_byte > 1.0:
                self._command(inbox.decode("ascii", "replace").strip())
                inbox = b""
            if self.streaming:
                due = int((time.monotonic() - t0) * self.fs)
                if due > sent:
                    counts = np.full((due - sent, 6), 512)
                    self._write(encode_chords(counts, counter))
                    counter, sent = (counter + due - sent) % 256, due
            else:
                t0, sent = time.monotonic(), 0

    def _command(self, command: str) -> None:
        self.heard.append(command)
        if command == "WHORU":
            self._write(f"{self.name}\r\n".encode())
        elif command == "START":
            self.streaming = True
        elif command == "STOP":
            self.streaming = False

    def _write(self, data: bytes) -> None:
        # With nobody holding the port the bytes are lost, as on a real link.
        with contextlib.suppress(OSError):
            os.write(self._master, data)


def _refusal(port: str) -> str:
    with pytest.raises(DeviceError) as e:
        make_device(f"spikerbox:{port}").open()
    return str(e.value)


def test_a_silent_chords_board_is_asked_whoru_and_refused_by_name():
    with ChordsBoard("UNO-R4") as board:
        text = _refusal(board.port)
    assert "WHORU" in board.heard
    assert "(UNO-R4)" in text and "at 500 Hz" in text and len(text.splitlines()) == 1
    for w in WORDS:
        assert w in text


def test_a_streaming_chords_board_is_recognised_by_its_packets():
    with ChordsBoard("UNO-R3", streaming=True, fs=250.0) as board:
        text = _refusal(board.port)
    assert "(UNO-R3)" in text and "at 250 Hz" in text
    for w in WORDS:
        assert w in text


def test_record_refuses_a_chords_board_in_one_line(capsys):
    with ChordsBoard("NPG-LITE") as board:
        assert main(["record", "--device", f"spikerbox:{board.port}", "--seconds", "1",
                     "--out", "/tmp/never.edf"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "(NPG-LITE)" in err and "needle EMG" in err


class _ListedPort:
    def __init__(self, device, vid, pid, serial_number):
        self.device, self.vid, self.pid, self.serial_number = device, vid, pid, serial_number


def test_auto_and_the_listing_pass_a_refused_board_by(monkeypatch):
    monkeypatch.setattr(sbdevice, "_refused", {})
    with ChordsBoard("UNO-R3") as board:
        # The OS's USB listing stands in for an Arduino Uno; nothing else is faked. Its USB
        # id is the Muscle SpikerShield's too: only opening it tells them apart.
        uno = _ListedPort(board.port, 0x2341, 0x0043, "CHORDS-UNO-1")
        monkeypatch.setattr(sbdevice, "_comports", lambda: [uno])
        assert f"spikerbox:{board.port}" in [i.uri for i in discover()]
        assert "(UNO-R3)" in _refusal("auto")
        assert f"spikerbox:{board.port}" not in [i.uri for i in discover()]
        with pytest.raises(DeviceError) as e:
            describe("spikerbox:auto")
    assert "no SpikerBox found on USB, only:" in str(e.value) and "(UNO-R3)" in str(e.value)


def test_chords_packets_are_found_and_spikerbox_frames_are_not():
    counts = np.random.default_rng(5).integers(0, 1024, (50, 6))
    assert find_chords(b"\x00junk" + encode_chords(counts, 250)) == 6
    assert find_chords(encode_chords(counts[:2, :3])) is None  # two packets are not enough
    frames = np.random.default_rng(6).integers(0, 1024, (20_000, 2))
    assert find_chords(encode_frames(frames)) is None
