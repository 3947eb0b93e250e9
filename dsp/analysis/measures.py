"""Numbers for the screen, updated as the signal comes: RMS, turns per second, spike rates
per kind, trains, the nearest motor unit (proximity) and an end-plate noise measure; and
the same over a whole recording for `analyze`'s summary."""

from __future__ import annotations

from collections import deque

import numpy as np

from dsp.analysis.results import Event
from dsp.blocks import Blocks

TURN_UV = 100.0  # a turn: a change of direction after a swing of at least this much
WINDOW_S = 1.0  # the live measures look back this far
RATE_WINDOW_S = 5.0
CRISP_RISE_US = 500.0  # a rise this short means the tip is inside the unit's territory


class Turns:
    """Counts turns (Willison): reversals of direction after a swing of at least TURN_UV,
    streaming over chunks of any size (a zigzag with hysteresis)."""

    def __init__(self):
        self.direction = 0  # +1 rising, -1 falling, 0 not yet known
        self.high = self.low = None  # running extremes while the direction is unknown
        self.extreme = 0.0  # the running extreme in the current direction

    def push(self, x: np.ndarray) -> np.ndarray:
        """Positions (in x) of the turns completed in this chunk."""
        if x.size == 0:
            return np.zeros(0, np.int64)
        # Only local extrema can be turns. Between two turns the running extreme is a
        # running max (rising) or min (falling), so each stretch up to the next turn is
        # one accumulate: a few numpy calls per turn instead of a Python step per
        # extremum (a noisy second has thousands). Values in float64 whatever the chunk's
        # dtype: the turns are those of a plain loop over the samples.
        dx = np.diff(x)
        ext = np.flatnonzero(np.sign(dx[1:]) != np.sign(dx[:-1])) + 1
        positions = np.r_[0, ext, x.size - 1]
        values = x[positions].astype(np.float64)
        turns = []
        k = 0
        while k < values.size:
            seg = values[k:]
            if self.direction == 0:
                k += self._find_direction(seg)
            elif self.direction > 0:
                run = np.maximum(np.maximum.accumulate(seg), self.extreme)
                k += self._turn(seg, run - seg, run, turns, positions, k)
            else:
                run = np.minimum(np.minimum.accumulate(seg), self.extreme)
                k += self._turn(seg, seg - run, run, turns, positions, k)
        return np.asarray(turns, np.int64)

    def _find_direction(self, seg: np.ndarray) -> int:
        """No direction yet: the first swing of TURN_UV from the running extremes sets it
        (falling first, when both). Returns how much of `seg` was used."""
        high = np.maximum.accumulate(seg)
        low = np.minimum.accumulate(seg)
        if self.high is not None:
            high, low = np.maximum(high, self.high), np.minimum(low, self.low)
        fall, rise = high - seg >= TURN_UV, seg - low >= TURN_UV
        hit = np.flatnonzero(fall | rise)
        if not hit.size:
            self.high, self.low = float(high[-1]), float(low[-1])
            return seg.size
        i = int(hit[0])
        self.direction = -1 if fall[i] else 1
        self.extreme = float(seg[i])
        return i + 1

    def _turn(self, seg, swing, run, turns, positions, k) -> int:
        """In a direction: the first point `swing` (back from the running extreme `run`)
        reaches TURN_UV is a turn. Returns how much of `seg` was used."""
        hit = np.flatnonzero(swing >= TURN_UV)
        if not hit.size:
            self.extreme = float(run[-1])
            return seg.size
        i = int(hit[0])
        turns.append(int(positions[k + i]))
        self.direction, self.extreme = -self.direction, float(seg[i])
        return i + 1


