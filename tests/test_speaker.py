"""The speaker on a sound card that runs at real pace: a JACK dummy server. The whole live
path (simulator at its real rate, reader thread, renderer, ring, PortAudio callback) plays
for a few seconds and the callback's real timing is measured; then the server is killed
under a playing stream. Skips, with its reason, only where no such card can be had."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.jackserver import jack_server, sounddevice, xruns

FS = 48000
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def jack():
    with jack_server(FS, 128, tag="-speaker") as server:
        yield server


def test_the_live_path_plays_at_the_cards_pace(jack):
    from app.session.audio import AudioPath
    from app.session.live import LiveSession
    from devices import make_device

    device = make_device("sim:denervated?seed=3")
    device.open()
    audio = AudioPath(device.info.fs, fs_out=FS, blocksize=128)
    speaker = audio.attach_speaker("system")
    assert speaker is not None, audio.speaker_error
    log0 = xruns(jack.log)
    session = LiveSession(device, audio=audio).start()
    try:
        time.sleep(1.0)
        settled = (audio.ring.underruns, speaker.calls)
        time.sleep(3.0)
        underruns_after_1s = audio.ring.underruns - settled[0]
        calls = speaker.calls - settled[1]
        latency = speaker.latency_s
    finally:
        session.stop()
        audio.close()
    server_xruns = xruns(jack.log) - log0
    gaps = speaker.callback_gaps() * 1000
    p50, p99 = np.percentile(gaps, 50), np.percentile(gaps, 99)
    print(f"\ncallback every {p50:.2f} ms (p99 {p99:.2f}, max {gaps.max():.2f}); "
          f"{calls} callbacks in 3 s; ring underruns after 1 s: {underruns_after_1s}; "
          f"jackd xruns: {server_xruns}; target fill {audio.renderer.control.target_s * 1e3:.2f} "
          f"ms; card latency {latency * 1e3:.2f} ms")
    assert abs(p50 - 128 / FS * 1000) < 0.3  # 2.67 ms: real pace, not an ALSA null's rush
    assert 0.85 < calls / (3.0 * FS / 128) < 1.1
    # A --no-realtime server on this shared machine skips cycles now and then; the ring
    # may run dry with it, but not on its own.
    assert underruns_after_1s <= server_xruns
    assert session.counters.errors == 0


LOSS = """
import json, os, time
from app.session.audio import AudioPath
from app.session.live import LiveSession
from devices import make_device
device = make_device("sim:denervated?seed=3")
device.open()
audio = AudioPath(device.info.fs, blocksize=128)
assert audio.attach_speaker("system") is not None, audio.speaker_error
session = LiveSession(device, audio=audio).start()
time.sleep(1.0)
print("PLAYING", flush=True)
input()  # the test kills the server, then says go
t0 = time.monotonic(); said = None
while said is None and time.monotonic() - t0 < 5:
    said = audio.check_speaker(); time.sleep(0.05)
before = session.counters.chunks; time.sleep(0.5)
print(json.dumps({"said": said, "after_s": time.monotonic() - t0,
                  "chunks_meanwhile": session.counters.chunks - before,
                  "status": audio.status()}), flush=True)
session.stop(); audio.close()
os._exit(0)  # PortAudio would block for ever tearing down a stream whose server died
"""


def test_a_card_that_disappears_is_reported_and_the_emg_goes_on(tmp_path):
    sounddevice()
    with jack_server(FS, 128, tag="-loss", rescan=False) as server:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen([sys.executable, "-c", LOSS], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env, cwd=tmp_path)
        try:
            assert proc.stdout.readline().strip() == "PLAYING", proc.stderr.read()
            from tests.jackserver import stop

            stop(server.proc)
            proc.stdin.write("go\n")
            proc.stdin.flush()
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    result = json.loads(out.strip().splitlines()[-1])
    assert result["said"] and "stopped" in result["said"] and "without sound" in result["said"]
    assert result["after_s"] < 2.0
    assert result["chunks_meanwhile"] > 50  # the reader, the trace and the analyser go on
    assert "stopped" in result["status"]["speaker"]


def test_a_path_waiting_for_its_speaker_renders_nothing_until_then(jack):
    # The app starts its sound once the screen is up; until then nothing is queued (a card
    # starting on a full ring would play it late), and the samples that went by are still
    # counted, so sounds placed by sample index land where they belong.
    from app.session.audio import AudioPath

    audio = AudioPath(20000.0, fs_out=FS, blocksize=128, wait_for_speaker=True)
    x = np.zeros(100, np.float32)
    for k in range(10):
        assert audio.push(x, 100 * k).size == 0
    audio.idle()
    assert audio.ring.written == 0 and audio.waiting
    speaker = audio.attach_speaker("system")
    try:
        assert speaker is not None, audio.speaker_error
        assert not audio.waiting
        pos = audio.push(x, 1000)
    finally:
        audio.close()
    real = pos[~np.isnan(pos)]
    assert real.size and real.min() >= 990 and real.max() < 1100


def test_starting_the_sound_freezes_the_heap(jack):
    # A full collection walks every object with the GIL held (92 ms measured with the app
    # built): what exists when the sound starts is put out of its reach.
    import gc

    from app.session.audio import AudioPath

    audio = AudioPath(20000.0, fs_out=FS, blocksize=128)
    gc.unfreeze()
    try:
        assert audio.attach_speaker("system") is not None, audio.speaker_error
        frozen = gc.get_freeze_count()
    finally:
        audio.close()
        gc.unfreeze()
    assert frozen > 10000  # numpy, scipy and the app's own modules: all of it


def test_the_callbacks_kept_come_back_oldest_first_once_their_ring_wraps(monkeypatch):
    # No card needed: the callback itself is driven, as PortAudio would.
    from types import SimpleNamespace

    import devices.speaker as speaker_module
    from devices.audio_ring import AudioRing

    monkeypatch.setattr(speaker_module, "TIMES_KEPT", 100)
    ring = AudioRing(1 << 16)
    speaker = speaker_module.Speaker(ring, fs=FS, blocksize=16)
    out = np.zeros((16, 1), np.float32)
    for i in range(250):
        ring.write(np.ones(16, np.float32))
        speaker._callback(out, 16, SimpleNamespace(currentTime=i * 16 / FS),
                          SimpleNamespace(output_underflow=False))
    reads, clock = speaker.kept_calls()
    assert len(reads) == 100
    assert np.array_equal(reads, np.arange(151, 251) * 16)  # the last 100, in order
    assert np.all(np.diff(clock) >= 0)
    assert np.allclose(speaker.callback_gaps(), 16 / FS)
