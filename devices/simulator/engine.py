"""The simulator's engine: renders sources into samples block by block, and keeps the ground
truth of everything it rendered.

Determinism: samples are rendered in fixed internal blocks, whatever size the reader asks
for; every random stream is keyed by (seed, purpose, ...) rather than drawn from one shared
generator, and controls take effect at the next block boundary. So the same seed and the same
control schedule give the same samples, paced or not, in any chunking.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from devices.simulator.shapes import Shape

BLOCK_S = 0.010  # internal render block; controls act with at most this delay
LOOKAHEAD_S = 0.030  # longer than any template's part before its origin


@dataclass
class Pot:
    """A potential to render: template origin time, shape, gain, and its truth labels
    (kind None for potentials that are part of a segment, not scored one by one)."""

    t: float
    shape: Shape
    gain: float = 1.0
    kind: str | None = None
    train: int | None = None


@dataclass
class Controls:
    """What a trainer (or the app) can change while the simulator runs."""

    effort: float | None = None  # 0..1; None: the scenario's own effort profile
    proximity: float = 0.8  # 0 far .. 1 tip on the nearest unit
    moves: int = 0  # needle moves requested and not yet applied


@dataclass
class Truth:
    """Ground truth of what was rendered. Event times are those of the largest absolute peak
    in seconds of the device's sample count (index / fs)."""

    fs: float
    events: list[dict] = field(default_factory=list)
    trains: list[dict] = field(default_factory=list)
    segments: list[dict] = field(default_factory=list)
    clipped: list[dict] = field(default_factory=list)
    moves: list[float] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"fs": self.fs, "events": self.events, "trains": self.trains,
                "segments": self.segments, "clipped": self.clipped, "moves": self.moves}


class World:
    """What sources see: the sample rate, the controls, keyed random streams, and the
    places to declare trains and segments."""

    def __init__(self, fs: float, seed: int, controls: Controls):
        self.fs = fs
        self.seed = seed
        self.controls = controls
        self.now = 0.0  # start of the block being rendered
        self._trains: list[dict] = []
        self._segments: list[dict] = []

    def rng(self, *key: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, *key])

    def new_train(self, kind: str) -> int:
        self._trains.append({"id": len(self._trains) + 1, "kind": kind})
        return len(self._trains)

    def segment(self, kind: str, start: float, end: float) -> dict:
        """Declare a segment; its end may be moved later (math.inf while it lasts)."""
        seg = {"start": start, "end": end, "kind": kind}
        self._segments.append(seg)
        return seg


class Source:
    """Something that fires potentials. `pots(world, until)` yields, in time order, every
    potential whose origin lies before `until` not yet yielded; `on_move` reacts to a needle
    move at the world's current time."""

    def pots(self, world: World, until: float) -> Iterator[Pot]:
        return iter(())

    def on_move(self, world: World) -> None:
        pass


