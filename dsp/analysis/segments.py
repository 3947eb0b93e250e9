"""Stretches of activity rather than single potentials: end-plate noise, insertional
activity and local twitch responses, tonic motor unit firing, and a lead that is off.

Each detector is fed what the analyser already found (potentials and their shape classes,
block statistics) and opens and closes segments with hysteresis, so a segment does not
flicker on and off with every quiet moment.
"""

from __future__ import annotations

import bisect
from collections import deque

import numpy as np
from scipy.ndimage import maximum_filter1d, minimum_filter1d, uniform_filter1d

from dsp.analysis.detect import NoiseFloor
from dsp.analysis.results import Segment


class SegmentLog:
    """Open and closed segments of one kind."""

    def __init__(self, kind: str):
        self.kind = kind
        self.closed: list[Segment] = []
        self.start: float | None = None

    @property
    def active(self) -> bool:
        return self.start is not None

    def open(self, t: float) -> None:
        if self.start is None:
            self.start = t

    def close(self, t: float) -> None:
        if self.start is not None:
            self.closed.append(Segment(self.start, max(t, self.start), self.kind))
            self.start = None

    def all(self, now: float) -> list[Segment]:
        open_ = [Segment(self.start, now, self.kind)] if self.start is not None else []
        return [*self.closed, *open_]


