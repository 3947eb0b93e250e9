"""The SpikerBox emulator through a real serial port (pyserial on its pty), read by the
decoder: identification, rate and clock error, the counts it says it sent, unplugging."""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pytest
import serial

from app.commands import emulate
from devices.spikerbox.emulator import CALIBRATION_UV, Emulator
from devices.spikerbox.protocol import Decoder, encode_frames


def _read(port: serial.Serial, decoder: Decoder, seconds: float):
    """Decoded frames, messages, and (arrival time, frames so far) after every read."""
    frames, messages, arrivals = [], [], []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        data = port.read(port.in_waiting or 1)
        if data:
            out = decoder.feed(data)
            frames.append(out.frames)
            messages += out.messages
            arrivals.append((time.monotonic(), decoder.frames_total))
    if not frames:
        return np.zeros((0, decoder.channels), np.int16), messages, np.zeros((0, 2))
    return np.concatenate(frames), messages, np.array(arrivals)


def _ask(port: serial.Serial, command: str) -> None:
    port.write(command.encode("ascii") + b"\n")


def _assert_sent(emulator: Emulator, frames: np.ndarray) -> None:
    """The decoded frames are a run of what the emulator wrote, frame-aligned."""
    _, sent = emulator.sent()
    assert frames.shape[0] > 0 and frames.shape[1] == sent.shape[1]
    at = encode_frames(sent).find(encode_frames(frames))
    assert at >= 0 and at % (2 * sent.shape[1]) == 0


def _open(path: str) -> serial.Serial:
    port = serial.Serial(path, timeout=0.01)
    port.reset_input_buffer()
    return port


def test_identifies_itself_and_runs_half_a_percent_fast():
    with Emulator("MUSCLESS", seed=3) as emulator, _open(emulator.port) as port:
        _ask(port, "b:;")
        decoder = Decoder(1)
        frames, messages, arrivals = _read(port, decoder, 0.6)
    assert ("HWT", "MUSCLESS") in messages
    assert decoder.discarded_frames <= 1 and decoder.bad_blocks == 0
    rate = np.polyfit(arrivals[:, 0] - arrivals[0, 0], arrivals[:, 1], 1)[0]
    assert rate / emulator.fs == pytest.approx(1.005, abs=0.004)
    _assert_sent(emulator, frames)
    assert len(set(frames[:, 0].tolist())) > 5  # EMG, not a flat line


def test_a_pro_board_waits_for_start_and_answers_its_commands():
    with Emulator("MSBPCDC", seed=1) as emulator, _open(emulator.port) as port:
        decoder = Decoder(2)
        _ask(port, "?:;")
        _ask(port, "max:;")
        idle, messages, _ = _read(port, decoder, 0.1)
        assert idle.shape[0] == 0
        assert ("HWT", "MSBPCDC") in messages and ("FWV", "1.0") in messages
        assert ("MSF", "10000") in messages and ("MNC", "4") in messages
        _ask(port, "start:;")
        frames, _, _ = _read(port, decoder, 0.2)
        _assert_sent(emulator, frames)
        assert frames.shape[0] == pytest.approx(0.2 * 10_000, rel=0.3)
        _ask(port, "h:;")
        time.sleep(0.05)
        port.reset_input_buffer()
        stopped, _, _ = _read(port, decoder, 0.1)
        assert stopped.shape[0] == 0


def test_a_shield_changes_channel_count_and_rate():
    with Emulator("NEURONSS", seed=2) as emulator, _open(emulator.port) as port:
        _ask(port, "conf s:10000;c:3;")
        deadline = time.monotonic() + 2.0
        while emulator.channels != 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert emulator.channels == 3 and emulator.fs == pytest.approx(10_000 / 3)
        time.sleep(0.02)
        port.reset_input_buffer()
        frames, _, _ = _read(port, Decoder(3), 0.2)
        _assert_sent(emulator, frames)


def test_calibration_square_wave_and_events():
    with Emulator("HUMANSB", calibration=True) as emulator, _open(emulator.port) as port:
        emulator.event(4)
        frames, messages, _ = _read(port, Decoder(2), 0.25)
    assert ("EVNT", "4") in messages
    levels = sorted(set(frames[:, 0].tolist()) | set(frames[:, 1].tolist()))
    assert len(levels) == 2 and emulator.bits == 14
    assert (levels[1] - levels[0]) * emulator.uv_per_count == pytest.approx(CALIBRATION_UV,
                                                                            rel=0.01)
    assert sum(levels) == 2 * emulator.zero


