"""The spontaneous activity analyser: filtered needle EMG in, the words a physician uses out.

Causal, chunk by chunk, with 25 ms of look-ahead (a potential is judged once 25 ms of signal
after its peak have arrived: enough to see a positive sharp wave's slow phase). The same
object serves the live screen and `needlepoint analyze`.

    a = Analyser(fs)
    for chunk in chunks:                 # filtered microvolts (1-D), raw optional
        new_events = a.process(chunk, raw=raw_chunk)
    a.segments(), a.train_list(), a.measures()
"""

from __future__ import annotations

import bisect
from collections import deque

import numpy as np
from scipy.signal import butter

from dsp.analysis import features as F
from dsp.analysis.classify import (
    MYOTONIC_MAX_ISI_S,
    UNCLASSIFIED,
    Facts,
    classify,
    fires_as_unit,
    reads_clock,
)
from dsp.analysis.detect import Detector, NoiseFloor, quantisation_rms
from dsp.analysis.measures import Measurer
from dsp.analysis.results import Event, Segment, Train
from dsp.analysis.segments import Contact, EndPlateNoise, NeedleBurst, Tonic, clipped_runs
from dsp.analysis.trains import TrainState, TrainTracker, coefficient_of_variation
from dsp.blocks import Blocks
from dsp.sos import Sos

LOOKAHEAD_S = 0.025
HISTORY_S = 1.0
PRE_S, POST_S = 0.012, 0.024  # the window a potential is measured in
SNIPPET_S = (0.002, 0.006)  # the waveform trains are matched on
ARTEFACT_LOWPASS_HZ = 25.0
ARTEFACT_BLOCK_S = NeedleBurst.BLOCK_S  # the needle-move detector counts in these
CONTACT_BLOCK_S = 0.1
CLIP_GUARD_S = 0.003
BUSY_S = 0.003
# A motor unit's terminal phase lies up to this long after its peak (indexed by whether the
# field shows denervation): a small unit's is lost in the noise when its extent is measured,
# and would be reported as a potential of its own 4-5 ms after it. Where the field shows
# denervation a unit-shaped potential is mostly a fibre read blunt, and a fibrillation that
# follows it within 6 ms would be lost: there the reach is shorter.
UNIT_PHASES_S = {False: 0.006, True: 0.004}
# A potential also stands out of the noise in the shape branch, by this many times its
# floor, measured from the line it rides on there: the branch's median over LINE_S on either
# side of its peak.
SHAPE_THRESHOLD, LINE_S = 4.0, 0.006
BLUNT_MS = 3.0  # no potential's main phase is this wide at half its height
# A potential's main phase is seldom even this wide (a sharp wave's or a light contraction's
# motor unit's hardly ever is); a phase this wide beside a potential 3 times larger is that
# potential's slow initial or terminal phase (else a unit's is reported 3-5 ms before or
# after it as a potential of its own). Beside one only twice larger it is far more often a
# distant unit's potential: at moderate effort a distant unit's broad potential often lies
# within reach of another unit's twice its size.
SLOW_PHASE_MS, SLOW_PHASE_RATIO, SLOW_PHASE_REACH_S = 2.0, 3.0, 0.006