class EndPlateNoise:
    """End-plate noise: dense, tiny, monophasic negative potentials ("seashell" hiss).

    Counted on the shape branch (the signal low-passed at 2.5 kHz), against its upper
    envelope (the baseline between miniature potentials, even when they are dense):
    negative minima deeper than `DEPTH` times the noise, smaller than `MAX_UV`, narrower
    than `MAX_HALF_MS` at half their depth, with no positive phase within 1.5 ms rising
    above the envelope around them (the phases every other potential has).
    On while at least `ON_RATE` such potentials per second arrive over the last 200 ms,
    off below `OFF_RATE`.
    """

    DEPTH = 5.0
    MAX_UV = 100.0
    MAX_HALF_MS = 0.75
    ON_RATE = 45.0
    OFF_RATE = 20.0
    WINDOW_S = 0.2
    STEP_S = 0.02
    # Times of miniature potentials are kept this long: the analyser asks about potentials
    # up to a 1 s chunk and its look-ahead back, over a window before each.
    KEEP_S = 1.5

    def __init__(self, fs: float, step_uv: float | None = None):
        self.fs = fs
        self.log = SegmentLog("end_plate_noise")
        self.times: list[float] = []  # in order
        self.switches: list[tuple[int, bool]] = []  # (grid index, on) as it switched
        self.radius = max(int(0.0015 * fs), 3)
        self.margin = int(0.0055 * fs)  # the envelope looks this far either side
        self.step = int(self.STEP_S * fs)
        self.scanned = 0
        # Rounding alone swings a coarse ADC's quiet signal one step either side of the
        # envelope it is measured from: a dip must go two steps deeper than the noise's.
        self.steps_uv = 2.0 * step_uv if step_uv else 0.0

    def update(self, s: np.ndarray, s0: int, total: int, lookahead: int,
               floor: NoiseFloor) -> None:
        """Scan the shape branch `s` (first sample at stream index s0, `total` samples
        so far) when 20 ms more of it can be judged: up to the analyser's look-ahead, and
        leaving the `2 * margin` samples the envelope needs after what it judges. The noise
        is judged over 200 ms, so every 20 ms is plenty, and saves most of the cost when
        chunks are 5 ms. `floor`: the shape branch's noise floor."""
        stop = total - max(lookahead, 2 * self.margin)
        if stop - self.scanned >= self.step:
            self.scan(s, s0, stop, floor)

    def scan(self, s: np.ndarray, s0: int, stop: int, floor: NoiseFloor) -> None:
        """Count miniature potentials in s (first sample at absolute index s0) up to
        absolute index `stop`, which must leave `radius` samples after it."""
        start = max(self.scanned, s0 + self.margin)
        if stop <= start:
            return
        noise = floor.over(start, stop)  # NaN before the floor is known: nothing found
        # Only the new stretch, with twice the envelope's reach on either side (the caller
        # leaves that much signal after `stop`).
        base = max(start - s0 - 2 * self.margin, 0)
        s = s[base: stop - s0 + 2 * self.margin]
        lo, hi = start - s0 - base, stop - s0 - base
        # Miniature potentials only go down: the baseline between them is the top of the
        # signal. Upper envelope near each sample, and the lowest such envelope around it
        # (a positive phase of another potential lifts the near envelope above that).
        ms = self.fs / 1000.0
        smooth = uniform_filter1d(s, max(int(0.5 * ms), 1))
        near = maximum_filter1d(smooth, 2 * self.radius + 1)
        level = minimum_filter1d(near, 2 * int(4 * ms) + 1)
        local_min = minimum_filter1d(s, 2 * int(self.radius / 3) + 1)
        seg = s[lo:hi]
        depth = level[lo:hi] - seg
        bump = near[lo:hi] - level[lo:hi]
        monophasic = bump < 0.15 * depth + 2.5 * noise
        found = np.flatnonzero((seg == local_min[lo:hi])
                               & (depth > self.DEPTH * noise + self.steps_uv)
                               & (depth < self.MAX_UV) & monophasic)
        found = found[self._narrow(s, level, found + lo, depth[found])]
        self.times.extend(((found + start) / self.fs).tolist())
        self._judge(start / self.fs, stop / self.fs)
        self.scanned = stop

    def _narrow(self, s: np.ndarray, level: np.ndarray, idx: np.ndarray,
                depth: np.ndarray) -> np.ndarray:
        """Which minima are as narrow as miniature potentials (under `MAX_HALF_MS` below
        half their depth): a distant motor unit is as small and nearly as monophasic, but
        its main phase is two to three times wider."""
        if idx.size == 0:
            return np.zeros(0, bool)
        w = self.radius
        offsets = np.arange(-w, w + 1)
        win = s[np.clip(idx[:, None] + offsets, 0, s.size - 1)]
        half = level[idx][:, None] - depth[:, None] / 2
        width = np.count_nonzero(win < half, axis=1) / self.fs * 1e3
        return width < self.MAX_HALF_MS

    def _judge(self, t0: float, t1: float) -> None:
        """Switch on and off on a 20 ms grid of absolute times over the stretch just
        scanned, so the segment's edges, and what `on_at` says, do not depend on how
        often the analyser is called."""
        times = np.asarray(self.times)
        k = np.arange(int(np.floor(t0 / self.STEP_S)) + 1, int(np.floor(t1 / self.STEP_S)) + 1)
        grid = k * self.STEP_S
        lo = np.searchsorted(times, grid - self.WINDOW_S, "right")
        rates = (np.searchsorted(times, grid, "right") - lo) / self.WINDOW_S
        for i, g, r, first in zip(k.tolist(), grid.tolist(), rates.tolist(), lo.tolist(),
                                  strict=True):
            if not self.log.active and r >= self.ON_RATE:
                self.log.open(float(times[first]))
                self.switches.append((i, True))
            elif self.log.active and r < self.OFF_RATE:
                self.log.close(g - self.WINDOW_S / 2)
                self.switches.append((i, False))
        del self.times[:bisect.bisect_left(self.times, t1 - self.KEEP_S)]
        keep = int((t1 - self.KEEP_S) / self.STEP_S)
        while len(self.switches) > 1 and self.switches[1][0] <= keep:
            del self.switches[0]

    def on_at(self, t: float) -> bool:
        """Whether end-plate noise was on at the grid point 20 to 40 ms before `t`: what
        the scan is sure to have judged when a potential at `t` is judged (the analyser's
        look-ahead is longer than that), however the signal is chunked."""
        k = int(np.floor(t / self.STEP_S)) - 1
        i = bisect.bisect_right(self.switches, (k, True))
        return i > 0 and self.switches[i - 1][1]

    def rate(self, now: float) -> float:
        """Miniature potentials per second over the last 200 ms (for the screen)."""
        return (bisect.bisect_right(self.times, now)
                - bisect.bisect_right(self.times, now - self.WINDOW_S)) / self.WINDOW_S


