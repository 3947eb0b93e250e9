"""The spikerbox: device end to end, over real pseudo-terminals served by the emulator:
identification, exact counts into a recording, a pulled cable, calibration, bad ports."""

from __future__ import annotations

import errno
import os
import threading
import time

import numpy as np
import pytest
import serial

from app.commands.cli import main
from devices import DeviceError, describe, make_device
from devices.formats import read_recording
from devices.spikerbox import device as sbdevice
from devices.spikerbox.emulator import Emulator


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("NEEDLEPOINT_HOME", str(tmp_path / "home"))


def _contiguous_in(sent: np.ndarray, got: np.ndarray) -> bool:
    """Whether `got` appears in `sent` as one unbroken run (same frames, same order)."""
    head = got[:50]
    for start in range(sent.shape[0] - got.shape[0] + 1):
        if np.array_equal(sent[start:start + 50], head):
            return np.array_equal(sent[start:start + got.shape[0]], got)
    return False


@pytest.mark.parametrize("channels", [1, 2])
def test_record_holds_exactly_the_counts_the_board_sent(tmp_path, channels, capsys):
    out = tmp_path / "x.edf"
    with Emulator("MUSCLESS", scenario="denervated", seed=4) as emu:
        uri = f"spikerbox:{emu.port}?uv_per_count=1&channels={channels}"
        assert main(["record", "--device", uri, "--seconds", "3", "--out", str(out)]) == 0
        _, sent = emu.sent()
    rec = read_recording(out)
    got = np.rint(rec.samples).astype(int) + 512  # back to counts: the zero of 10 bits
    assert rec.fs == 10_000.0 / channels
    assert got.shape == (round(3 * rec.fs), channels)
    assert _contiguous_in(sent.reshape(-1, channels).astype(int), got)
    said = capsys.readouterr().out
    assert "gap" not in said
    assert "Not isolated for patient connection" in said  # wherever the device is used


def test_identification_names_the_board_and_its_rate():
    with Emulator("MSBPCDC", seed=1) as emu:  # a Muscle SpikerBox Pro: waits for start:;
        dev = make_device(f"spikerbox:{emu.port}")
        with dev:
            assert dev.info.details["identified"] == "HWT:MSBPCDC"
            assert (dev.info.fs, dev.info.channels) == (10_000.0, 2)
            assert dev.read(2.0) is not None  # streaming only because start:; was sent
        assert dev.info.isolation.value == "none"
        assert "Not isolated for patient connection" in dev.info.details["warning"]
        assert not dev.info.calibrated and "UNCALIBRATED" in dev.info.name


def test_a_pulled_cable_is_reported_and_the_stream_resumes(tmp_path):
    link = str(tmp_path / "spikerbox")
    before = threading.active_count()
    with Emulator("MUSCLESS", seed=2, link=link) as emu:
        dev = make_device(f"spikerbox:{link}")
        dev.open()
        dev.start()
        assert dev.read(2.0) is not None
        emu.unplug(1.5)
        statuses, chunks, back = set(), [], None
        deadline = time.monotonic() + 8.0
        while time.monotonic() < deadline:
            statuses.add(dev.status)
            chunk = dev.read(0.1)
            if chunk is not None:
                chunks.append(chunk)
            if back is None and dev.reconnects:
                back = time.monotonic()
            if back is not None and chunk is not None and chunk.arrival > back:
                break
        assert "no signal: reconnecting" in statuses
        assert dev.reconnects == 1 and dev.status == "streaming"
        assert chunks[-1].arrival - back < 2.0, "no data within 2 s of the port coming back"
        jumps = [b.first_index - a.end_index for a, b in zip(chunks[:-1], chunks[1:], strict=True)]
        # the time away shows as one jump in the frame count; otherwise contiguous
        assert max(jumps) >= 0.8 * 1.5 * dev.info.fs
        assert sorted(jumps)[-2] == 0
        assert [c.seq for c in chunks] == list(range(chunks[0].seq, chunks[0].seq + len(chunks)))
        dev.close()
    time.sleep(0.1)
    assert threading.active_count() <= before


