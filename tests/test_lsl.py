"""`lsl:` against real Lab Streaming Layer outlets made here with pylsl (over loopback):
samples sample for sample, units, refused rates, gaps, a lost outlet, a missing pylsl."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from app.commands.cli import main
from devices import DeviceError, Isolation, describe, discover, make_device
from devices.formats import read_recording
from devices.lsl import GapCounter, load_pylsl

pylsl = load_pylsl()  # the test extra installs it; loading through the device quiets liblsl
ROOT = Path(__file__).resolve().parents[1]
WRAP = 4096  # sample k carries the value k % WRAP: exact in float32, even in millivolts x 1000


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("NEEDLEPOINT_HOME", str(tmp_path / "home"))


OUTLET = """
import json, sys, time
import numpy as np
from devices.lsl import load_pylsl
pylsl = load_pylsl()
a = json.loads(sys.argv[1])
info = pylsl.StreamInfo(a["name"], "EMG", a["channels"], a["fs"], pylsl.cf_float32,
                        a["source_id"])
if a["unit"] is not None:
    chans = info.desc().append_child("channels")
    for k in range(a["channels"]):
        ch = chans.append_child("channel")
        ch.append_child_value("label", f"E{k + 1}")
        ch.append_child_value("unit", a["unit"])
outlet = pylsl.StreamOutlet(info)
print("READY", flush=True)
fs, wrap = a["fs"], a["wrap"]
if fs <= 0:
    sys.stdin.read()
    sys.exit(0)
block, t0, k, skipped = round(fs / 100), pylsl.local_clock(), 0, False
while True:
    if a["gap"] is not None and not skipped and k >= a["gap"][0]:
        k, skipped = k + a["gap"][1], True
    delay = t0 + (k + block) / fs - pylsl.local_clock()
    if delay > 0:
        time.sleep(delay)
    values = (np.arange(k, k + block) % wrap).astype(np.float32)
    outlet.push_chunk(np.repeat(values[:, None], a["channels"], axis=1),
                      t0 + (k + block - 1) / fs)
    k += block