class NeedleBurst:
    """Insertional activity and local twitch responses.

    A needle move shows as a slow deflection (the electrode's movement artefact: below
    25 Hz, tens to hundreds of microvolts) with a burst of short spikes. The deflection must
    stand well above the slow-wave level of the last 2 s (dense end-plate noise has slow
    fluctuations of its own) and hold a fair share of the signal's size at that moment: a
    large motor unit potential's low frequencies reach about a tenth of its size, while
    the spikes riding on a small artefact (injury discharges, a twitch's first units) can
    be three to five times its low-passed size. The burst lasts until the deflection and
    the dense spiking (at insertional rates, above what fired before the move) die away,
    and at most `MAX_S`: activity that goes on longer is spontaneous activity, not
    insertional. Within 0.5 s of the onset, a burst of large motor-unit-like discharges is
    a local twitch response (the taut band's fibres). Both are judged at rest: while motor units
    fire, a slow deflection is most likely the contraction moving the needle, and large
    units after it are that firing going on."""

    ARTEFACT_UV = 60.0
    ABOVE_LEVEL = 4.0
    SLOW_SHARE = 0.2
    QUIET_S = 0.08
    MAX_S = 1.0
    DENSE_S, DENSE_COUNT = 0.04, 3
    BACKGROUND_S = 1.0
    BLOCK_S = 0.01  # the analyser's slow blocks (`slow`)
    TWITCH_UV = 700.0
    TWITCH_WINDOW_S = 0.5
    MIN_BURST_S = 0.03
    # Motor units are firing when motor-unit-like potentials this large (spontaneous
    # activity stays under about 300 uV) came at least twice in the second before a move,
    # outside needle bursts (once can be spikes on top of each other). Not in the last
    # `LAG_S`: the move's first injury discharges come before its deflection shows in the
    # low-frequency branch.
    UNIT_UV, UNITS_FIRING = 350.0, 2
    LAG_S = 0.05

    def __init__(self):
        self.insertion = SegmentLog("insertional_activity")
        self.twitch = SegmentLog("local_twitch_response")
        self.onset = -np.inf
        self.last_activity = -np.inf
        self.last_twitch = -np.inf
        self.first_unit = -np.inf  # a twitch's first discharge, waiting for a second
        self.levels: deque[float] = deque(maxlen=round(2.0 / self.BLOCK_S))  # 2 s of blocks
        self.recent: deque[float] = deque()  # potentials of the last second
        self.units: deque[float] = deque()  # motor unit potentials outside needle bursts
        self.background = 0.0  # their rate before the burst began
        # 10 ms blocks not judged yet: a block is judged once every potential before it is
        # known (the analyser decides potentials a look-ahead later than the signal comes),
        # so what fired before a move does not depend on how the stream was cut into chunks.
        self.pending: deque[tuple[float, float, float]] = deque()

    def slow(self, t: float, excursion_uv: float, peak_uv: float) -> None:
        """The low-frequency branch's largest excursion in a 10 ms block starting at t, and
        the filtered signal's largest value there, judged once the potentials before t
        are known. A movement artefact is slow: a good part of the block's size is in its
        low frequencies, unlike a large motor unit potential's."""
        self.pending.append((t, excursion_uv, peak_uv))

    def _judge(self, upto: float) -> None:
        """Judge the pending blocks that start before `upto`."""
        while self.pending and self.pending[0][0] < upto:
            self._block(*self.pending.popleft())

    def _block(self, t: float, excursion_uv: float, peak_uv: float) -> None:
        self._close_quiet(t)
        self.levels.append(excursion_uv)
        if excursion_uv < self.ARTEFACT_UV or excursion_uv < self.SLOW_SHARE * peak_uv:
            return  # the common case, decided without the median below
        past = list(self.levels)[:-1]
        if len(past) < self.BACKGROUND_S / self.BLOCK_S:
            return  # what the signal and the muscle did before is not known yet
        if excursion_uv < self.ABOVE_LEVEL * float(np.median(past)):
            return
        if (not self.insertion.active and t - self.onset > self.MAX_S
                and sum(1 for u in self.units if t - self.BACKGROUND_S < u < t - self.LAG_S)
                < self.UNITS_FIRING):
            self.insertion.open(t)
            self.onset = t
            self.background = sum(1 for u in self.recent if u < t) / self.BACKGROUND_S
        if self.insertion.active:
            self.last_activity = t

    def potential(self, t: float, amplitude_uv: float, motor_unit_like: bool) -> bool:
        """A potential during a burst; True if it belongs to the burst (not reported as an
        event of its own)."""
        self._judge(t + 1e-9)
        self._close_quiet(t)
        self.recent.append(t)
        while self.recent and self.recent[0] < t - self.BACKGROUND_S:
            self.recent.popleft()
        # A twitch is judged in its own window after the move, whether or not the burst of
        # insertional spikes is still going. It is a burst of discharges: one large
        # potential alone may be two injury spikes on top of each other.
        if (motor_unit_like and amplitude_uv >= self.TWITCH_UV
                and 0 <= t - self.onset <= self.TWITCH_WINDOW_S and self._real_move()):
            if not self.twitch.active and t - self.first_unit > self.QUIET_S:
                self.first_unit = t
            else:
                self.twitch.open(self.first_unit - 0.005)
                self.last_twitch = t
            return True
        if not self.insertion.active:
            if motor_unit_like and amplitude_uv >= self.UNIT_UV:
                self.units.append(t)
                while self.units[0] < t - self.BACKGROUND_S:
                    self.units.popleft()
            return False
        # Insertional spikes come at 100-250 per second, well above what fired before the
        # move (an end-plate zone's own spikes must not keep the burst going).
        now_rate = sum(1 for u in self.recent if u > t - self.DENSE_S) / self.DENSE_S
        if now_rate >= max(self.DENSE_COUNT / self.DENSE_S, 3 * self.background):
            self.last_activity = max(self.last_activity, t)
        return True

    def _real_move(self) -> bool:
        """A needle move brings a burst of insertional spikes. A slow deflection whose burst
        died within `MIN_BURST_S` is a contraction's movement artefact (a voluntary burst
        begins the same way), after which large motor units are not a twitch."""
        if self.insertion.active:
            return True
        last = self.insertion.closed[-1] if self.insertion.closed else None
        return last is not None and last.end - last.start >= self.MIN_BURST_S

    def update(self, now: float) -> None:
        self._judge(now)
        self._close_quiet(now)

    def _close_quiet(self, now: float) -> None:
        """Close what has been quiet too long by `now`. Checked before each block and
        potential is taken in, so the segments do not depend on how often the analyser
        is called."""
        if self.twitch.active and now - self.last_twitch > self.QUIET_S:
            self.twitch.close(self.last_twitch + 0.01)
        if self.insertion.active and (now - self.last_activity > self.QUIET_S
                                      or now - self.onset > self.MAX_S):
            self.insertion.close(min(self.last_activity + 0.005, self.onset + self.MAX_S))