class Engine:
    def __init__(self, fs: float, seed: int, *, noise_uv: float, mains_hz: float,
                 hum_uv: float, clip_uv: float, controls: Controls | None = None):
        self.fs = fs
        self.controls = controls or Controls()
        self.world = World(fs, seed, self.controls)
        self.sources: list[Source] = []
        self.noise_uv = noise_uv
        self.mains_hz = mains_hz
        self.hum_uv = hum_uv
        self.clip_uv = clip_uv
        self.block = max(1, round(BLOCK_S * fs))
        self.k = 0  # next internal block
        self._active: list[tuple[Pot, int, int]] = []
        self._events: list[dict] = []
        self._clipped: list[dict] = []
        self._moves: list[float] = []
        self.move_every_s = 0.0
        self._next_auto_move = float("inf")
        self._lock = threading.Lock()  # guards Controls between the app and the reader
        hum_rng = self.world.rng(2)
        self._hum_phase = hum_rng.uniform(0, 2 * np.pi, size=3)

    def attach(self, sources: list[Source], move_every_s: float) -> None:
        """Sources are made with this engine's world, so they are attached after it."""
        self.sources = sources
        self.move_every_s = move_every_s
        self._next_auto_move = move_every_s if move_every_s > 0 else float("inf")

    # controls from any thread ------------------------------------------------------------
    def move_needle(self) -> None:
        with self._lock:
            self.controls.moves += 1

    def set_effort(self, effort: float | None) -> None:
        with self._lock:
            self.controls.effort = None if effort is None else float(np.clip(effort, 0, 1))

    def set_proximity(self, proximity: float) -> None:
        with self._lock:
            self.controls.proximity = float(np.clip(proximity, 0, 1))

    # rendering ---------------------------------------------------------------------------
    @property
    def rendered(self) -> int:
        return self.k * self.block

    def render_block(self) -> np.ndarray:
        start = self.k * self.block
        end = start + self.block
        world = self.world
        world.now = start / self.fs
        self._apply_moves(world)
        until = end / self.fs + LOOKAHEAD_S
        for src in self.sources:
            for pot in src.pots(world, until):
                self._admit(pot)
        out = self._noise(start) + self._hum(start, end)
        keep = []
        for pot, a, b in self._active:
            lo, hi = max(a, start), min(b, end)
            if lo < hi:
                t = np.arange(lo, hi) / self.fs - pot.t
                out[lo - start: hi - start] += pot.gain * pot.shape(t)
            if b > end:
                keep.append((pot, a, b))
        self._active = keep
        self._clip(out, start)
        self.k += 1
        return out.astype(np.float32)

    def _apply_moves(self, world: World) -> None:
        with self._lock:
            moves, self.controls.moves = self.controls.moves, 0
        if world.now >= self._next_auto_move:
            moves += 1
            self._next_auto_move += self.move_every_s
        for _ in range(moves):
            self._moves.append(world.now)
            for src in self.sources:
                src.on_move(world)

    def _admit(self, pot: Pot) -> None:
        a = int(np.ceil((pot.t + pot.shape.start) * self.fs))
        b = int(np.floor((pot.t + pot.shape.end) * self.fs)) + 1
        self._active.append((pot, a, b))
        if pot.kind is not None:
            peak = pot.t + pot.shape.peak_offset
            event = {
                "t": round(peak, 6), "index": int(round(peak * self.fs)), "kind": pot.kind,
                "amplitude_uv": round(pot.shape.pp_uv * pot.gain, 2),
                "duration_ms": round(pot.shape.duration_ms, 3),
                "initial": pot.shape.initial, "train": pot.train,
            }
            if pot.kind in ("muap", "fasciculation"):
                event["rise_us"] = round(pot.shape.rise_us, 1)
            self._events.append(event)

    def _noise(self, start: int) -> np.ndarray:
        if self.noise_uv <= 0:
            return np.zeros(self.block)
        return self.world.rng(1, self.k).normal(0.0, self.noise_uv, self.block)

    def _hum(self, start: int, end: int) -> np.ndarray:
        if self.hum_uv <= 0 or self.mains_hz <= 0:
            return 0.0
        t = np.arange(start, end) / self.fs
        w = 2 * np.pi * self.mains_hz
        p = self._hum_phase
        # Mains pick-up is mostly the fundamental with odd harmonics from rectifier loads.
        return self.hum_uv * (np.sin(w * t + p[0]) + 0.3 * np.sin(3 * w * t + p[1])
                              + 0.1 * np.sin(5 * w * t + p[2]))

    def _clip(self, out: np.ndarray, start: int) -> None:
        over = np.abs(out) >= self.clip_uv
        if not over.any():
            return
        np.clip(out, -self.clip_uv, self.clip_uv, out=out)
        idx = np.flatnonzero(over) + start
        breaks = np.flatnonzero(np.diff(idx) > 1)
        for s, e in zip(np.r_[idx[0], idx[breaks + 1]], np.r_[idx[breaks], idx[-1]],
                        strict=True):
            if self._clipped and self._clipped[-1]["end_index"] >= s - 1:
                self._clipped[-1]["end_index"] = int(e)
            else:
                self._clipped.append({"start_index": int(s), "end_index": int(e)})

    # ground truth -------------------------------------------------------------------------
    def truth(self) -> Truth:
        """Everything whose largest peak has been rendered so far."""
        done = self.rendered
        fs = self.fs
        events = [e for e in self._events if e["index"] < done]
        events.sort(key=lambda e: e["t"])
        segments = []
        for s in self.world._segments:
            if s["start"] * fs < done and s["end"] > s["start"]:
                segments.append({**s, "end": min(s["end"], done / fs)})
        segments.sort(key=lambda s: (s["start"], s["kind"]))
        clipped = [{"start": c["start_index"] / fs, "end": (c["end_index"] + 1) / fs}
                   for c in self._clipped]
        return Truth(fs=fs, events=events, trains=_train_stats(self.world._trains, events),
                     segments=segments, clipped=clipped,
                     moves=[m for m in self._moves if m * fs < done])


def _train_stats(trains: list[dict], events: list[dict]) -> list[dict]:
    """Each train's realised count, rate and regularity, from the events rendered."""
    times: dict[int, list[float]] = {}
    for e in events:
        if e["train"] is not None:
            times.setdefault(e["train"], []).append(e["t"])
    out = []
    for tr in trains:
        ts = np.array(times.get(tr["id"], []))
        isi = np.diff(ts)
        # Pauses (a train that stops and restarts, a tip that left the end-plate zone) are
        # not part of its firing rate.
        if isi.size:
            isi = isi[isi < max(3 * np.median(isi), 0.5)]
        rate = float(1 / isi.mean()) if isi.size else 0.0
        cv = float(isi.std() / isi.mean()) if isi.size > 1 else 0.0
        if ts.size:
            out.append({"id": tr["id"], "kind": tr["kind"], "count": int(ts.size),
                        "rate_hz": round(rate, 3), "cv": round(cv, 4)})
    return out
