"""`needlepoint bench audio`: the audio path under a simulated clock.

An amplifier's chunks meet a sound card's callbacks, both on simulated time, for ten
simulated minutes at each block size:

- the amplifier's crystal runs `DRIFT` fast (a SpikerBox: 0.5 %): sample k exists at
  k / (fs * (1 + DRIFT)) seconds;
- the reader thread wakes every `READ_MS` (4 ms) of host time, late by scheduling jitter
  (half-normal, sigma `JITTER_S`), and takes every sample that crossed the link (`LINK_S`)
  by then, as a serial read does: so chunk lengths vary with the wake times. A stress run
  adds stalls of the reader thread (`STALL_P` of wakes, 1-3 ms: a loaded machine), after
  which the chunks behind arrive in a burst;
- the card calls back every blocksize / 48 000 s exactly and takes its block from the ring
  with the same `AudioRing.read_into` the real callback runs; each chunk goes through the
  real `AudioPath.push` (resampler, fill control, renderer) when it arrives.

Each sample played is traced back to the input sample it stands for (the resampler
reports the input position of every output) and so to the arrival of its chunk: its delay
is the callback's time minus that arrival. The signal is the filtered simulator
(denervated, 20 kHz), looped. Nothing here is timed by the machine's clock, so the figures
are the design's, the same on any machine; the CPU cost of the reader's part is timed
separately (thread CPU time per chunk).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from app.session.audio import AudioPath, VirtualCard

FS_IN = 20000.0
FS_OUT = 48000.0
DRIFT = 0.005
READ_MS = 4.0
LINK_S = 0.0005
JITTER_S = 0.0005
STALL_P = 0.001  # in the stress run: about one stall every 4 s
STALL_MS = (1.0, 3.0)
BLOCKS = (64, 128, 256)
SETTLE_S = 1.0  # underruns in the first second are reported apart
TARGETS = {"p99_ms": 10.0, "underruns_after_1s": 0, "drift_ms": 1.0}  # at block size 128
SOURCE = "sim:denervated?grade=3&seed=5"


@dataclass
class Arrivals:
    ends: np.ndarray  # index one past each chunk's last sample
    times: np.ndarray  # when each chunk reached the reader


def arrivals(seconds: float, rng: np.random.Generator, fs: float = FS_IN,
             drift: float = DRIFT, stall_p: float = 0.0) -> Arrivals:
    """The reader wakes every READ_MS of host time, late by half-normal jitter and now and
    then by a stall, and takes every sample that has crossed the link by then."""
    rate = fs * (1 + drift)  # samples per second of true time
    n = int(seconds * 1000 / READ_MS)
    wakes = (np.arange(1, n + 1) * READ_MS / 1000
             + np.abs(rng.normal(0, JITTER_S, n)))
    stalls = rng.random(n) < stall_p
    wakes[stalls] += rng.uniform(*STALL_MS, stalls.sum()) / 1000
    times = np.maximum.accumulate(wakes)  # a stalled reader delays the wakes behind it
    ends = np.floor((times - LINK_S) * rate).astype(np.int64)
    keep = np.concatenate(([True], np.diff(ends) > 0)) & (ends > 0)
    return Arrivals(ends[keep], times[keep])


def source_signal(seconds: float = 10.0) -> np.ndarray:
    """The filtered simulator, as the reader thread would hand it to the audio path."""
    from devices.simulator import render
    from dsp.filters import FilterChain

    x, _ = render(SOURCE + f"&fs={FS_IN:g}", seconds)
    return FilterChain(FS_IN).process(x.astype(np.float32)).astype(np.float32)


def run_block(blocksize: int, seconds: float, signal: np.ndarray, seed: int = 1,
              stall_p: float = 0.0) -> dict:
    rng = np.random.default_rng(seed)
    arr = arrivals(seconds, rng, stall_p=stall_p)
    path = AudioPath(FS_IN, fs_out=FS_OUT, blocksize=blocksize)
    capacity = int(seconds * FS_OUT * 1.1) + 100000
    positions = np.full(capacity, np.nan)  # input position of every sample written
    delays = np.full(capacity, np.nan, np.float32)  # per sample played
    played_at = np.zeros(capacity, np.float32)
    underrun_times: list[float] = []
    seen = [0, 0]  # samples played, underruns counted

    def sink(block, taken, t, first_read):
        if path.ring.underruns != seen[1]:
            seen[1] = path.ring.underruns
            underrun_times.append(t)
        if not taken:
            return
        pos = positions[first_read:first_read + taken]
        real = ~np.isnan(pos)
        k = np.round(pos[real]).astype(np.int64)
        chunk = np.searchsorted(arr.ends, k, side="right")
        i = seen[0]
        m = int(real.sum())
        delays[i:i + m] = t - arr.times[chunk]
        played_at[i:i + m] = t
        seen[0] = i + m

    card = VirtualCard(path.ring, FS_OUT, blocksize, float(arr.times[0]), sink)
    start = 0
    cpu = 0.0
    loop = len(signal)
    for end, t in zip(arr.ends, arr.times, strict=True):
        card.run_until(t)
        idx = np.arange(start, end) % loop
        c0 = time.thread_time()
        pos = path.push(signal[idx], start)
        cpu += time.thread_time() - c0
        w = path.ring.written
        positions[w - len(pos):w] = pos
        start = int(end)
    card.run_until(float(arr.times[-1]))  # (after the last chunk the ring runs dry)
    n = seen[0]
    return _report(blocksize, seconds, delays[:n], played_at[:n], underrun_times, path,
                   cpu / len(arr.ends), float(np.mean(np.diff(arr.ends)) / FS_IN))


def _report(blocksize, seconds, delays, played_at, underrun_times, path, cpu_per_chunk,
            chunk_s) -> dict:
    ms = delays.astype(np.float64) * 1000
    first = ms[played_at < 60]
    last = ms[played_at >= played_at[-1] - 60]
    ring = path.ring
    after = [t for t in underrun_times if t >= SETTLE_S + float(played_at[0])]
    return {
        "blocksize": blocksize,
        "block_ms": round(blocksize / FS_OUT * 1000, 2),
        "simulated_s": seconds,
        "samples_played": int(len(ms)),
        "delay_ms": {"p50": round(float(np.percentile(ms, 50)), 2),
                     "p99": round(float(np.percentile(ms, 99)), 2),
                     "max": round(float(ms.max()), 2),
                     "min": round(float(ms.min()), 2)},
        "drift_ms": round(float(np.median(last) - np.median(first)), 3),
        "underruns": len(underrun_times),
        "underruns_after_1s": len(after),
        "overruns": ring.overruns,
        "skipped_samples": ring.skipped,
        "target_fill_ms": round(path.renderer.control.target_s * 1000, 2),
        "ratio_correction_ppm": round(path.renderer.control.correction * 1e6),
        "reader_cpu_us_per_chunk": round(cpu_per_chunk * 1e6, 1),
        "reader_cpu_share": round(cpu_per_chunk / chunk_s, 4),
    }


def click_lateness(seconds: float = 30.0) -> dict:
    """Click mode on the simulator with the real analyser: how late each tick comes after
    the potential's own sound (the analyser decides with up to 30 ms of look-ahead)."""
    from devices.simulator import render
    from dsp.chain import SignalChain

    x, _ = render(SOURCE + f"&fs={FS_IN:g}", seconds)
    chain = SignalChain(FS_IN)
    path = AudioPath(FS_IN, fs_out=FS_OUT, mode="click")
    card = VirtualCard(path.ring, FS_OUT, 128, 0.0, lambda *a: None)
    step = int(0.004 * FS_IN)
    for i in range(0, len(x) - step + 1, step):
        filtered = chain.filters.process(x[i:i + step].astype(np.float32))
        path.push(filtered, i)
        path.potentials(chain.analyser.process(filtered), FS_IN)
        card.run_until((i + step) / FS_IN)
    late = np.array(path.renderer.tick_lateness_s) * 1000
    return {"ticks": int(len(late)),
            "lateness_ms": {"p50": round(float(np.percentile(late, 50)), 1),
                            "p99": round(float(np.percentile(late, 99)), 1),
                            "max": round(float(late.max()), 1)} if len(late) else None}