class Tonic:
    """Sustained motor unit firing: on after motor unit potentials have kept coming (no gap
    longer than `GAP_S`) for `MIN_S`; the segment starts at the first of them. Whether the
    patient meant to contract is for the physician to judge: at rest, this is dystonic or
    spastic tonic activity."""

    GAP_S = 0.35
    MIN_S = 0.6

    def __init__(self):
        self.log = SegmentLog("tonic_activity")
        self.run_start: float | None = None
        self.last = -np.inf

    def motor_unit(self, t: float) -> None:
        if self.run_start is None or t - self.last > self.GAP_S:
            if self.log.active:
                self.log.close(self.last + 0.05)
            self.run_start = t
        self.last = t
        if not self.log.active and t - self.run_start >= self.MIN_S:
            self.log.open(self.run_start)

    def update(self, now: float) -> None:
        if self.log.active and now - self.last > self.GAP_S:
            self.log.close(self.last + 0.05)
            self.run_start = None


class Contact:
    """A lead that is off or poorly in contact: a flat line, the amplifier's rail, or mains
    hum far above the EMG. Judged per block of raw samples."""

    FLAT_UV = 0.3
    HUM_UV = 150.0
    HUM_RATIO = 5.0
    CONFIRM_BLOCKS = 2

    def __init__(self):
        self.log = SegmentLog("lead_off")
        self.bad_blocks = 0
        self.good_blocks = 0
        self.reason = ""

    def block(self, t0: float, t1: float, raw: np.ndarray, hum_uv: float,
              residual_uv: float) -> None:
        reason = ""
        if raw.size and raw.std() < self.FLAT_UV:  # (the analyser has replaced NaN)
            reason = "flat line"
        elif raw.size and _at_rail(raw):
            reason = "at the amplifier's rail"
        elif hum_uv > self.HUM_UV and hum_uv > self.HUM_RATIO * residual_uv:
            reason = "mains hum far above the EMG"
        if reason:
            self.bad_blocks += 1
            self.good_blocks = 0
            if self.bad_blocks >= self.CONFIRM_BLOCKS and not self.log.active:
                self.log.open(t0 - (self.CONFIRM_BLOCKS - 1) * (t1 - t0))
                self.reason = reason
        else:
            self.good_blocks += 1
            self.bad_blocks = 0
            if self.log.active and self.good_blocks >= self.CONFIRM_BLOCKS:
                self.log.close(t0 - (self.CONFIRM_BLOCKS - 1) * (t1 - t0))

    @property
    def active(self) -> bool:
        return self.log.active


def _at_rail(raw: np.ndarray) -> bool:
    """Most of the block sits at one extreme value: the amplifier saturated for good."""
    hi, lo = raw.max(), raw.min()
    if hi == lo:
        return False
    at = np.count_nonzero(raw == hi) + np.count_nonzero(raw == lo)
    return at > 0.5 * raw.size


def clipped_runs(raw: np.ndarray, first_index: int, min_run: int = 3) -> list[tuple[int, int]]:
    """Stretches where the raw signal sits flat at its extreme (a clipped amplifier): runs
    of at least `min_run` identical samples equal to the block's maximum or minimum."""
    out = []
    for value in (raw.max(), raw.min()):
        same = raw == value
        if np.count_nonzero(same) < min_run:
            continue
        edges = np.flatnonzero(np.diff(np.r_[0, same.astype(np.int8), 0]))
        for s, e in zip(edges[0::2], edges[1::2], strict=True):
            if e - s >= min_run:
                out.append((first_index + int(s), first_index + int(e)))
    return sorted(out)
