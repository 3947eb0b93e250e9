"""`needlepoint bench live`: sound and picture together, as a physician meets them.

A JACK dummy server in realtime mode (the sound card here, running at real pace) plays the
audio path, and the app runs on a busy simulator scenario for S seconds, twice: once with
no UI (the reader thread and the speaker only) and once with the whole Kivy app drawing the
trace (under Xvfb when there is no display). Each run is a child process with its own
PortAudio. Reported per run:

- underruns of the audio ring (the callback found it dry) per minute, after the first
  second, and the card's own xruns (PortAudio's output underflow flags);
- the offset between a potential's sound and its drawing: for each potential the simulator
  rendered, when its sample left the callback (plus the card's output latency) and when the
  trace first assigned its vertex; target within 45 ms;
- with the UI, the frame interval and the trace's work per frame.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

from app.bench.services import BLOCK, FS_OUT, Jack, Xvfb

SCENARIO = "sim:voluntary?effort=0.6&seed=1"
SETTLE_S = 1.0
OFFSET_TARGET_MS = 45.0


def add_parser(kinds) -> None:
    q = kinds.add_parser(
        "live", help="sound and picture together: underruns, sound-to-drawing offset",
        description="Run the live app with the speaker on a realtime JACK dummy server, "
        "with and without the UI, and report audio underruns per minute and the offset "
        "between each potential's sound and its drawing.")
    q.add_argument("--json", action="store_true", help="print one JSON object")
    q.add_argument("--seconds", type=float, default=60.0, metavar="S",
                   help="seconds per run (default 60)")
    q.add_argument("--scenario", default=SCENARIO, metavar="URI",
                   help=f"the simulator scenario (default {SCENARIO})")
    q.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from app.commands.errors import UsageError

    if not (np.isfinite(args.seconds) and 5 <= args.seconds <= 600):
        raise UsageError(f"--seconds must be from 5 to 600 (got {args.seconds:g})")
    missing = [t for t in ("jackd", "Xvfb") if shutil.which(t) is None]
    if missing:
        raise UsageError(f"bench live needs {' and '.join(missing)} (apt-get install jackd2 "
                         "xvfb): the JACK dummy server is the sound card, Xvfb the screen")
    rep = bench_live(args.seconds, args.scenario)
    print(json.dumps(rep, indent=2) if args.json else format_live(rep))
    return 0


def bench_live(seconds: float, scenario: str = SCENARIO) -> dict:
    with Jack() as server, Xvfb(server.env):
        runs = {}
        for ui in (False, True):
            before = sum(server.xruns().values())
            res = _child(server.env, ui, seconds, scenario)
            res["jackd_xruns"] = sum(server.xruns().values()) - before
            runs["with_ui" if ui else "without_ui"] = res
    ok = runs["with_ui"]
    return {"bench": "live", "scenario": scenario, "seconds": seconds, "block": BLOCK,
            "jackd": server.how, **runs,
            "targets": {"underruns_per_min_with_ui": 1.0, "offset_ms": OFFSET_TARGET_MS},
            "met": {"underruns_per_min_with_ui": ok["underruns_per_min"] <= 1.0,
                    "offset_ms": ok["offset_ms"] is not None
                    and abs(ok["offset_ms"]["p99"]) <= OFFSET_TARGET_MS}}


def _child(env: dict, ui: bool, seconds: float, scenario: str) -> dict:
    with tempfile.TemporaryDirectory() as home:
        child_env = {**env, "NEEDLEPOINT_HOME": home, "KIVY_NO_ARGS": "1",
                     "KIVY_NO_CONSOLELOG": "1"}
        # (the child is under app/ui: with the UI it runs the Kivy app)
        done = subprocess.run([sys.executable, "-m", "app.ui.bench_live",
                               "ui" if ui else "noui", str(seconds), scenario],
                              env=child_env, capture_output=True, text=True,
                              timeout=seconds + 120)
    lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    if not lines:
        raise RuntimeError(f"the {'UI' if ui else 'no-UI'} run failed:\n{done.stderr[-2000:]}")
    return json.loads(lines[-1][7:])


# -- the child (app/ui/bench_live.py runs it; these are its parts without Kivy) ----------

class Recorder:
    """Hooks on the reader thread and the trace: what was written when, what was drawn
    when. Appends only; read at the end."""

    def __init__(self):
        self.pushes: list[tuple[int, np.ndarray]] = []  # (audio ring write index, positions)
        # ... filled by hook_audio_push on the reader thread
        self.frames: list[tuple[float, int, float]] = []  # (time, ring written, cpu s)
        self.underruns_at_settle: int | None = None
        self.xruns_at_settle = 0
        self.settled_at: float | None = None
        self.speaker = None
        self.dry: list[tuple[float, float]] = []  # (time, target fill s) of each underrun
        self.dry_seen = 0

    def settled(self, audio, speaker) -> None:
        """The first second of sound is over: count from here."""
        self.speaker = speaker  # kept: the app lets go of a lost one
        self.underruns_at_settle = audio.ring.underruns
        self.xruns_at_settle = speaker.xruns
        self.settled_at = time.monotonic()

    def wrap_trace(self, trace) -> None:
        update = trace.update

        def recorded_update(ring, fs):
            c0 = time.thread_time()
            update(ring, fs)
            # drawn_to: one past the newest frame now in a vertex (not merely in the ring)
            drawn = getattr(trace, "drawn_to", ring.written)
            self.frames.append((time.monotonic(), drawn, time.thread_time() - c0))

        trace.update = recorded_update


def run_plain(rec: Recorder, seconds: float, scenario: str):
    """The reader thread and the speaker for `seconds`, no UI; returns what was run."""
    from app.session.open import open_session

    session = open_session(scenario, fs_out=FS_OUT, blocksize=BLOCK)
    audio = session.audio
    speaker = audio.attach_speaker("system")
    if speaker is None:
        raise SystemExit(audio.speaker_error)
    session.start()
    time.sleep(SETTLE_S)
    rec.settled(audio, speaker)
    time.sleep(max(seconds - SETTLE_S, 0))
    session.stop()
    return session, audio, speaker


def hook_audio_push(rec: Recorder) -> None:
    """Record every push of the audio path (the app builds its own inside App.build)."""
    from app.session import audio as audio_module

    push = audio_module.AudioPath.push

    def recorded_push(self, x, first_index=None):
        w0, target = self.ring.written, self.renderer.control.target_s
        if self.ring.underruns != rec.dry_seen:  # ran dry since the last push
            rec.dry_seen = self.ring.underruns
            rec.dry.append((time.monotonic(), target))
        pos = push(self, x, first_index)
        rec.pushes.append((w0, pos))
        return pos

    audio_module.AudioPath.push = recorded_push


def measure(rec: Recorder, session, audio, speaker, seconds: float, ui: bool,
            ended: float) -> dict:
    """The child's report: underruns and xruns after the first second, the reader's lot,
    and with the UI the sound-to-drawing offsets and the frames."""
    # Lost: the card stopped calling back well before the end (a realtime JACK server
    # drops a client that misses too many deadlines).
    lost = speaker is None or speaker.calls < 0.9 * seconds * FS_OUT / BLOCK
    if rec.settled_at is None:
        raise RuntimeError("the sound never played for a second")
    minutes = max(ended - rec.settled_at, 1e-9) / 60
    after = audio.ring.underruns - rec.underruns_at_settle
    xruns = speaker.xruns - rec.xruns_at_settle if speaker else None
    result = {"underruns_after_1s": after, "underruns_per_min": round(after / minutes, 2),
              "card_xruns_after_1s": xruns,
              "card_xruns_per_min": round(xruns / minutes, 2) if speaker else None,
              "measured_s": round(minutes * 60, 1),
              # when each counted underrun came (s after the first second) and the fill
              # target it found: an early one at a low target is the target still learning
              "underruns_at": [[round(t - rec.settled_at, 1), round(target * 1000, 1)]
                               for t, target in rec.dry if t >= rec.settled_at],
              "speaker_lost": lost,
              "callbacks": speaker.calls if speaker else 0,
              "chunks": session.snapshot().counters.chunks,
              "reader_priority": session.priority,
              "target_fill_ms": round(audio.renderer.control.target_s * 1000, 2),
              "card_latency_ms": round(speaker.latency_s * 1000, 2) if speaker else None}
    if speaker is not None:
        gaps = speaker.callback_gaps() * 1000
        if gaps.size:
            result["callback_gap_ms"] = _pct(gaps)
    result["offset_ms"] = offsets(rec, session, speaker) if ui else None
    if ui and rec.frames:
        t = np.array([f[0] for f in rec.frames])
        cpu = np.array([f[2] for f in rec.frames]) * 1000
        result["frame_ms"] = _pct(np.diff(t) * 1000)
        result["trace_work_ms"] = _pct(cpu)
    return result


def offsets(rec: Recorder, session, speaker) -> dict | None:
    """Per simulated potential: drawing time minus sound time, in ms (positive: the
    picture comes after the sound)."""
    if speaker is None or not rec.pushes or not rec.frames:
        return None
    truth = session.device.truth()
    reads, clock = speaker.kept_calls()  # the last few minutes of callbacks
    n = len(reads)
    w = np.concatenate([np.arange(w0, w0 + len(p)) for w0, p in rec.pushes])
    pos = np.concatenate([p for _, p in rec.pushes])
    real = ~np.isnan(pos)
    w, pos = w[real], pos[real]
    frame_t = np.array([f[0] for f in rec.frames])
    frame_written = np.array([f[1] for f in rec.frames])
    out = []
    for e in truth.events:
        k = e["index"]
        j = np.searchsorted(pos, k)
        if j >= len(pos) or k < pos[0]:
            continue  # not sounded: before the sound started, or after it ended
        c = np.searchsorted(reads, w[j] + 1)  # the first callback past that sample
        f = np.searchsorted(frame_written, k + 1)  # the first frame that had it
        if (c == 0 and speaker.calls > n) or c >= n or f >= len(frame_t):
            continue  # played before the callbacks kept, or not yet
        sound = clock[c] + speaker.latency_s
        out.append((frame_t[f] - sound) * 1000)
    return _pct(np.array(out)) | {"potentials": len(out)} if out else None


def _pct(x: np.ndarray) -> dict:
    return {"p50": round(float(np.percentile(x, 50)), 2),
            "p99": round(float(np.percentile(x, 99)), 2),
            "max": round(float(np.max(x)), 2), "min": round(float(np.min(x)), 2)}


def format_live(rep: dict) -> str:
    lines = [f"bench live: {rep['scenario']}, {rep['seconds']:g} s per run, JACK dummy "
             f"realtime at {rep['block']} frames"]
    for name in ("without_ui", "with_ui"):
        r = rep[name]
        line = (f"  {name.replace('_', ' '):11s} underruns after 1 s: {r['underruns_after_1s']}"
                f" ({r['underruns_per_min']}/min); card xruns after 1 s "
                f"{r['card_xruns_after_1s']} ({r['card_xruns_per_min']}/min); jackd "
                f"xruns {r['jackd_xruns']}; target fill {r['target_fill_ms']} ms")
        if r.get("callback_gap_ms"):
            line += f"; callback gap p99 {r['callback_gap_ms']['p99']} ms"
        lines.append(line)
        if r.get("underruns_at"):
            lines.append("  underruns at " + ", ".join(
                f"{t:g} s (target {target:g} ms)" for t, target in r["underruns_at"]))
        if r.get("offset_ms"):
            o = r["offset_ms"]
            lines.append(f"  picture after sound: p50 {o['p50']} ms, p99 {o['p99']} ms, "
                         f"max {o['max']} ms over {o['potentials']} potentials")
        if r.get("frame_ms"):
            lines.append(f"  frame interval p50 {r['frame_ms']['p50']} ms, p99 "
                         f"{r['frame_ms']['p99']} ms; trace work p99 "
                         f"{r['trace_work_ms']['p99']} ms")
    lines.append("met: " + ", ".join(f"{k} {'yes' if v else 'NO'}"
                                     for k, v in rep["met"].items()))
    return "\n".join(lines)

