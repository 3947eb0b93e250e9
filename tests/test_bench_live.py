"""bench live's sound-to-picture offset, on a made-up timeline: only potentials that were
sounded count (the app starts its sound after its first frames)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from app.bench_live import Recorder, _offsets


def test_potentials_from_before_the_sound_started_are_not_scored():
    fs_in, fs_out = 20000.0, 48000.0
    truth = SimpleNamespace(events=[{"index": 1000}, {"index": 30000}, {"index": 50000}])
    session = SimpleNamespace(device=SimpleNamespace(truth=lambda: truth))
    rec = Recorder()
    # The sound starts at input sample 20000 (1 s in); output runs 2.4x the input rate.
    n_out = 96000
    rec.pushes = [(0, 20000 + np.arange(n_out) / 2.4)]
    calls = n_out // 128
    speaker = SimpleNamespace(calls=calls, reads=np.arange(1, calls + 1) * 128,
                              clock=1.0 + np.arange(calls) * 128 / fs_out, latency_s=0.0)
    # Frames every 30 ms, each drawing up to what had arrived by then.
    t = np.arange(0.0, 4.0, 0.03)
    rec.frames = [(float(ti), int(ti * fs_in), 0.0) for ti in t]
    out = _offsets(rec, session, speaker)
    assert out["potentials"] == 2  # the one at 0.05 s, before the sound, is left out
    assert out["min"] > -3.0 and out["max"] < 34.0  # within a frame (and a block) of its sound