def test_calibrate_finds_the_scale_and_recordings_use_it(tmp_path, capsys):
    with Emulator("MUSCLESS", calibration=True, link=str(tmp_path / "box")) as emu:
        uri = f"spikerbox:{tmp_path / 'box'}"
        assert not describe(uri).calibrated
        assert main(["calibrate", "--device", uri, "--seconds", "1"]) == 0
        info = describe(uri)
        assert info.calibrated
        assert abs(info.uv_per_count / emu.uv_per_count - 1) < 0.01
        out = tmp_path / "cal.edf"
        assert main(["record", "--device", uri, "--seconds", "1", "--out", str(out)]) == 0
    rec = read_recording(out)
    pp = np.percentile(rec.samples[:, 0], 95) - np.percentile(rec.samples[:, 0], 5)
    assert abs(pp - 1000.0) < 10.0  # the 1 mV calibrator, in microvolts
    assert rec.calibrated
    assert "uV per count" in capsys.readouterr().out


def test_calibrate_refuses_a_signal_that_is_not_a_calibrator(capsys):
    with Emulator("MUSCLESS", scenario="rest") as emu:
        assert main(["calibrate", "--device", f"spikerbox:{emu.port}", "--seconds",
                     "0.5"]) == 2
    assert "calibrator" in capsys.readouterr().err


def test_a_silent_port_is_not_a_spikerbox(capsys):
    master, slave = os.openpty()
    try:
        assert main(["record", "--device", f"spikerbox:{os.ttyname(slave)}", "--seconds",
                     "1", "--out", "/tmp/never.edf"]) == 2
    finally:
        os.close(master)
        os.close(slave)
    err = capsys.readouterr().err.strip()
    assert "is not a SpikerBox" in err and len(err.splitlines()) == 1


def test_a_busy_port_says_so():
    with Emulator("MUSCLESS") as emu:
        holder = serial.Serial(emu.port, exclusive=True)
        try:
            with pytest.raises(DeviceError, match="is busy"):
                make_device(f"spikerbox:{emu.port}").open()
        finally:
            holder.close()


def test_a_missing_port_and_permission_denied_say_what_to_do():
    with pytest.raises(DeviceError, match="does not exist"):
        make_device("spikerbox:/dev/ttyNOSUCH0").open()
    denied = serial.SerialException(errno.EACCES, "could not open port: Permission denied")
    assert "dialout" in sbdevice._open_message("/dev/ttyACM0", denied)


class _ListedPort:
    def __init__(self, device, vid, pid):
        self.device, self.vid, self.pid, self.serial_number = device, vid, pid, None


def test_a_board_in_its_bootloader_is_left_alone(monkeypatch):
    # The OS's USB listing stands in for a plugged board; nothing else is faked.
    monkeypatch.setattr(sbdevice, "_comports",
                        lambda: [_ListedPort("/dev/ttyACM7", 0x2E73, 0x0005)])
    with pytest.raises(DeviceError, match="bootloader"):
        describe("spikerbox:auto")
    with pytest.raises(DeviceError, match="bootloader"):
        describe("spikerbox:/dev/ttyACM7")


def test_auto_with_nothing_plugged_in_says_so(monkeypatch):
    monkeypatch.setattr(sbdevice, "_comports", lambda: [])
    with pytest.raises(DeviceError, match="no SpikerBox found"):
        describe("spikerbox:auto")


def test_a_recording_from_an_uncalibrated_board_reads_back_uncalibrated(tmp_path, capsys):
    out = tmp_path / "u.edf"
    with Emulator("MUSCLESS") as emu:
        assert main(["record", "--device", f"spikerbox:{emu.port}", "--seconds", "0.5",
                     "--out", str(out)]) == 0
    assert "UNCALIBRATED" in capsys.readouterr().out
    assert not read_recording(out).calibrated
    assert main(["analyze", str(out)]) == 0
    assert "UNCALIBRATED" in capsys.readouterr().out
