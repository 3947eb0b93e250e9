"""bench live's sound-to-picture offset, on a made-up timeline: only potentials that were
sounded count (the app starts its sound after its first frames), and only against the
callbacks the speaker still keeps."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from app.bench.live import Recorder, offsets

FS_OUT = 48000.0


def _speaker(calls: int, kept: int):
    """What a speaker keeps of its callbacks: the last `kept` of `calls`, each taking a
    128-frame block, the first at t = 1 s."""
    i = np.arange(calls - kept, calls)
    return SimpleNamespace(calls=calls, latency_s=0.0,
                           kept_calls=lambda: ((i + 1) * 128, 1.0 + i * 128 / FS_OUT))


def test_potentials_from_before_the_sound_started_are_not_scored():
    fs_in = 20000.0
    truth = SimpleNamespace(events=[{"index": 1000}, {"index": 30000}, {"index": 50000}])
    session = SimpleNamespace(device=SimpleNamespace(truth=lambda: truth))
    rec = Recorder()
    # The sound starts at input sample 20000 (1 s in); output runs 2.4x the input rate.
    n_out = 96000
    rec.pushes = [(0, 20000 + np.arange(n_out) / 2.4)]
    calls = n_out // 128
    speaker = _speaker(calls, kept=calls)
    # Frames every 30 ms, each drawing up to what had arrived by then.
    t = np.arange(0.0, 4.0, 0.03)
    rec.frames = [(float(ti), int(ti * fs_in), 0.0) for ti in t]
    out = offsets(rec, session, speaker)
    assert out["potentials"] == 2  # the one at 0.05 s, before the sound, is left out
    assert out["min"] > -3.0 and out["max"] < 34.0  # within a frame (and a block) of its sound


def test_a_run_longer_than_the_callbacks_kept_scores_only_what_they_cover():
    # Measured: a 300 s run wrapped the speaker's record of callbacks (175 s of them),
    # and potentials matched against the wrong lap gave offsets of -175 s.
    fs_in = 20000.0
    n_out = int(300 * FS_OUT)
    rec = Recorder()
    rec.pushes = [(0, np.arange(n_out) / 2.4)]  # sound from the first input sample
    calls = n_out // 128
    kept = 65536
    speaker = _speaker(calls, kept)
    events = [{"index": int(s * fs_in)} for s in np.arange(0.5, 299.0, 0.5)]
    session = SimpleNamespace(device=SimpleNamespace(truth=lambda: SimpleNamespace(
        events=events)))
    t = np.arange(1.0, 301.0, 0.03)
    rec.frames = [(float(ti), int((ti - 1.0) * fs_in), 0.0) for ti in t]
    out = offsets(rec, session, speaker)
    covered = (calls - kept) * 128 / FS_OUT  # the output time the kept callbacks start at
    assert out["potentials"] == sum(1 for e in events if e["index"] / fs_in > covered + 0.01)
    assert out["min"] > -3.0 and out["max"] < 34.0