def bench_audio(seconds: float = 600.0, blocks=BLOCKS) -> dict:
    signal = source_signal()
    runs = [run_block(b, seconds, signal) for b in blocks]
    stress = run_block(128, seconds, signal, stall_p=STALL_P)
    at128 = next((r for r in runs if r["blocksize"] == 128), None)
    verdict = None
    if at128:
        verdict = {"p99_ms": at128["delay_ms"]["p99"] <= TARGETS["p99_ms"],
                   "underruns_after_1s": at128["underruns_after_1s"] == 0,
                   "drift_ms": abs(at128["drift_ms"]) < TARGETS["drift_ms"]}
    return {"bench": "audio", "fs_in": FS_IN, "fs_out": FS_OUT, "device_drift": DRIFT,
            "read_ms": READ_MS, "jitter_ms": JITTER_S * 1000, "runs": runs,
            "stress_at_128": {"stall_p": STALL_P, "stall_ms": list(STALL_MS), **stress},
            "click": click_lateness(min(seconds, 30.0)),
            "targets_at_128": TARGETS, "met_at_128": verdict}


def add_parser(kinds) -> None:
    a = kinds.add_parser(
        "audio", help="the audio path on a simulated clock: delay, underruns, drift",
        description="Drive the real audio path (resampler, fill control, renderer, ring) "
        "with an amplifier's chunks (4 ms reads with jitter, clock 0.5 %% fast) and a "
        "simulated 48 kHz sound card at block sizes 64, 128 and 256; report each sample's "
        "delay from arrival to leaving the callback, underruns, overruns and drift, a "
        "stress run with reader stalls, and how late click-mode ticks come.")
    a.add_argument("--json", action="store_true", help="print one JSON object")
    a.add_argument("--seconds", type=float, default=600.0, metavar="S",
                   help="simulated seconds per block size (default 600)")
    a.set_defaults(func=run)