class Analyser:
    def __init__(self, fs: float, *, mains_hz: float | None = None,
                 step_uv: float | None = None, keep_facts: bool = False):
        """`step_uv`: the ADC's step in microvolts, where known (a floor for the noise);
        `keep_facts`: keep every named potential's `Facts` in `self.facts`, in the order
        of `self.events` (for the evaluation's per-rule counts)."""
        self.fs = float(fs)
        self.detector = Detector(fs, LOOKAHEAD_S, step_uv)
        # Of the full-band signal, for measuring potentials: in 50 ms blocks, which read
        # the background a dense field's potentials are measured against.
        self.noise = NoiseFloor(fs, quantisation_rms(step_uv), window_s=0.05, percentile=10)
        self._x, self._d, self._s, self._w, self._v = (History(int(HISTORY_S * fs))
                                                          for _ in range(5))
        self.total = 0  # samples received
        self.bad_samples = 0
        self.events: list[Event] = []
        self.trains = TrainTracker()
        self.epn = EndPlateNoise(fs, step_uv)
        self.burst = NeedleBurst()
        self.tonic = Tonic()
        self.contact = Contact()
        self.measurer = Measurer(fs)
        self.clipped: list[tuple[int, int]] = []
        self.clipped_potentials = 0
        self.rail = 0.0
        self._busy_until = -1
        self._busy_peak = 0.0
        self._busy_ratio = 0.8
        self.field = Field()
        self.facts: list[Facts] | None = [] if keep_facts else None
        self._lf_blocks = Blocks(int(ARTEFACT_BLOCK_S * fs))
        self._lf = Sos(butter(2, ARTEFACT_LOWPASS_HZ / (fs / 2), output="sos"))
        self._contact_raw = Blocks(int(CONTACT_BLOCK_S * fs))
        self._contact_x = Blocks(int(CONTACT_BLOCK_S * fs))
        self._hum = HumMeter(fs, self._contact_x.size, mains_hz)
        # Late components (satellites): their delays' tolerance and span, in samples
        self._link = (F.LINK_TOLERANCE_MS * fs / 1000, F.LINK_SPAN_MS * fs / 1000)

    @property
    def now(self) -> float:
        """Time up to which the analyser has decided everything."""
        return max(self.total - self.detector.lookahead, 0) / self.fs

    @property
    def noise_uv(self) -> float:
        return self.noise.rms

    # the stream ------------------------------------------------------------------------
    def process(self, x: np.ndarray, raw: np.ndarray | None = None) -> list[Event]:
        """Feed filtered microvolts (1-D); returns the potentials decided in this call."""
        x = np.asarray(x, np.float64).reshape(-1)
        # Never let NaN or inf poison the state: count them (in the raw samples when given,
        # as the filters before us may already have repaired them) and treat them as 0.
        bad = ~np.isfinite(x)
        if raw is None:
            self.bad_samples += int(bad.sum())
        else:
            raw = np.asarray(raw, np.float64).reshape(-1)
            bad_raw = ~np.isfinite(raw)
            if bad_raw.any():
                self.bad_samples += int(bad_raw.sum())
                raw = np.where(bad_raw, 0.0, raw)
        if bad.any():
            x = np.where(bad, 0.0, x)
        if raw is None:
            raw = x
        first = self.total
        self.total += x.size
        d, shape, w, slow = self.detector.smooth(x)
        self.noise.push(x)
        self._x.append(x)
        self._d.append(d)
        self._s.append(shape)
        self._w.append(w)
        self._v.append(slow)
        self._clipping(raw, first)
        self._artefact(x)
        self._contact(raw, x)
        self.measurer.push(x, first, shape)
        # End-plate noise first: a potential is judged knowing whether it came in it.
        self.epn.update(self.s, self.x0, self.total, self.detector.lookahead,
                        self.detector.shape_floor)
        new: list[Event] = []
        if self.detector.floor.ready:
            found = self.detector.candidates(self.d, self.x0)
            sharp = self.detector.sharp_wave_candidates(self._w.view, self.x0, found)
            for c, sharp_wave in sorted([(int(c), False) for c in found]
                                        + [(int(c), True) for c in sharp]):
                event = self._consider(c, sharp_wave)
                if event is not None:
                    new.append(event)
        now = self.now
        self.burst.update(now)
        self.tonic.update(now)
        self._trim()
        self.events.extend(new)
        return new

    # the last second of the filtered signal and its branches
    @property
    def x(self) -> np.ndarray:
        return self._x.view

    @property
    def d(self) -> np.ndarray:
        return self._d.view

    @property
    def s(self) -> np.ndarray:
        return self._s.view

    @property
    def x0(self) -> int:
        """Absolute index of self.x[0]."""
        return self.total - self._x.view.size

    def _trim(self) -> None:
        for h in (self._x, self._d, self._s, self._w, self._v):
            h.trim()

    # one candidate ---------------------------------------------------------------------
    def _consider(self, c: int, sharp_wave: bool = False) -> Event | None:
        """`sharp_wave`: a candidate of the sharp-wave branch, a potential only if shaped
        like one."""
        fs = self.fs
        i = c - self.x0
        w = max(int(0.0004 * fs), 1)
        lo, hi = max(i - w, 0), min(i + w + 1, self.x.size)
        seg = self.x[lo:hi]
        peak = lo + int(np.argmax(seg) if sharp_wave or self.d[i] >= 0 else np.argmin(seg))
        if c < self._busy_until and abs(self.x[peak]) < self._busy_ratio * self._busy_peak:
            return None  # another phase of the potential just measured
        det = self.detector
        slow_only = self._height(peak) < SHAPE_THRESHOLD * det.shape_floor.at(c)
        if slow_only and self._slow_height(peak) < SHAPE_THRESHOLD * det.slow_floor.at(c):
            return None  # the detection branch ringing after a large potential, or noise
        a = max(peak - int(PRE_S * fs), 0)
        b = min(peak + int(POST_S * fs) + 1, self.x.size)
        noise = self.noise.at(c)
        t = (self.x0 + peak) / fs

        def measured(linked: tuple[int, ...] = ()) -> F.Measures:
            return F.measure(self.x[a:b], self.s[a:b], peak - a, fs, noise,
                             self.detector.floor.at(c), self.epn.log.active, linked)

        m = measured()
        if sharp_wave and m.shape != F.SHARP_POSITIVE:
            return None  # that branch's other peaks: end-plate noise, units' slow phases
        if m.half_width_ms > BLUNT_MS:
            return None  # a slow wave (a phase's tail, movement), not a potential
        if slow_only and m.half_width_ms >= SLOW_PHASE_MS:
            # Standing out only below 1 kHz, a phase this wide is mostly a sharp wave's or
            # a fibrillation's slow after-phase: in a denervated field the slow branch
            # brings up many of them, and they are not potentials.
            return None
        if m.half_width_ms >= SLOW_PHASE_MS and self._dwarfed(peak):
            return None  # the slow initial or terminal phase of the large potential beside
        snippet = self._snippet(peak)
        matched, norm = self.trains.match(t, snippet, m.amplitude_uv, noise)
        followers = m.followers
        linked = self._linked(matched, t)
        if linked:
            m = measured(linked)
        # Later candidates within the potential's own phases are not new potentials: a
        # motor unit's and a sharp wave's phases spread over their whole duration, a
        # spike's over a few milliseconds.
        if m.shape == F.MOTOR_UNIT:
            reach = UNIT_PHASES_S[self.field.denervated(t)]
            reach, self._busy_ratio = max(m.end, m.peak + int(reach * fs)), 1.0
        elif m.shape == F.SHARP_POSITIVE:
            reach, self._busy_ratio = m.end, 0.5
        else:
            reach, self._busy_ratio = min(m.end, m.peak + int(BUSY_S * fs)), 0.8
        if linked:  # through its last late component, whatever its shape
            reach = max(reach, m.peak + max(linked) + int(self._link[0]))
        self._busy_until = self.x0 + a + reach + 1
        self._busy_peak = abs(self.x[peak])
        if self._near_clipping(self.x0 + peak):
            self.clipped_potentials += 1
            return None
        if self.contact.active:
            return None
        if self.burst.potential(t, m.amplitude_uv, m.shape == F.MOTOR_UNIT):
            return None
        train = self.trains.add(matched, t, norm, m.amplitude_uv, m.shape, followers)
        facts = self._facts(m, train, t, bool(linked))
        kind, rule = classify(facts)
        self.field.decided(t, kind, rule, facts)
        if kind is None:
            return None  # part of the end-plate noise, counted by its detector
        if kind != UNCLASSIFIED:
            train.kind = kind
        event = Event(t=t, kind=kind, amplitude_uv=m.amplitude_uv, duration_ms=m.duration_ms,
                      train=train.id, rise_us=m.rise_us if m.shape == F.MOTOR_UNIT else None,
                      initial=m.initial, decided_at=self.total / fs, rule=rule)
        if self.facts is not None:
            self.facts.append(facts)
        if fires_as_unit(facts, rule):
            self.tonic.motor_unit(t)  # what says units fire, not every unit-sized reading
        self.measurer.event(event)
        return event

    def _facts(self, m: F.Measures, train: TrainState, t: float, linked: bool) -> Facts:
        """Everything `classify` may read about this potential, gathered in one place."""
        isis = train.all_isis
        pattern = train.pattern()
        return Facts(
            shape=m.shape, amplitude_uv=m.amplitude_uv, duration_ms=m.duration_ms,
            half_width_ms=m.half_width_ms, initial=m.initial, main=m.main, pos_uv=m.pos_uv,
            neg_uv=m.neg_uv, linked=linked, intervals=len(isis), pattern=pattern,
            on_clock=(reads_clock(m.shape, m.initial, m.main, m.amplitude_uv, pattern,
                                  m.pos_uv, m.neg_uv)
                      and train.on_clock()),
            fast_run=train.fast_run(MYOTONIC_MAX_ISI_S),
            last_isi_s=isis[-1] if isis else np.inf,
            recent_cv=coefficient_of_variation(isis[-8:]) if len(isis) >= 2 else np.nan,
            t=t, quiet_s=t - self.field.last_unit_shape,
            in_end_plate_noise=self.epn.on_at(t), units_firing=self.field.units_firing(t),
            denervated=self.field.denervated(t))

    def caveats(self, t: float | None = None) -> list[str]:
        """What goes on around the potentials, said beside the findings (never a reason
        to rename one): motor units firing, end-plate noise."""
        t = self.now if t is None else t
        out = []
        if self.field.units_firing(t):
            out.append("motor_units_firing")
        if self.epn.log.active:
            out.append("end_plate_noise")
        return out

    def _linked(self, train: TrainState | None, t: float) -> tuple[int, ...]:
        """Delays (samples) of the late components of the unit whose train this is: peaks
        that follow its potentials at the same delays firing after firing (satellites) are
        part of the potential, not other potentials. Not in end-plate noise, whose
        miniature potentials and spikes bring followers at every delay (a trigger point's
        end-plate spikes would be named motor units so), nor in a myotonic run, whose sharp
        waves' own slow phase follows them at a fixed delay."""
        if train is None or self.epn.on_at(t) or train.fast_run(MYOTONIC_MAX_ISI_S) >= 2:
            return ()
        return train.linked(*self._link)

    def _height(self, peak: int) -> float:
        """How far the shape branch at `peak` stands from the line it rides on. In a dense
        field a sharp wave often starts on an earlier one's slow negative phase: low from
        zero, well clear of that line. Noise on a slow phase (a sharp wave's negative phase,
        a unit's terminal phase) stands out of zero but not of the line, and is no
        potential."""
        return abs(float(self.s[peak]) - self._line(self.s, peak))

    def _slow_height(self, peak: int) -> float:
        """The same in the slow branch, in the direction of the potential's peak: there the
        peak comes up to 0.6 ms later (the branch's delay for a broad phase)."""
        v = self._v.view
        ahead = v[max(peak - int(0.0002 * self.fs), 0): peak + int(0.0006 * self.fs) + 1]
        ahead = ahead - self._line(v, peak)
        return float(ahead.max() if self.x[peak] >= 0 else -ahead.min())

    def _line(self, branch: np.ndarray, peak: int) -> float:
        """The line a potential rides on in `branch`: its median over LINE_S either side."""
        r = int(LINE_S * self.fs)
        return _median(branch[max(peak - r, 0): peak + r + 1])

    def _dwarfed(self, peak: int) -> bool:
        """A peak SLOW_PHASE_RATIO times this one's lies within SLOW_PHASE_REACH_S, in the
        shape branch."""
        reach = int(SLOW_PHASE_REACH_S * self.fs)
        near = self.s[max(peak - reach, 0): peak + reach + 1]
        return bool(np.abs(near).max() >= SLOW_PHASE_RATIO * abs(self.s[peak]))

    def _snippet(self, peak: int) -> np.ndarray:
        """The waveform trains are matched on, zero-padded at the history's end."""
        s0, s1 = int(SNIPPET_S[0] * self.fs), int(SNIPPET_S[1] * self.fs)
        snippet = self.x[max(peak - s0, 0): peak + s1]
        return np.pad(snippet, (0, s0 + s1 - snippet.size)) if snippet.size != s0 + s1 else snippet

    # side channels -----------------------------------------------------------------------
    def _clipping(self, raw: np.ndarray, first: int) -> None:
        if raw.size == 0:
            return
        self.rail = max(self.rail, float(np.abs(raw).max()))
        for s, e in clipped_runs(raw, first):
            if abs(raw[s - first]) >= 0.98 * self.rail:
                if self.clipped and self.clipped[-1][1] >= s - 1:
                    self.clipped[-1] = (self.clipped[-1][0], max(e, self.clipped[-1][1]))
                elif not self.clipped or s > self.clipped[-1][0]:
                    self.clipped.append((s, e))

    def _near_clipping(self, index: int) -> bool:
        guard = int(CLIP_GUARD_S * self.fs)
        # Stretches are kept in order; the ones that could reach `index` end just before it.
        i = bisect.bisect_left(self.clipped, index - guard, key=lambda c: c[1])
        return any(s - guard <= index < e + guard for s, e in self.clipped[i:i + 2])

    def _artefact(self, x: np.ndarray) -> None:
        """Per 10 ms block: the largest value of the signal low-passed at 25 Hz (where a
        movement artefact is and a motor unit potential mostly is not), and the largest
        value of the signal itself."""
        xs = self._lf_blocks.push(x)
        if not xs.size:
            return
        size = self._lf_blocks.size
        slows = np.abs(self._lf.process(xs).reshape(-1, size)).max(axis=1)
        peaks = np.abs(xs.reshape(-1, size)).max(axis=1)
        start = self._lf_blocks.first
        for k in range(peaks.size):
            self.burst.slow((start + k * size) / self.fs, float(slows[k]), float(peaks[k]))

    def _contact(self, raw: np.ndarray, x: np.ndarray) -> None:
        """Per 100 ms block of raw and filtered samples (two gatherers in step)."""
        raws, xs = self._contact_raw.push(raw), self._contact_x.push(x)
        size = self._contact_x.size
        start = self._contact_x.first
        for k in range(xs.size // size):
            sl = slice(k * size, (k + 1) * size)
            hum, resid = self._hum(xs[sl])
            t0 = (start + k * size) / self.fs
            self.contact.block(t0, t0 + CONTACT_BLOCK_S, raws[sl], hum, resid)

    # results ---------------------------------------------------------------------------
    def segments(self, now: float | None = None) -> list[Segment]:
        now = self.now if now is None else now
        out = [*self.epn.log.all(now), *self.burst.insertion.all(now),
               *self.burst.twitch.all(now), *self.tonic.log.all(now),
               *self.contact.log.all(now)]
        return sorted(out, key=lambda s: (s.start, s.kind))

    def train_list(self, active_within_s: float | None = None) -> list[Train]:
        """Trains of at least two potentials; with `active_within_s`, only those that fired
        that recently (the live panel), else all, finished ones too (a recording)."""
        out = []
        trains = self.trains.all() if active_within_s is None else [
            tr for tr in self.trains.trains.values()
            if self.now - tr.last_t < active_within_s]
        for tr in trains:
            if tr.count >= 2 and tr.kind:
                rate, cv = tr.stats()
                out.append(Train(tr.id, tr.kind, rate, cv, tr.count))
        return out

    def measures(self) -> dict:
        return self.measurer.snapshot(self)


class Field:
    """What the last few seconds of the needle's field showed, kept in one place and updated
    after each potential is named: signs of denervation (fibrillations and sharp waves named),
    potentials of trains firing as motor units do, and when the last unit-shaped potential
    came. The analyser says whether units are firing beside its findings (a caveat), and
    reaches less far past a unit-shaped potential where the field shows denervation. Units
    firing may withhold a word that shape alone would give (classify.Facts.units_firing),
    never give or change one."""

    SPAN_S = 5.0
    DENERVATED_SIGNS = 10
    UNITS_FIRING = 3  # potentials in the last second that say units fire (fires_as_unit)

    def __init__(self):
        self.signs: deque[float] = deque()
        self.units: deque[float] = deque()
        self.last_unit_shape = -np.inf

    def decided(self, t: float, kind: str | None, rule: str, facts: Facts) -> None:
        if kind in ("fibrillation", "positive_sharp_wave"):
            self.signs.append(t)
        if fires_as_unit(facts, rule):
            self.units.append(t)
        if facts.shape == F.MOTOR_UNIT:
            self.last_unit_shape = t

    def denervated(self, t: float) -> bool:
        return _trim(self.signs, t - self.SPAN_S) >= self.DENERVATED_SIGNS

    def units_firing(self, t: float) -> bool:
        """UNITS_FIRING potentials in the last second said so; in a recording's first
        second, proportionally fewer (the real recordings start in a contraction)."""
        need = max(int(np.ceil(self.UNITS_FIRING * min(t, 1.0))), 1)
        return _trim(self.units, t - 1.0) >= need


class History:
    """The last `keep` samples of a stream plus whatever was appended since the last trim,
    appended to without reallocating each time: a larger buffer is filled and shifted
    down only when full."""

    def __init__(self, keep: int):
        self.keep = keep
        self.buf = np.zeros(4 * keep + 16)
        self.start = 0
        self.n = 0

    def append(self, x: np.ndarray) -> None:
        if self.n + x.size > self.buf.size:
            kept = self.buf[self.start:self.n].copy()
            if kept.size + x.size > self.buf.size:
                self.buf = np.zeros(2 * (kept.size + x.size))
            self.buf[:kept.size] = kept
            self.start, self.n = 0, kept.size
        self.buf[self.n:self.n + x.size] = x
        self.n += x.size

    def trim(self) -> None:
        self.start = max(self.n - self.keep, self.start)

    @property
    def view(self) -> np.ndarray:
        return self.buf[self.start:self.n]


def _median(x: np.ndarray) -> float:
    """By one partial sort (cheaper than np.median; for an even count, as in a stream's first
    6 ms, the upper of the two middle values)."""
    middle = x.size // 2
    return float(np.partition(x, middle)[middle])


def _trim(entries: deque, since: float, time=lambda entry: entry) -> int:
    """Drop the entries (in time order) older than `since`; how many are left. `time`
    reads an entry's time (the entry itself, or a field of it)."""
    while entries and time(entries[0]) < since:
        entries.popleft()
    return len(entries)


class HumMeter:
    """RMS of the mains fundamental and two odd harmonics in a block, and of everything
    else, by projection on sines and cosines (the check for a lead off in hum). The
    projection's size does not depend on the block's phase, so the tables are made once."""

    def __init__(self, fs: float, block: int, mains_hz: float | None):
        t = np.arange(block) / fs
        # Per mains frequency: the cosine and sine of each harmonic below Nyquist, as rows
        self.tables = [np.array([w(2 * np.pi * h * f * t) for h in (1, 3, 5) if h * f < fs / 2
                                 for w in (np.cos, np.sin)])
                       for f in ((mains_hz,) if mains_hz else (50.0, 60.0))]

    def __call__(self, x: np.ndarray) -> tuple[float, float]:
        n = x.size
        # einsum, not a matrix product: BLAS would wake helper threads that compete with
        # sound.
        best = max(float(np.sum((2 * np.einsum("ij,j->i", rows, x) / n) ** 2)) / 2
                   for rows in self.tables)
        total = float((x * x).sum() / n)
        return float(np.sqrt(best)), float(np.sqrt(max(total - best, 0.0)))


__all__ = ["LOOKAHEAD_S", "Analyser"]
