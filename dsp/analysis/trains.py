"""Grouping potentials into trains: the same fibre or motor unit firing again.

A potential joins the live train whose waveform it matches best (correlation and size);
otherwise it starts a train. Firing pattern is what tells fibrillations (very regular)
from end-plate spikes (irregular) and myotonic discharges (20-80 Hz) from fibrillations
(up to about 15 Hz).
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

MATCH_CORRELATION = 0.85
MATCH_CORRELATION_FLOOR = 0.6
AMPLITUDE_RATIO = (0.67, 1.5)
RHYTHM_TOLERANCE = 0.15  # a regular train's next interval: within 15 % of 1, 2 or 3 periods
RHYTHM_MAX_CV = 0.05  # fibrillation-like regularity; motor units are looser (0.1-0.3)
# A potential due on a very regular train's clock (within this share of its period, a
# fibre's jitter being 0.5-3 %) joins it at a lower waveform match.
ON_TIME_TOLERANCE, ON_TIME_CORRELATION = 0.05, 0.5
REGULAR_MAX_CV = 0.06  # a train this regular fires like fibrillations
SEMIREGULAR_MAX_CV, UNIT_RATE_HZ = 0.45, (4.0, 30.0)  # motor units: CV 0.1-0.3 at 4-30 Hz
EXPIRE_S = 4.0
REGULARITY_MIN_INTERVALS = 5
CLOCK_SEARCH = 40  # potentials of a train searched for a fibre's clock
CLOCK_CANDIDATES = 6  # the newest potential's intervals to these many tried as its period
# A fibre's clock: this many steps back from the newest potential, each one period
# (or two: a missed beat) within a fibre's jitter, at most a third of the beats missed,
# each potential within a quarter of the newest one's size (one fibre's potential repeats
# itself; noise moves a small one's measured size by 10-20 %).
CLOCK_STEPS = 6
CLOCK_TOLERANCE = 0.06
CLOCK_MISSED = 1 / 3
CLOCK_SIZE = 0.25
CLOCK_CHANCE = 0.4  # potentials expected by chance within a step's tolerance, at most
# A late component is the unit's own when it followed this many of the train's last
# LINK_OF potentials at the same delay (another unit firing independently lands within
# the tolerance after one of them about once in a hundred firings).
LINK_SEEN, LINK_OF = 3, 6
LINK_CHANCE = 0.1  # other peaks expected within a delay's tolerance after a potential, at most


@dataclass
class TrainState:
    id: int
    shape: str
    template: np.ndarray
    amplitude: float
    last_amplitude: float = 0.0
    times: deque = field(default_factory=lambda: deque(maxlen=64))
    sizes: deque = field(default_factory=lambda: deque(maxlen=64))  # amplitudes, with times
    count: int = 0
    kind: str = ""
    all_isis: list = field(default_factory=list)
    # Delays (samples) to the smaller sharp peaks that followed each recent potential
    followers: deque = field(default_factory=lambda: deque(maxlen=LINK_OF))
    _stats: tuple | None = None
    _rhythm: tuple | None = None
    _pattern: tuple | None = None
    _clock: tuple | None = None

    @property
    def last_t(self) -> float:
        return self.times[-1] if self.times else -np.inf

    def linked(self, tolerance: float, span: float) -> tuple[int, ...]:
        """The delays of late components that follow this train's potentials time-locked
        (a polyphasic or reinnervating unit's satellites): delays seen after LINK_SEEN of
        its last LINK_OF potentials within `tolerance` samples of each other (medians).
        Where other peaks follow so often (over the `span` samples followers are sought
        in) that one lands within the tolerance by chance after many potentials, as in a
        burst of end-plate spikes, a repeated delay proves nothing."""
        if sum(1 for f in self.followers if f) < LINK_SEEN:
            return ()
        out: list[int] = []
        for delay in self.followers[-1] + self.followers[-2]:
            if any(abs(delay - k) <= tolerance for k in out):
                continue
            near = [min(f, key=lambda v: abs(v - delay)) for f in self.followers if f]
            near = sorted(v for v in near if abs(v - delay) <= tolerance)
            if len(near) >= LINK_SEEN:
                out.append(near[len(near) // 2])
        others = sum(not any(abs(v - k) <= tolerance for k in out)
                     for f in self.followers for v in f) / len(self.followers)
        return tuple(out) if others * (2 * tolerance + 1) / span <= LINK_CHANCE else ()

    def fast_run(self, max_isi: float, similar: float = 1.4) -> int:
        """How many of its latest intervals in a row are under `max_isi` and within a
        factor `similar` of the one before: a myotonic discharge's run is long, while two
        look-alike fibres or units sharing a train make one or two such intervals."""
        n = 0
        isis = self.all_isis
        for k in range(len(isis) - 1, -1, -1):
            if isis[k] >= max_isi or (k + 1 < len(isis)
                                      and max(isis[k], isis[k + 1])
                                      > similar * min(isis[k], isis[k + 1])):
                break
            n += 1
        return n

    def isi(self, t: float) -> float:
        return t - self.last_t

    def fits_rhythm(self, t: float) -> bool:
        """A very regular train (fibrillation-like, or a myotonic run) fires next one, two
        or three periods after its last potential; a look-alike from another fibre usually
        does not."""
        period = self.period()
        if period is None:
            return True
        k = round((t - self.last_t) / period)
        return 1 <= k <= 3 and abs(t - self.last_t - k * period) <= RHYTHM_TOLERANCE * period

    def on_time(self, t: float) -> bool:
        """`t` is one period after this very regular train's last potential, within a
        fibre's jitter."""
        period = self.period()
        return period is not None and abs(t - self.last_t - period) <= ON_TIME_TOLERANCE * period

    def period(self) -> float | None:
        """The period of a very regular train (latest intervals: myotonic runs glide in
        rate), or None when it is not one. Cached until the next potential."""
        if self._rhythm is None or self._rhythm[0] != self.count:
            self._rhythm = (self.count, self._period())
        return self._rhythm[1]

    def _period(self) -> float | None:
        isi = self.all_isis[-8:]
        if len(isi) < 3 or coefficient_of_variation(isi) > RHYTHM_MAX_CV:
            return None
        return (isi[-2] + isi[-1]) / 2

    def pattern(self) -> str:
        """How it fires, from its recent intervals: "regular" (fibrillation-like, CV below
        0.06 once missed beats are allowed for), "semiregular" (motor units, 0.06-0.45 at
        4-30 Hz), "irregular" (end-plate spikes), or "" while there are too few intervals
        to tell. Cached until the next potential."""
        if self._pattern is None or self._pattern[0] != self.count:
            self._pattern = (self.count, self._compute_pattern())
        return self._pattern[1]

    def young(self) -> bool:
        """Too few intervals yet to tell how it fires."""
        return len(self.all_isis) < REGULARITY_MIN_INTERVALS

    def _compute_pattern(self) -> str:
        if self.young():
            return ""
        recent = self.all_isis[-10:]
        # A potential lost to overlap, noise or another train leaves an interval of two or
        # three periods: a missed beat, not irregular firing (in 10 uV of noise a light
        # contraction's units lose potentials so; read as irregular, their trains would
        # leave the field seemingly at rest and their potentials named fibrillations).
        periods = _folded(recent)
        if periods is not None:
            period = sum(periods) / len(periods)
            if coefficient_of_variation(periods) < REGULAR_MAX_CV and 1 / 16 <= period <= 1 / 0.4:
                return "regular"
            if _semiregular(periods, period):
                return "semiregular"
        cv = coefficient_of_variation(recent)
        if _semiregular(recent, _median(recent)):
            return "semiregular"
        if cv >= 0.6:
            return "irregular"
        return ""

    def on_clock(self) -> bool:
        """Whether the newest potential lies on a clock among the train's recent ones:
        CLOCK_STEPS earlier potentials of its size, each one or two periods (a missed beat)
        before the next, with periods as steady as fibrillations'. In a dense field fibres
        that look alike share a train, so its intervals as a whole are irregular, but each
        fibre's own potentials still fire like a clock. Walked back from the newest
        potential, from each of the periods its latest intervals suggest. Cached until the
        next potential."""
        if self._clock is None or self._clock[0] != self.count:
            self._clock = (self.count, self._compute_clock())
        return self._clock[1]

    def _compute_clock(self) -> bool:
        times = list(self.times)[-CLOCK_SEARCH:]
        sizes = list(self.sizes)[-CLOCK_SEARCH:]
        if len(times) <= CLOCK_STEPS:
            return False
        t = times[-1]
        # How often the train brings a potential of the newest one's size, the only
        # ones a walk steps to.
        alike = sum(abs(v - sizes[-1]) <= CLOCK_SIZE * sizes[-1] for v in sizes) - 1
        density = alike / (t - times[0]) if t > times[0] else np.inf
        for j in range(len(times) - 2, max(len(times) - 2 - CLOCK_CANDIDATES, -1), -1):
            for beats in (1, 2):
                period = (t - times[j]) / beats
                # Where potentials of that size come so densely that one often falls
                # within the tolerance by chance, a walk proves little (a semiregular
                # unit's train walked at five of its intervals looks like a clock).
                chance = density * 2 * CLOCK_TOLERANCE * period
                if (1 / 16 <= period <= 1 / 0.4 and chance <= CLOCK_CHANCE
                        and _clock_from(times, sizes, period)):
                    return True
        return False

    def stats(self) -> tuple[float, float]:
        """(rate Hz, coefficient of variation) of its firing, pauses and missed potentials
        (intervals far from the typical one) left out. Cached until the next potential."""
        if self._stats is None or self._stats[0] != self.count:
            self._stats = (self.count, self._compute_stats())
        return self._stats[1]

    def _compute_stats(self) -> tuple[float, float]:
        isi = np.asarray(self.all_isis[-200:])
        if isi.size == 0:
            return 0.0, 0.0
        med = np.median(isi)
        core = isi[(isi > 0.5 * med) & (isi < 1.6 * med)]
        if core.size == 0:
            return float(1 / med), 0.0
        cv = float(core.std() / core.mean()) if core.size > 1 else 0.0
        return float(1 / core.mean()), cv


class TrainTracker:
    def __init__(self):
        self.trains: dict[int, TrainState] = {}
        self.finished: list[TrainState] = []
        self._next = 1
        self._oldest = -np.inf  # at most the oldest live train's last potential time

    def match(self, t: float, snippet: np.ndarray, amplitude: float,
              noise_uv: float = 0.0) -> tuple[TrainState | None, np.ndarray]:
        """The live train this potential belongs to, or None (it would start one), and its
        normalised waveform (for `add`)."""
        self._expire(t)
        centred = _centred(snippet)
        norm = _unit(centred)
        threshold = match_threshold(centred, noise_uv)
        lo, hi = AMPLITUDE_RATIO
        # Size against the latest (myotonic runs wax and wane) or the running average (one
        # noisy measure should not break a train); cheap tests first.
        live = [tr for tr in self.trains.values()
                if (lo * tr.last_amplitude <= amplitude <= hi * tr.last_amplitude
                     or lo * tr.amplitude <= amplitude <= hi * tr.amplitude)
                and tr.template.size == norm.size and tr.fits_rhythm(t)]
        if not live:
            return None, norm
        # All correlations at once: one small matrix product (single-threaded at this size).
        r = np.array([tr.template for tr in live]) @ norm
        k = int(np.argmax(r))
        if r[k] > threshold:
            return live[k], norm
        # A fibre fires like a clock: a potential that comes exactly when a very regular
        # train's next one is due, at its size, is that fibre's even when noise or overlap
        # has bent its waveform below the usual match.
        due = [i for i, tr in enumerate(live)
               if r[i] > ON_TIME_CORRELATION and tr.on_time(t)]
        if due:
            k = max(due, key=lambda i: r[i])
            return live[k], norm
        return None, norm

    def add(self, best: TrainState | None, t: float, norm: np.ndarray, amplitude: float,
            shape: str, followers: tuple[int, ...] = ()) -> TrainState:
        """Add the potential (`norm`: its normalised waveform) to `best`, the train `match`
        found, or to a new train when None. `followers`: see `features.Measures`."""
        if best is None:
            best = TrainState(self._next, shape, norm, amplitude, amplitude)
            self.trains[best.id] = best
            self._next += 1
        else:
            best.all_isis.append(t - best.last_t)
            # Slow template update: a unit's shape drifts as the needle moves.
            best.template = _normalise(0.8 * best.template + 0.2 * norm)
            best.amplitude = 0.8 * best.amplitude + 0.2 * amplitude
            best.last_amplitude = amplitude
        best.times.append(t)
        best.sizes.append(amplitude)
        best.followers.append(followers)
        best.count += 1
        return best

    def _expire(self, t: float) -> None:
        # Trains only get younger, so until the oldest could have expired there is nothing
        # to look for (and no need to scan every train for every potential).
        if t - self._oldest <= EXPIRE_S:
            return
        for tid in [k for k, tr in self.trains.items() if t - tr.last_t > EXPIRE_S]:
            self.finished.append(self.trains.pop(tid))
        self._oldest = min((tr.last_t for tr in self.trains.values()), default=t)

    def all(self) -> list[TrainState]:
        return sorted([*self.finished, *self.trains.values()], key=lambda tr: tr.id)


def coefficient_of_variation(values: list[float]) -> float:
    """Coefficient of variation (population). Plain Python: a handful of numbers, for which
    numpy's overhead is most of the cost."""
    mean = sum(values) / len(values)
    return (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5 / mean


def _median(values: list[float]) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def _semiregular(intervals: list[float], typical: float) -> bool:
    """A motor unit's firing: CV under SEMIREGULAR_MAX_CV at a typical interval within
    UNIT_RATE_HZ."""
    lo, hi = UNIT_RATE_HZ
    return coefficient_of_variation(intervals) < SEMIREGULAR_MAX_CV and 1 / hi <= typical <= 1 / lo


def _folded(isi: list[float]) -> list[float] | None:
    """The periods of a train whose potentials are sometimes lost (overlap, noise): an
    interval of two or three typical ones is a missed beat, not irregular firing, and
    counts as that many periods. None unless most intervals are single periods and none
    is under half a period (an intruder from another source, or random firing)."""
    base = sorted(isi)[len(isi) // 2]
    beats = [round(v / base) for v in isi]
    if min(beats) < 1 or max(beats) > 3 or 2 * beats.count(1) < len(beats):
        return None
    return [v / k for v, k in zip(isi, beats, strict=True)]


def _clock_from(times: list[float], sizes: list[float], period: float) -> bool:
    """Walk back from the newest potential, each step to the nearest one of the same size
    (a fibre's potential repeats itself; other fibres' differ) one or two periods earlier, within
    CLOCK_TOLERANCE of the period (a fibre's own jitter); a clock when the walk makes
    CLOCK_STEPS steps, with at most CLOCK_MISSED of its beats missed and periods as
    steady as fibrillations'."""
    i, steps, beats = len(times) - 1, [], 0
    size = sizes[-1]
    tol = CLOCK_TOLERANCE * period
    while len(steps) < CLOCK_STEPS:
        found = None
        for k in (1, 2):
            want = times[i] - k * period
            j = bisect.bisect_left(times, want - tol, 0, i)
            near = [(abs(times[n] - want), n) for n in range(j, i)
                    if times[n] <= want + tol and abs(sizes[n] - size) <= CLOCK_SIZE * size]
            if near:
                found = (min(near)[1], k)
                break
        if found is None:
            return False
        j, k = found
        beats += k
        if beats - len(steps) - 1 > CLOCK_MISSED * CLOCK_STEPS:
            return False
        steps.append((times[i] - times[j]) / k)
        i = j
    return coefficient_of_variation(steps) < REGULAR_MAX_CV


def match_threshold(centred: np.ndarray, noise_uv: float) -> float:
    """The correlation a potential must reach with a train's template (`centred`: its
    snippet less the snippet's mean). Noise caps the correlation even a perfect match can
    have (sqrt of the signal's share of the snippet's energy), so the bar is lowered in
    proportion for small potentials."""
    energy = float((centred * centred).sum())
    if energy <= 0.0:
        return MATCH_CORRELATION
    signal = max(energy - centred.size * noise_uv ** 2, 0.0)
    ceiling = math.sqrt(signal / energy)
    return max(MATCH_CORRELATION_FLOOR, MATCH_CORRELATION * ceiling)


# Once or twice per potential: the mean and norm are written out, as numpy's own functions
# cost several times the arithmetic on 100-odd samples.
def _centred(x: np.ndarray) -> np.ndarray:
    return x - x.sum() / x.size


def _unit(x: np.ndarray) -> np.ndarray:
    n = math.sqrt(x.dot(x))
    return x / n if n > 0 else x


def _normalise(x: np.ndarray) -> np.ndarray:
    """Zero mean, unit norm."""
    return _unit(_centred(x))