def run(args) -> int:
    from app.commands.errors import UsageError

    if not (np.isfinite(args.seconds) and 5 <= args.seconds <= 3600):
        raise UsageError(f"--seconds must be from 5 to 3600 (got {args.seconds:g})")
    rep = bench_audio(args.seconds)
    if args.json:
        import json

        print(json.dumps(rep, indent=2))
    else:
        print(format_audio(rep))
    return 0


def format_audio(rep: dict) -> str:
    lines = [f"bench audio: {rep['fs_in']:g} Hz amplifier ({rep['device_drift'] * 100:+.1f} % "
             f"clock, reads every {rep['read_ms']:g} ms, jitter {rep['jitter_ms']:g} ms) "
             f"into a {rep['fs_out']:g} Hz card",
             "block  delay p50   p99    max (ms)  drift   underruns(after 1 s)  skipped  "
             "target  reader CPU"]
    for r in rep["runs"] + [rep["stress_at_128"]]:
        d = r["delay_ms"]
        name = f"{r['blocksize']:>5}" + ("*" if "stall_p" in r else " ")
        lines.append(f"{name} {d['p50']:8.2f} {d['p99']:6.2f} {d['max']:6.2f}      "
                     f"{r['drift_ms']:+6.2f}  {r['underruns']:4d} ({r['underruns_after_1s']})"
                     f"{r['skipped_samples']:19d}  {r['target_fill_ms']:5.2f}  "
                     f"{r['reader_cpu_share'] * 100:5.1f} %")
    lines.append("* stress: reader stalls of "
                 f"{rep['stress_at_128']['stall_ms'][0]:g}-{rep['stress_at_128']['stall_ms'][1]:g}"
                 f" ms on {rep['stress_at_128']['stall_p'] * 100:g} % of reads")
    c = rep["click"]
    if c["lateness_ms"]:
        lc = c["lateness_ms"]
        lines.append(f"click mode: {c['ticks']} ticks, each after its potential's sound by "
                     f"p50 {lc['p50']} ms, p99 {lc['p99']} ms, max {lc['max']} ms")
    met = rep["met_at_128"]
    if met:
        lines.append("targets at 128: " + ", ".join(
            f"{k} {'met' if v else 'NOT met'}" for k, v in met.items()))
    return "\n".join(lines)