"""


class Outlet:
    """An LSL outlet in a process of its own (as an amplifier's software is: liblsl is not
    made for an outlet destroyed under an inlet of the same process), pushing 10 ms chunks
    at its rate; sample k's value is k % WRAP and its stamp t0 + k / fs (liblsl deduces
    all but each chunk's last). `gap=(at, n)` skips samples at..at+n-1, values and stamps
    both, as a lost link does."""

    def __init__(self, fs: float = 10_000.0, *, unit: str | None = "microvolts",
                 channels: int = 1, gap: tuple[int, int] | None = None,
                 source_id: str | None = None, name: str | None = None):
        self.name = name or f"np-test-{uuid.uuid4().hex[:10]}"
        self.fs, self.channels, self.gap = fs, channels, gap
        self.source_id = self.name if source_id is None else source_id
        self.args = {"name": self.name, "fs": fs, "unit": unit, "channels": channels,
                     "gap": gap, "source_id": self.source_id, "wrap": WRAP}
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Outlet:
        self.proc = subprocess.Popen([sys.executable, "-c", OUTLET, json.dumps(self.args)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, cwd=ROOT)
        assert self.proc.stdout.readline().strip() == "READY"
        return self

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


def _chunks(dev, frames: int, timeout: float = 10.0) -> list:
    got, n, deadline = [], 0, time.monotonic() + timeout
    while n < frames and time.monotonic() < deadline:
        chunk = dev.read(0.5)
        if chunk is not None:
            got.append(chunk)
            n += chunk.frames
    assert n >= frames, f"only {n} of {frames} frames came"
    return got


def _offsets(chunks, scale: float = 1.0) -> set[int]:
    """(value - frame index) % WRAP over every frame: one number if each frame holds the
    sample the outlet pushed at that place in its count."""
    out = set()
    for c in chunks:
        values = np.rint(c.data[:, 0] / scale).astype(np.int64)
        out |= set(((values - np.arange(c.first_index, c.end_index)) % WRAP).tolist())
    return out


def test_a_microvolt_stream_arrives_sample_for_sample():
    with Outlet() as out:
        dev = make_device(f"lsl:{out.name}")
        info = dev.info
        assert (info.kind, info.fs, info.channels, info.calibrated) == ("lsl", 10_000.0, 1, True)
        assert info.isolation is Isolation.UNKNOWN and not info.isolation.patient_rated
        assert info.uv_per_count is None and info.channel_labels == ("E1",)
        assert "isolation unknown" in info.details["warning"]
        with dev:
            chunks = _chunks(dev, 10_000)
            assert dev.status == "streaming"
    assert all(b.first_index == a.end_index for a, b in zip(chunks, chunks[1:], strict=False))
    assert [c.seq for c in chunks] == list(range(len(chunks)))
    assert len(_offsets(chunks)) == 1  # every sample, in order, none lost, none made up
    assert all(c.data.dtype == np.float32 for c in chunks)


def test_millivolts_are_converted_to_microvolts():
    with Outlet(unit="millivolts", channels=2) as out:
        dev = make_device(f"lsl:{out.name}?type=EMG")
        assert dev.info.calibrated and dev.info.channels == 2
        with dev:
            chunks = _chunks(dev, 2_000)
    assert len(_offsets(chunks, scale=1000.0)) == 1
    big = np.concatenate([c.data for c in chunks])
    assert big.max() > 1000.0  # 1 mV per unit: the values came out a thousand times larger
    np.testing.assert_array_equal(big[:, 0], big[:, 1])


def test_record_writes_what_the_outlet_pushed(tmp_path, capsys):
    out_file = tmp_path / "lsl.edf"
    with Outlet() as out:
        assert main(["record", "--device", f"lsl:{out.name}", "--seconds", "2", "--out",
                     str(out_file)]) == 0
    said = capsys.readouterr().out
    assert "gap" not in said and "wrote 20000 frames" in said
    rec = read_recording(out_file)
    assert rec.fs == 10_000.0 and rec.samples.shape == (20_000, 1) and rec.calibrated
    x = rec.samples[:, 0].astype(np.float64)
    # The pushed values k % WRAP, from wherever the recording began, on the EDF's own grid.
    start = round(x[0])
    expected = (start + np.arange(x.size)) % WRAP
    assert np.max(np.abs(x - expected)) <= rec.step_uv[0] / 2 + 1e-6


def test_a_stream_without_units_is_uncalibrated():
    with Outlet(fs=10_000.0, unit=None) as out:
        info = describe(f"lsl:{out.name}")
    assert not info.calibrated and info.uv_per_count == 1.0
    assert "UNCALIBRATED" in info.name and "no voltage unit" in info.details["calibration"]
    assert info.details["units"] == "none given"


@pytest.mark.parametrize("fs, words", [
    (0.0, ["irregular rate", "nominal rate 0", "at least 5000 Hz", "10 kHz or more"]),
    (500.0, ["500 Hz", "at least 5000 Hz", "10 kHz or more"]),
])
def test_irregular_and_slow_streams_are_refused_in_one_line(fs, words, capsys):
    with Outlet(fs=fs) as out:
        with pytest.raises(DeviceError) as e:
            describe(f"lsl:{out.name}")
        assert main(["record", "--device", f"lsl:{out.name}", "--seconds", "1", "--out",
                     "/tmp/never.edf"]) == 2
    for w in words:
        assert w in str(e.value)
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words[0] in err


def test_a_gap_in_the_stamps_moves_first_index_on():
    with Outlet(gap=(3_000, 1_000)) as out:
        dev = make_device(f"lsl:{out.name}")
        with dev:
            chunks = _chunks(dev, 6_000)
    jumps = [b.first_index - a.end_index for a, b in zip(chunks, chunks[1:], strict=False)]
    assert sorted(jumps)[-1] == 1_000 and sorted(jumps)[-2] == 0
    assert len(_offsets(chunks)) == 1  # after the gap each frame is still where it belongs
    assert dev.gaps.gaps == 1 and dev.gaps.missing == 1_000


def test_an_unknown_stream_name_says_so():
    with pytest.raises(DeviceError) as e:
        describe(f"lsl:no-such-stream-{uuid.uuid4().hex[:8]}")
    text = str(e.value)
    assert "no LSL stream named 'no-such-stream-" in text and len(text.splitlines()) == 1


def test_discovery_lists_usable_streams_and_leaves_out_the_rest():
    with Outlet() as good, Outlet(fs=500.0) as slow:
        uris = [i.uri for i in discover()]
    assert f"lsl:{good.name}" in uris
    assert f"lsl:{slow.name}" not in uris


@pytest.mark.parametrize("source_id", ["amp-1", ""])
def test_an_outlet_that_goes_and_comes_back_is_followed(source_id):
    # With a source_id liblsl recovers the stream itself; without, it gives up and the
    # device looks for the stream by name.
    out = Outlet(source_id=source_id).__enter__()
    dev = make_device(f"lsl:{out.name}")
    dev.open()
    dev.start()
    try:
        first = _chunks(dev, 2_000)
        out.__exit__()
        statuses, deadline = set(), time.monotonic() + 5.0
        while "no signal: reconnecting" not in statuses and time.monotonic() < deadline:
            statuses.add(dev.status)
            chunk = dev.read(0.1)
            if chunk is not None:
                first.append(chunk)
        assert "no signal: reconnecting" in statuses
        while (chunk := dev.read(0.3)) is not None:  # what was queued before it went
            first.append(chunk)
        again = Outlet(name=out.name, source_id=out.source_id)  # the same stream again
        with again:
            later = _chunks(dev, 2_000, timeout=20.0)
            assert dev.status == "streaming"
    finally:
        dev.close()
    assert dev.reconnects == (1 if source_id == "" else 0)
    assert later[0].first_index - first[-1].end_index > 0.5 * dev.info.fs  # the time away
    assert all(b.first_index == a.end_index for a, b in zip(later, later[1:], strict=False))


def test_jittered_chunk_stamps_are_not_gaps_but_a_lost_stretch_is():
    fs, block = 10_000.0, 100
    rng = np.random.default_rng(3)
    counter = GapCounter(fs)
    k, firsts = 0, []
    for n in range(300):
        if n == 200:
            k += 500  # 50 ms lost
        stamps = (k + np.arange(block)) / fs + rng.uniform(-1e-3, 1e-3)  # stamped when sent
        firsts.extend(first for _, _, first in counter.split(stamps))
        k += block
    assert counter.gaps == 1 and abs(counter.missing - 500) <= 20
    assert np.count_nonzero(np.diff(firsts) != block) == 1


def test_without_pylsl_lsl_says_what_to_install_and_listing_still_works(monkeypatch,
                                                                         capsys):
    monkeypatch.setitem(sys.modules, "pylsl", None)  # `import pylsl` now fails
    with pytest.raises(DeviceError) as e:
        describe("lsl:anything")
    assert "pip install 'needlepoint[lsl]'" in str(e.value)
    assert len(str(e.value).splitlines()) == 1
    assert not [i for i in discover() if i.kind == "lsl"]
    assert main(["devices"]) == 0
    assert "sim:denervated" in capsys.readouterr().out
