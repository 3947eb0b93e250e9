"""`needlepoint bench e2e`: the sound's delay as a physician meets it, from the amplifier's
bytes to the app's audio output port, beside a minimal script in the same run.

The project's SpikerBox emulator (a Muscle SpikerShield: 1 channel, 10 kHz, its clock 0.5 %
fast as a real board's) writes a sharp pulse every 0.5 s to a pseudo-terminal and notes
when the bytes of each pulse were written. The program under test reads that pty as it
would a board and plays on a JACK server (the dummy backend, 48 kHz, 128 frames a period;
started here when none runs), and a JACK client of this process takes the program's output
port and notes the JACK time of each pulse's first sample there. The delay is that time
minus the time the pulse's bytes were written (the sound card's own buffer comes on top on
any machine). Time zero is the first non-silent sample at the output; pulses are counted
from one second after it.

The emulator runs in a process of its own (`needlepoint emulate spikerbox --pulses`), as a
board runs on its own chip. Three programs, one after the other, each with a fresh board:
- `baseline`: app/bench/baseline.py, a pyserial reader, a deque and a 128-frame callback;
- `listen`: `needlepoint listen --device spikerbox:PTY`;
- `gui`: `needlepoint gui --device spikerbox:PTY` under Xvfb, drawing its trace.

Each reports p50, p99 and max delay, the delay's slope over the run (ms per minute), the
ring's underruns after the first second (as the program counts them: its status lines),
and the JACK server's xruns. `--stall link` holds the emulator's link for 50 ms halfway
through (a USB hiccup: the reader gets nothing, then the backlog), `--stall jack` stops the
JACK server for 50 ms (an xrun: no callback, then the cycles resume); either reports how
long the delay took to come back. Figures come from one run; nothing here is
an assertion.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from app.bench.common import machine
from app.bench.services import BLOCK, FS_OUT, Jack, Xvfb

PULSE_EVERY_S = 0.5
SETTLE_S = 1.0
THRESHOLD = 0.02  # output level (full scale 1) that is sound, not silence
QUIET_S = 0.2  # an onset follows at least this much silence
MAX_DELAY_S = 0.45  # an onset this long after a pulse's bytes is not that pulse's
CONNECT_S = 30.0  # how long a program may take to show its output port
STALL_S = 0.05
RECOVERED_WITHIN_MS = 2.0
TARGETS = ("baseline", "listen", "gui")
UNDERRUNS = re.compile(r"underruns (\d+)")


def add_parser(kinds) -> None:
    q = kinds.add_parser(
        "e2e", help="sound delay from the amplifier's bytes to the audio port, end to end",
        description="Time each pulse of an emulated SpikerBox from its bytes on the pty to "
        "its first sample on the program's JACK output port, for a minimal script, "
        "`listen` and the GUI, in one run.")
    q.add_argument("--json", action="store_true", help="print one JSON object")
    q.add_argument("--seconds", type=float, default=60.0, metavar="S",
                   help="seconds counted per program, after the first (default 60)")
    q.add_argument("--only", default=",".join(TARGETS), metavar="LIST",
                   help=f"which programs, comma-separated (default {','.join(TARGETS)})")
    q.add_argument("--stall", choices=("link", "jack"), default=None,
                   help=f"halfway, hold the emulator's link or stop the JACK server for "
                   f"{STALL_S * 1000:g} ms, and report the recovery")
    q.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from app.commands.errors import UsageError

    if not (np.isfinite(args.seconds) and 5 <= args.seconds <= 3600):
        raise UsageError(f"--seconds must be from 5 to 3600 (got {args.seconds:g})")
    only = [t.strip() for t in args.only.split(",") if t.strip()]
    unknown = sorted(set(only) - set(TARGETS))
    if unknown or not only:
        raise UsageError(f"--only takes some of {', '.join(TARGETS)} (got {args.only})")
    try:
        import jack  # noqa: F401
    except (ImportError, OSError) as e:
        raise UsageError(f"bench e2e needs the JACK client library ({e}): pip install "
                         "'needlepoint[bench]' and apt-get install jackd2") from None
    try:
        rep = bench_e2e(args.seconds, only, stall=args.stall)
    except RuntimeError as e:
        raise UsageError(str(e)) from None
    print(json.dumps(rep, indent=2) if args.json else format_e2e(rep))
    return 0


def bench_e2e(seconds: float, targets=TARGETS, *, stall: str | None = None) -> dict:
    with Jack() as server:
        print(f"bench e2e: {server.how}", file=sys.stderr)
        if stall == "jack" and server.proc is None:
            raise RuntimeError("--stall jack stops a JACK server started here; one was "
                               "already running: stop it, or use --stall link")
        runs = {}
        for target in targets:
            before = server.xruns()
            res = measure(target, seconds, server.env, stall=stall,
                          jackd=server.proc.pid if server.proc else None)
            after = server.xruns()
            res["jackd_xruns"] = {k: after[k] - before.get(k, 0) for k in after
                                  if after[k] > before.get(k, 0)}
            runs[target] = res
    base = runs.get("baseline", {}).get("delay_ms") or {}
    for name, res in runs.items():
        d = res.get("delay_ms") or {}
        if name != "baseline" and base.get("p50") and d.get("p50"):
            res["p50_over_baseline"] = round(d["p50"] / base["p50"], 2)
    return {"bench": "e2e", "seconds": seconds, "pulse_every_s": PULSE_EVERY_S,
            "jack": server.how, "fs_out": FS_OUT, "block": BLOCK,
            "cores": os.cpu_count(), "machine": machine(), "runs": runs}


class Capture:
    """A JACK client whose input takes a program's output port. Its process callback notes
    each onset (the first sample above THRESHOLD after QUIET_S of silence) as a time on
    time.monotonic()'s clock, the emulator's: the callback's own time, less what JACK says
    has passed since the cycle began, plus the sample's place in the cycle."""

    def __init__(self, env: dict):
        import jack

        self.client = jack.Client("needlepoint-e2e", no_start_server=True,
                                  servername=env.get("JACK_DEFAULT_SERVER"))
        self.port = self.client.inports.register("in")
        self.onsets: list[float] = []
        self._last_loud = -1 << 62
        self._quiet = int(QUIET_S * FS_OUT)
        self.client.set_process_callback(self._process)
        self.client.activate()

    def _process(self, frames: int) -> None:
        now = time.monotonic()
        block = self.port.get_array()
        if max(block.max(), -block.min()) > THRESHOLD:  # the cheap test, every cycle
            loud = np.flatnonzero(np.abs(block) > THRESHOLD)
            start = self.client.last_frame_time
            if start + int(loud[0]) - self._last_loud > self._quiet:
                began = now - self.client.frames_since_cycle_start / FS_OUT
                self.onsets.append(began + int(loud[0]) / FS_OUT)
            self._last_loud = start + int(loud[-1])

    def connect(self, proc: subprocess.Popen) -> str:
        """Take the first output port of the program's own (that appears), channel 1."""
        mine = self.client.name + ":"
        deadline = time.monotonic() + CONNECT_S
        while time.monotonic() < deadline and proc.poll() is None:
            ports = [p.name for p in self.client.get_ports(is_audio=True, is_output=True)
                     if not p.name.startswith(("system:", mine))]
            if ports:
                name = sorted(ports)[0]
                self.client.connect(name, self.port)
                return name
            time.sleep(0.02)
        raise RuntimeError("the program showed no JACK output port in "
                           f"{CONNECT_S:g} s" + (" (it exited)" if proc.poll() is not None
                                                 else ""))

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()


