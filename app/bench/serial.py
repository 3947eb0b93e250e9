"""How fast the SpikerBox decoder runs: a long, realistic stream cut as a USB link cuts it.

The stream is 2 channels at 10 kHz, 14-bit (a 14-bit Neuron SpikerBox Pro: 40 kB/s), with
an event block now and then, fed in pieces of 1-5 ms cut at any byte. The figure to beat is
25 times 200 kB/s, five times the fastest board (Spike Station, about 85 kB/s), so that
decoding stays a small part of a reader thread's time. The stream is built before timing;
each repeat runs on a fresh decoder and the one with the least CPU time is reported.
"""

from __future__ import annotations

import argparse
import bisect
import json
import time

import numpy as np

from app.bench.common import check_seconds, machine
from devices.spikerbox.protocol import Decoder, encode_frames, encode_message

FS = 10_000.0
CHANNELS = 2
REFERENCE_BYTES_PER_S = 200_000.0
TARGET_RATIO = 25.0
PIECE_S = (0.001, 0.005)
EVENT_EVERY_S = 2.0


def realistic_stream(seconds: float, seed: int = 0) -> tuple[bytes, int]:
    """The bytes of `seconds` of 14-bit noise and spikes with an EVNT block every
    EVENT_EVERY_S, and how many frames they hold."""
    rng = np.random.default_rng(seed)
    frames = int(seconds * FS)
    signal = rng.normal(0.0, 40.0, (frames, CHANNELS))
    spikes = rng.random(frames) < 5.0 / FS
    signal[spikes] += rng.normal(0.0, 2000.0, (int(spikes.sum()), CHANNELS))
    counts = np.clip(np.rint(signal) + 8192, 0, 16383).astype(np.int16)
    every = int(EVENT_EVERY_S * FS)
    parts = []
    for n, first in enumerate(range(0, frames, every)):
        parts.append(encode_frames(counts[first:first + every]))
        parts.append(encode_message(f"EVNT:{n % 10};"))
    return b"".join(parts), frames


def _pieces(stream: bytes, seed: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    bytes_per_s = FS * CHANNELS * 2
    sizes = np.maximum(1, (rng.uniform(*PIECE_S, len(stream) // 40 + 1) * bytes_per_s))
    cuts = np.cumsum(sizes.astype(np.int64))
    cuts = cuts[cuts < len(stream)]
    return [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]


def _decode(pieces: list[bytes]) -> tuple[float, float, Decoder]:
    decoder = Decoder(CHANNELS)
    cpu, wall = time.process_time(), time.perf_counter()
    for piece in pieces:
        decoder.feed(piece)
    return time.process_time() - cpu, time.perf_counter() - wall, decoder


def decoder_bench(seconds: float = 30.0, *, repeats: int = 3, seed: int = 0) -> dict:
    """Decode `seconds` of stream in 1-5 ms pieces; bytes per CPU second and the ratio to
    200 kB/s (target TARGET_RATIO). Checks that every frame came out."""
    stream, frames = realistic_stream(seconds, seed)
    pieces = _pieces(stream, seed + 1)
    runs = [_decode(pieces) for _ in range(max(1, repeats))]
    cpu, wall, decoder = min(runs, key=lambda r: r[0])
    if decoder.frames_total != frames or decoder.discarded_bytes:
        raise AssertionError(f"decoder lost data: {decoder.frames_total} of {frames} frames, "
                             f"{decoder.discarded_bytes} bytes discarded")
    bytes_per_s = len(stream) / max(cpu, 1e-9)
    ratio = bytes_per_s / REFERENCE_BYTES_PER_S
    return {
        "stream_s": seconds,
        "bytes": len(stream),
        "pieces": len(pieces),
        "mean_piece_bytes": len(stream) / len(pieces),
        "frames": frames,
        "blocks": decoder.blocks,
        "cpu_s": cpu,
        "wall_s": wall,
        "bytes_per_s": bytes_per_s,
        "us_per_piece": cpu / len(pieces) * 1e6,
        "reference_bytes_per_s": REFERENCE_BYTES_PER_S,
        "ratio": ratio,
        "target_ratio": TARGET_RATIO,
        "pass": ratio >= TARGET_RATIO,
    }


LATENCY_BURST_S = 0.002  # how often the pretend board hands bytes to the link


def reader_latency(seconds: float = 5.0) -> dict:
    """Bytes-to-chunk delay through the spikerbox: device's reader thread, over a real
    pseudo-terminal: a writer hands 2 ms of 1-channel 10-bit frames to the pty every 2 ms,
    noting when; each chunk's delay is from the write of its last frame to its arrival."""
    import os
    import threading
    import tty

    from devices import make_device

    master, slave = os.openpty()
    tty.setraw(slave)
    writes: list[tuple[int, float]] = []  # (frames written so far, monotonic time)
    stop = threading.Event()
    per_burst = int(FS * LATENCY_BURST_S)
    rng = np.random.default_rng(0)

    def board() -> None:
        sent = 0
        while not stop.wait(LATENCY_BURST_S):
            counts = np.clip(rng.normal(512, 30, (per_burst, 1)), 0, 1023).astype(np.int16)
            os.write(master, encode_frames(counts))
            sent += per_burst
            writes.append((sent, time.monotonic()))

    dev = make_device(f"spikerbox:{os.ttyname(slave)}?hwt=MUSCLESS&uv_per_count=1")
    delays = []
    with dev:
        writer = threading.Thread(target=board, daemon=True)
        writer.start()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            chunk = dev.read(0.5)
            if chunk is None:
                continue
            # the write that completed the chunk's last frame (writes are in order)
            k = bisect.bisect_left(writes, chunk.end_index, key=lambda w: w[0])
            if k < len(writes):
                delays.append(chunk.arrival - writes[k][1])
        stop.set()
        writer.join()
    os.close(master)
    os.close(slave)
    ms = np.asarray(delays) * 1e3
    return {"chunks": int(ms.size), "burst_ms": LATENCY_BURST_S * 1e3,
            "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
            "max_ms": float(ms.max())}


def add_parser(kinds) -> None:
    r = kinds.add_parser(
        "serial", help="the SpikerBox decoder and reader against their budgets",
        description="Decode a long 2-channel 14-bit SpikerBox stream cut in 1-5 ms pieces "
        "(target: 25 x 200 kB/s), and measure the bytes-to-chunk delay through the device's "
        "reader thread over a real pseudo-terminal (p50, p99, max).",
    )
    r.add_argument("--json", action="store_true", help="print one JSON object")
    r.add_argument("--seconds", type=float, default=30.0, metavar="S",
                   help="seconds of stream to decode (default 30); the pty runs 5 s")
    r.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_seconds(args.seconds)
    report = {"decoder": decoder_bench(args.seconds), "reader": reader_latency(5.0),
              "machine": machine()}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    d, r = report["decoder"], report["reader"]
    print(f"decoder: {d['bytes_per_s'] / 1e6:.1f} MB/s of CPU time, {d['ratio']:.0f} x the "
          f"200 kB/s link (target {d['target_ratio']:g} x): {'PASS' if d['pass'] else 'FAIL'}"
          f"; {d['frames']} frames, {d['pieces']} pieces, {d['us_per_piece']:.1f} us each")
    print(f"reader over a pty: bytes to chunk p50 {r['p50_ms']:.2f} ms, p99 "
          f"{r['p99_ms']:.2f} ms, max {r['max_ms']:.2f} ms ({r['chunks']} chunks, "
          f"{r['burst_ms']:g} ms bursts)")
    return 0