def test_unplug_closes_the_port_and_replugs_behind_the_link(tmp_path):
    link = str(tmp_path / "spikerbox")
    with Emulator("MUSCLESS", link=link) as emulator:
        first = os.readlink(link)
        port = _open(link)
        assert _read(port, Decoder(1), 0.1)[0].shape[0] > 0
        emulator.unplug(0.3)
        with pytest.raises(serial.SerialException):
            for _ in range(50):
                port.read(100)
        port.close()
        deadline = time.monotonic() + 3.0
        while not (os.path.islink(link) and os.readlink(link) != first):
            assert time.monotonic() < deadline, "the link never came back"
            time.sleep(0.01)
        with _open(link) as port:
            _ask(port, "b:;")
            frames, messages, _ = _read(port, Decoder(1), 0.2)
        assert ("HWT", "MUSCLESS") in messages
        _assert_sent(emulator, frames)
    assert not os.path.lexists(link)


def test_nobody_reading_costs_data_not_the_emulator():
    with Emulator("UNIBOX") as emulator:  # 85 kB/s fills the pty's buffer in a moment
        time.sleep(0.4)
        assert emulator.dropped_bytes > 0
        with _open(emulator.port) as port:
            frames, _, _ = _read(port, Decoder(1), 0.1)
        _assert_sent(emulator, frames)


def _cli(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    emulate.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_the_command_line_prints_the_port(tmp_path, capsys):
    link = str(tmp_path / "box")
    args = _cli(["emulate", "spikerbox", "--hwt", "HUMANSB", "--link", link, "--seconds",
                 "0.1"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "port: /dev/" in out and f"link: {link} -> /dev/" in out and "HUMANSB" in out


@pytest.mark.parametrize("argv", [
    ["emulate"],
    ["emulate", "spikerbox", "--channels", "7"],
    ["emulate", "spikerbox", "--scenario", "nosuch"],
    ["emulate", "spikerbox", "--hwt", "A;B"],
    ["emulate", "spikerbox", "--seconds", "-1"],
])
def test_bad_arguments_say_so_in_one_line(argv):
    from app.commands.errors import UsageError

    args = _cli(argv)
    with pytest.raises(UsageError) as caught:
        args.func(args)
    assert "\n" not in str(caught.value)


def test_pulses_and_the_write_log_time_each_pulse():
    """`pulses`: silence with one sample off zero every 0.5 s, and the write log says in
    which write (and where in it) each pulse left, and when."""
    with Emulator("MUSCLESS", pulses=0.5) as emu:
        port = serial.Serial(emu.port, timeout=0.02)
        decoder = Decoder(channels=1)
        got = []
        for _ in range(20):  # until three pulses have come, however slow the machine
            got.append(_read(port, decoder, 0.5)[0])
            if np.count_nonzero(np.concatenate(got)[:, 0] != 512) >= 3:
                break
        frames = np.concatenate(got)
        port.close()
        writes = emu.writes()
    counts = frames[:, 0].astype(int) - 512
    off_zero = np.flatnonzero(counts)
    assert off_zero.size >= 3 and np.all(np.diff(off_zero) == int(0.5 * emu.fs))
    pulses = writes[writes[:, 3] >= 0]
    firsts = pulses[:, 0] + pulses[:, 3]
    assert np.all(firsts % int(0.5 * emu.fs) == 0) and firsts.size >= 3
    assert np.all(np.diff(writes[:, 2]) >= 0)  # times in the order written


def test_the_command_line_saves_its_write_log_when_stopped(tmp_path):
    import signal
    import subprocess
    import sys

    link, log = tmp_path / "box", tmp_path / "writes.npy"
    proc = subprocess.Popen([sys.executable, "-m", "app", "emulate", "spikerbox",
                             "--pulses", "0.2", "--link", str(link), "--writes", str(log)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert "a pulse every 0.2 s" in proc.stdout.readline()
        deadline = time.monotonic() + 20
        while not link.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        port = serial.Serial(str(link), timeout=0.02)
        _read(port, Decoder(channels=1), 1.0)
        port.close()
        proc.send_signal(signal.SIGUSR1)  # a stall: the log goes on after it
        time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    writes = np.load(log)
    assert writes.shape[1] == 4 and (writes[:, 3] >= 0).sum() >= 3