class Lines(threading.Thread):
    """A child's pipe read to its end (so the child never blocks on it), each line with
    the time.monotonic() it came."""

    def __init__(self, stream):
        super().__init__(daemon=True)
        self.stream = stream
        self.lines: list[tuple[float, str]] = []
        self.start()

    def run(self) -> None:
        for line in self.stream:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def text(self) -> str:
        return "\n".join(line for _, line in self.lines)


def _command(target: str, port: str, seconds: float) -> list[str]:
    if target == "baseline":
        return [sys.executable, "-m", "app.bench.baseline", port, str(seconds)]
    uri = f"spikerbox:{port}?hwt=MUSCLESS"
    if target == "listen":
        return [sys.executable, "-m", "app", "listen", "--device", uri,
                "--seconds", str(seconds)]
    return [sys.executable, "-m", "app", "gui", "--device", uri, "--status"]


def measure(target: str, seconds: float, env: dict, *, stall: str | None = None,
            jackd: int | None = None) -> dict:
    total = seconds + SETTLE_S + CONNECT_S
    root = Path(__file__).resolve().parents[2]
    with tempfile.TemporaryDirectory() as home:
        link, writes = f"{home}/box", f"{home}/writes.npy"
        child_env = {**env, "NEEDLEPOINT_HOME": home, "KIVY_NO_ARGS": "1",
                     "KIVY_NO_CONSOLELOG": "1", "KIVY_HOME": f"{home}/kivy"}
        # The board runs in a process of its own, as a real one runs on its own chip: in
        # this one it would hold the GIL the capture client's callback needs.
        board = subprocess.Popen(
            [sys.executable, "-m", "app", "emulate", "spikerbox", "--hwt", "MUSCLESS",
             "--pulses", str(PULSE_EVERY_S), "--link", link, "--writes", writes],
            env=child_env, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        try:
            _wait_for(lambda: os.path.lexists(link), board, "the emulator's pty")
            with Xvfb(child_env) if target == "gui" else contextlib.nullcontext():
                capture = Capture(env)
                proc = subprocess.Popen(_command(target, link, total), env=child_env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, cwd=root)
                err, out = Lines(proc.stderr), Lines(proc.stdout)
                try:
                    port = capture.connect(proc)
                    _wait_for(lambda: capture.onsets, proc, "sound from the program")
                    t0 = capture.onsets[0]
                    stall_at, end = None, t0 + SETTLE_S + seconds
                    while time.monotonic() < end and proc.poll() is None:
                        if stall and stall_at is None and \
                                time.monotonic() > t0 + SETTLE_S + seconds / 2:
                            stall_at = time.monotonic()
                            _hiccup(stall, board, jackd)
                        time.sleep(0.05)
                    alive = proc.poll() is None
                finally:
                    _end(proc)
                    capture.close()
        finally:
            _end(board, signal.SIGTERM)
        if not alive:
            raise RuntimeError(f"{target} ended early:\n{err.text()[-1500:]}")
        written = np.load(writes)
    return _report(target, port, t0, end, written, capture, out.lines, stall_at, stall)


def _hiccup(what: str, board: subprocess.Popen, jackd: int | None) -> None:
    if what == "link":
        board.send_signal(signal.SIGUSR1)  # the emulator holds its link STALL_S
        return
    os.kill(jackd, signal.SIGSTOP)
    time.sleep(STALL_S)
    os.kill(jackd, signal.SIGCONT)


def _wait_for(ready, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + CONNECT_S
    while not ready():
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError(f"no {what} within {CONNECT_S:g} s"
                               + (" (it exited)" if proc.poll() is not None else ""))
        time.sleep(0.01)


def _end(proc: subprocess.Popen, how=signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(how)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def delays(writes: np.ndarray, onsets: list[float], since: float,
           until: float) -> tuple[np.ndarray, np.ndarray, int]:
    """(onset times, their delays in seconds, pulses written in the span with no onset):
    each onset in [since, until) is matched to the last pulse written before it."""
    pulses = writes[writes[:, 3] >= 0]
    pulses = pulses[pulses[:, 3] < pulses[:, 1]]  # the pulse's frame left in that write
    written = pulses[:, 2]
    times, found, used = [], [], set()
    for t in onsets:
        if not since <= t < until:
            continue
        k = bisect.bisect_right(written, t) - 1
        if k >= 0 and t - written[k] < MAX_DELAY_S and k not in used:
            used.add(k)
            times.append(t)
            found.append(t - written[k])
    span = (written >= since - MAX_DELAY_S) & (written < until - MAX_DELAY_S)
    missed = int(span.sum()) - len([k for k in used if span[k]])
    return np.asarray(times), np.asarray(found), max(missed, 0)


def _report(target, port, t0, end, writes, capture, lines, stall_at, stall=None) -> dict:
    since = t0 + SETTLE_S
    times, d, missed = delays(writes, capture.onsets, since, end)
    ms = d * 1000
    rep = {"program": target, "port": port, "pulses": int(ms.size), "missed": missed,
           "delay_ms": _pct(ms),
           "slope_ms_per_min": (round(float(np.polyfit((times - t0) / 60, ms, 1)[0]), 3)
                                if ms.size > 2 else None),
           "underruns_after_1s": _underruns(lines, since),
           "series_ms": [round(float(v), 2) for v in ms]}
    if stall_at is not None:
        rep["stall"] = {"what": stall, **_recovery(times, ms, stall_at)}
    gl = [line for _, line in lines if line.startswith("GL ")]
    if gl:
        rep["gl"] = gl[-1][3:]
    return rep


def _pct(ms: np.ndarray) -> dict | None:
    if ms.size == 0:
        return None
    p50, p99 = np.percentile(ms, [50, 99])
    return {"p50": round(float(p50), 2), "p99": round(float(p99), 2),
            "max": round(float(ms.max()), 2)}


def _underruns(lines, since: float) -> int | None:
    counts = [(t, int(m.group(1))) for t, line in lines
              if (m := UNDERRUNS.search(line))]
    if not counts:
        return None
    before = [c for t, c in counts if t <= since]
    return counts[-1][1] - (before[-1] if before else 0)


def _recovery(times: np.ndarray, ms: np.ndarray, stall_at: float) -> dict:
    """The p99 before the stall, and how long after it until every delay is within
    RECOVERED_WITHIN_MS of it again."""
    before = ms[times < stall_at]
    after_t, after = times[times >= stall_at], ms[times >= stall_at]
    if before.size < 5 or after.size == 0:
        return {"stall_ms": STALL_S * 1000, "recovered_s": None}
    p99 = float(np.percentile(before, 99))
    bad = np.flatnonzero(after > p99 + RECOVERED_WITHIN_MS)
    # From the stall to the first pulse from which on every delay is back (the pulses are
    # 0.5 s apart: that is the resolution).
    first_good = 0 if bad.size == 0 else bad[-1] + 1
    recovered = float(after_t[first_good] - stall_at) if first_good < after.size else None
    return {"stall_ms": STALL_S * 1000, "p99_before_ms": round(p99, 2),
            "recovered_s": None if recovered is None else round(recovered, 2),
            "worst_after_ms": round(float(after.max()), 2)}


def format_e2e(rep: dict) -> str:
    lines = [f"bench e2e: pulses every {rep['pulse_every_s']:g} s, counted from 1 s after "
             f"the first sound, {rep['seconds']:g} s per program; {rep['jack']}; "
             f"{rep['cores']} cores"]
    for name, r in rep["runs"].items():
        d = r["delay_ms"] or {}
        ratio = (f", p50 {r['p50_over_baseline']:g} x the baseline's"
                 if "p50_over_baseline" in r else "")
        lines.append(
            f"{name:>8}: delay p50 {d.get('p50')} ms, p99 {d.get('p99')} ms, max "
            f"{d.get('max')} ms over {r['pulses']} pulses ({r['missed']} missed){ratio}; "
            f"slope {r['slope_ms_per_min']} ms/min; underruns after 1 s "
            f"{r['underruns_after_1s']}; jackd xruns "
            + (", ".join(f"{n} ({who})" for who, n in r["jackd_xruns"].items()) or "0")
            + (f"; GL {r['gl']}" if r.get("gl") else ""))
        if "stall" in r:
            s = r["stall"]
            lines.append(f"          after a {s['stall_ms']:g} ms {s['what']} stall: p99 back "
                         "within "
                         f"{RECOVERED_WITHIN_MS:g} ms of {s.get('p99_before_ms')} ms in "
                         f"{s['recovered_s']} s (worst {s.get('worst_after_ms')} ms)")
    return "\n".join(lines)