class Measurer:
    def __init__(self, fs: float):
        self.fs = fs
        self.window = int(WINDOW_S * fs)
        self.recent: deque[tuple[float, int]] = deque()
        self.recent_sq = 0.0
        self.recent_n = 0
        self.turns = Turns()
        self.turn_times: deque[float] = deque()
        self._turn_blocks = Blocks(int(0.02 * fs))
        self.events: deque[Event] = deque()
        self.sum_sq = 0.0
        self.n = 0
        self.turn_count = 0
        self.end = 0.0

    def push(self, x: np.ndarray, first: int, smooth: np.ndarray | None = None) -> None:
        """x: the filtered chunk; smooth: the same low-passed at 2.5 kHz, where turns are
        counted (a 100 uV swing does not care, and noise has four times fewer wiggles)."""
        sq = float((x * x).sum())  # not np.dot: BLAS would wake helper threads that spin
        self.sum_sq += sq
        # The live RMS over about the last second, from per-chunk sums (no sample copies).
        self.recent.append((sq, x.size))
        self.recent_sq += sq
        self.recent_n += x.size
        while self.recent and self.recent_n - self.recent[0][1] >= self.window:
            old_sq, old_n = self.recent.popleft()
            self.recent_sq -= old_sq
            self.recent_n -= old_n
        self.n += x.size
        # Turns in 20 ms blocks: the Python loop's cost is per call, not per sample.
        batch = self._turn_blocks.push(x if smooth is None else smooth)
        if batch.size:
            start = self._turn_blocks.first
            found = self.turns.push(batch)
            self.turn_count += found.size
            self.turn_times.extend(((start + found) / self.fs).tolist())
        self.end = (first + x.size) / self.fs
        while self.turn_times and self.turn_times[0] < self.end - WINDOW_S:
            self.turn_times.popleft()

    def event(self, e: Event) -> None:
        self.events.append(e)
        while self.events and self.events[0].t < e.t - RATE_WINDOW_S:
            self.events.popleft()

    def snapshot(self, an) -> dict:
        """What the activity panel shows now."""
        now = an.now
        rates: dict[str, float] = {}
        for e in self.events:
            if e.t >= now - RATE_WINDOW_S:
                rates[e.kind] = rates.get(e.kind, 0.0) + 1 / RATE_WINDOW_S
        trains = an.train_list(active_within_s=2.0)
        return {
            "t": now,
            "rms_uv": float(np.sqrt(max(self.recent_sq, 0.0) / self.recent_n))
            if self.recent_n else 0.0,
            "turns_per_s": len(self.turn_times) / WINDOW_S,
            "rates_per_s": rates,
            "trains": [t.as_json() for t in trains],
            "nearest_unit": self._nearest_unit(now),
            "end_plate_noise_per_s": an.epn.rate(now),
            "caveats": an.caveats(now),
            "end_plate_noise": an.epn.log.active,
            "noise_uv": an.noise_uv,
            "tonic_activity": an.tonic.log.active,
            "insertional_activity": an.burst.insertion.active,
            "local_twitch_response": an.burst.twitch.active,
            "lead_off": an.contact.reason if an.contact.active else "",
            # With the lead off the signal is not EMG: its flat line or rail is said as
            # such (lead_off), not as a clipped amplifier.
            "clipping": bool(an.clipped and an.clipped[-1][1] / self.fs > now - WINDOW_S
                             and not an.contact.active),
        }

    def _nearest_unit(self, now: float) -> dict | None:
        """The largest motor unit firing in the last 2 s: its amplitude and rise time say how
        close the tip is (rise <= 500 us: inside the unit's territory)."""
        units: dict[int, list[Event]] = {}
        for e in self.events:
            if e.kind in ("muap", "fasciculation") and e.t >= now - 2.0 and e.train:
                units.setdefault(e.train, []).append(e)
        if not units:
            return None
        evs = max(units.values(), key=lambda es: np.median([e.amplitude_uv for e in es]))
        rise = float(np.median([e.rise_us for e in evs if e.rise_us is not None] or [np.nan]))
        return {"train": evs[0].train, "amplitude_uv": float(np.median(
            [e.amplitude_uv for e in evs])), "rise_us": rise,
                "inside_territory": bool(rise <= CRISP_RISE_US), "count": len(evs)}

    def summary(self, an, duration: float, events: list[Event]) -> dict:
        counts: dict[str, int] = {}
        for e in events:
            counts[e.kind] = counts.get(e.kind, 0) + 1
        clipped = sum(e - s for s, e in an.clipped) / self.fs
        lead_off = sum(s.end - s.start for s in an.contact.log.all(duration))
        return {
            "rms_uv": round(float(np.sqrt(self.sum_sq / max(self.n, 1))), 2),
            "turns_per_s": round(self.turn_count / max(duration, 1e-9), 1),
            "counts": dict(sorted(counts.items())),
            "noise_uv": round(an.noise_uv, 2) if np.isfinite(an.noise_uv) else None,
            "clipped_s": round(clipped, 3),
            "clipped_potentials": an.clipped_potentials,
            "lead_off_s": round(lead_off, 3),
            "bad_samples": an.bad_samples,
        }
