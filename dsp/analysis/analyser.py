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
from dataclasses import replace
from operator import itemgetter

import numpy as np
from scipy.ndimage import maximum_filter1d, minimum_filter1d
from scipy.signal import butter

from dsp.analysis import features as F
from dsp.analysis.detect import Detector, NoiseFloor, quantisation_rms
from dsp.analysis.measures import Measurer
from dsp.analysis.results import Event, Segment, Train
from dsp.analysis.segments import Contact, EndPlateNoise, NeedleBurst, Tonic, clipped_runs
from dsp.analysis.trains import TrainState, TrainTracker
from dsp.blocks import Blocks
from dsp.sos import Sos

LOOKAHEAD_S = 0.025
HISTORY_S = 1.0
PRE_S, POST_S = 0.012, 0.024  # the window a potential is measured in
SNIPPET_S = (0.002, 0.006)  # the waveform trains are matched on
ARTEFACT_LOWPASS_HZ = 25.0
ARTEFACT_BLOCK_S = NeedleBurst.BLOCK_S  # the needle-move detector counts in these
CONTACT_BLOCK_S = 0.1
SPONTANEOUS = ("fibrillation", "positive_sharp_wave", "end_plate_spike")
# Fibrillations are 20-200 uV, end-plate spikes about 100-200 (reference table); sharp
# waves can be larger. Well beyond that, the potential is a motor unit's.
SPONTANEOUS_MAX_UV = {"fibrillation": 350.0, "end_plate_spike": 350.0,
                      "positive_sharp_wave": 600.0}
# Motor units are firing when this many potentials came in the last second that are either
# larger than spontaneous activity gets (fibrillations, end-plate spikes and sharp waves
# stay within about 20-300 uV) or motor-unit-shaped and sizeable.
CONTEXT_ANY_UV, CONTEXT_UNIT_UV, CONTEXT_COUNT, CONTEXT_S = 350.0, 200.0, 3, 1.0
UNIT_NEGATIVE_SHARE = 0.4
AT_REST_UNIT_UV = 200.0
MYOTONIC_MAX_ISI_S = 0.055  # faster than 18 Hz: beyond fibrillation's 0.5-15 Hz
DISCHARGE_SIZE = (0.5, 2.0)  # of the last myotonic potential: the same discharge's
FASCICULATION_QUIET_S = 1.0  # an isolated motor unit potential after this long is one
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
# Even a long (5 ms) fibrillation's main spike is under this wide at half its height;
# a blunter one is a distant motor unit's.
FIBRE_MAX_HALF_WIDTH_MS = 1.0
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
                 step_uv: float | None = None):
        """`step_uv`: the ADC's step in microvolts, where known (a floor for the noise)."""
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
        self._last_muap_t = -np.inf
        # (time, train) of potentials only motor units make, over the last CONTEXT_S
        self._big_units: deque[tuple[float, int]] = deque()
        self.field = Field()
        self._discharge: tuple[float, str, float] | None = None  # the last myotonic call
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
            if m.shape in F.SPIKY and matched.pattern() != "regular":
                # A single fibre has no such components: this is a motor unit's potential.
                m = replace(m, shape=F.MOTOR_UNIT)
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
        if m.shape == F.MINIATURE:
            if self.epn.on_at(t):
                return None  # counted by the end-plate noise detector
            # Elsewhere a small negative spike is a fibre's whose first phase the noise hid.
            m = replace(m, shape=F.SPIKE_NEGATIVE_FIRST)
        if self.burst.potential(t, m.amplitude_uv, m.shape == F.MOTOR_UNIT):
            return None
        train = self.trains.add(matched, t, norm, m.amplitude_uv, m.shape, followers)
        kind = self._kind(m, train, t, peak)
        if kind is None:
            return None  # part of the end-plate noise, counted by its detector
        train.kind = kind
        event = Event(t=t, kind=kind, amplitude_uv=m.amplitude_uv, duration_ms=m.duration_ms,
                      train=train.id, rise_us=m.rise_us if m.shape == F.MOTOR_UNIT else None,
                      initial=m.initial, decided_at=self.total / fs)
        if kind in ("muap", "fasciculation"):
            self.tonic.motor_unit(t)
            self._last_muap_t = t
        self.measurer.event(event)
        return event

    def _linked(self, train: TrainState | None, t: float) -> tuple[int, ...]:
        """Delays (samples) of the late components of the unit whose train this is: peaks
        that follow its potentials at the same delays firing after firing (satellites) are
        part of the potential, not other potentials. Not in end-plate noise, whose
        miniature potentials and spikes bring followers at every delay (a trigger point's
        end-plate spikes would be named motor units so), nor in a myotonic run, whose sharp
        waves' own slow phase follows them at a fixed delay."""
        if train is None or self.epn.on_at(t) or _fast_run(train.all_isis):
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

    def _kind(self, m: F.Measures, train: TrainState, t: float, peak: int) -> str | None:
        """The potential's kind, or None when it is part of the end-plate noise."""
        firing = self._motor_units_firing(t)
        denervated = self.field.denervated(t)
        # Where the field shows denervation, a train of small unit-shaped potentials is
        # mostly a fibre's read blunt (overlap, a coarse grid), not a unit firing: counted
        # as one, it takes the field off rest, and the fibrillations and sharp waves around
        # it are named motor units.
        if self._fires_like_unit(m, train, t) and not (denervated
                                                        and m.amplitude_uv < AT_REST_UNIT_UV):
            self.field.units.append(t)
        at_rest = not firing and self.field.units_within(t, CONTEXT_S) < CONTEXT_COUNT
        if at_rest and _fibre_read_blunt(m, train, denervated):
            spike = F.SPIKE_POSITIVE_FIRST if m.initial == "positive" else F.SPIKE_NEGATIVE_FIRST
            m = replace(m, shape=spike)
        kind = self._kind_alone(m, train, t, at_rest)
        if m.amplitude_uv >= CONTEXT_ANY_UV or (m.shape == F.MOTOR_UNIT
                                                 and m.amplitude_uv >= CONTEXT_UNIT_UV):
            self._big_units.append((t, train.id))
        kind = self._in_context(kind, m, train, t, peak, at_rest, denervated)
        if kind == "myotonic_discharge":
            self._discharge = (t, m.shape, m.amplitude_uv)
        if kind == "positive_sharp_wave" or (kind == "fibrillation" and _clocked(m, train)
                                             and (m.shape != F.MOTOR_UNIT or denervated
                                                  or train.pattern() == "regular")):
            # A unit-shaped fibrillation call on a clock of its own within an irregular
            # train keeps a field denervated but does not make it so: it is as often a
            # unit that fired evenly for a few beats, and such calls would take a light
            # contraction's field for denervated and name its unit potentials
            # fibrillations.
            self.field.signs.append(t)
        return kind

    def _in_context(self, kind: str, m: F.Measures, train: TrainState, t: float, peak: int,
                    at_rest: bool, denervated: bool) -> str | None:
        """The kind the potential's shape and train suggest, judged against what goes on
        around it."""
        if m.amplitude_uv >= SPONTANEOUS_MAX_UV.get(kind, np.inf):
            return "muap"  # larger than that kind of spontaneous activity gets: a motor unit
        if (kind in ("fibrillation", "myotonic_discharge") and self.epn.on_at(t)
                and not _clocked(m, train) and not denervated):
            # In end-plate noise only a clock tells a fibrillation from the end plate's own
            # potentials (the classic pitfall): summed miniature potentials read as small
            # positive-first spikes, many a second, and some come in fast runs that read
            # as myotonic. Not where sharp waves and clock-like trains show denervation: a
            # dense field's small fibrillations pass for miniature potentials and bring
            # end-plate noise of their own, and its spikes are still the field's
            # fibrillations.
            if m.amplitude_uv < F.MINIATURE_MAX_UV:
                return None
            if kind == "fibrillation":
                return "end_plate_spike"
        if kind in SPONTANEOUS and (not at_rest or self._unit_ahead(peak)):
            # Spontaneous activity is judged at rest: among firing motor units (large ones,
            # or trains of motor unit potentials firing semiregularly) a small spike is far
            # more likely a distant unit or a unit's fragment than a fibrillation.
            return "muap"
        if (kind == "fibrillation" and not _clocked(m, train) and not denervated
                and self.field.units_seen(t)):
            # Without a clock, nothing but its shape makes it a fibrillation; where motor
            # unit trains fired lately and nothing showed denervation, a spike of that shape
            # is a distant unit's potential (or a myotonic discharge's) far more often than
            # a fibrillation.
            return "muap"
        if kind == "end_plate_spike" and denervated and not self.epn.on_at(t):
            # End-plate spikes come with end-plate noise. Without it, in a field that shows
            # denervation, a spike that starts negative is a fibre's recorded near where
            # it starts: such fields bring many fibrillations and sharp waves of that
            # shape, and end-plate spikes hardly ever.
            return "positive_sharp_wave" if m.main == "positive" else "fibrillation"
        return kind

    def _unit_ahead(self, peak: int) -> bool:
        """A motor unit's negative spike, larger than any fibrillation's, follows within
        the look-ahead: this potential starts a burst of motor unit firing."""
        ahead = self.x[peak + int(0.0015 * self.fs): peak + self.detector.lookahead]
        if ahead.size == 0 or ahead.max() - ahead.min() < CONTEXT_ANY_UV:
            return False
        # Peak to peak within 2 ms (one potential's main phases), with a real negative
        # spike: a sharp wave's shallow negative phase does not count.
        size = max(int(0.002 * self.fs), 2)
        hi, lo = maximum_filter1d(ahead, size), minimum_filter1d(ahead, size)
        pp = hi - lo
        return bool(np.any((pp >= CONTEXT_ANY_UV) & (-lo >= UNIT_NEGATIVE_SHARE * pp)))

    def _motor_units_firing(self, t: float) -> bool:
        if not self.burst.twitch.active:
            # A local twitch response's units stop with it.
            over = self.burst.last_twitch + self.burst.QUIET_S
            while self._big_units and self._big_units[0][0] <= over:
                self._big_units.popleft()
        n = _trim(self._big_units, t - CONTEXT_S, itemgetter(0))
        if t < CONTEXT_S:
            # A recording's first second: the window is shorter, and so is the count that
            # shows firing; no unit can be seen twice yet (the real recordings start in a
            # contraction). A needle's injury discharges are in its burst, not counted.
            return n >= max(int(np.ceil(CONTEXT_COUNT * t / CONTEXT_S)), 1)
        # Units fire again and again: at least one of them twice. Large one-offs (a
        # needle move's injury discharges) are not motor units firing.
        return n >= CONTEXT_COUNT and len({train for _, train in self._big_units}) < n

    def _kind_alone(self, m: F.Measures, train: TrainState, t: float, at_rest: bool) -> str:
        last_isi = train.all_isis[-1] if train.all_isis else np.inf
        pattern = train.pattern()
        # Very regular firing is clinicians' first rule. At rest a small spike whose
        # train is irregular only because look-alike fibres share it (a dense field) still
        # lies on its own fibre's clock (without it, those fibres' blunt readings would
        # fall through to motor units).
        if (m.shape in F.SPIKY and not _fast_run(train.all_isis)
                and (pattern == "regular" or (at_rest and _on_own_clock(m, train)))):
            return "fibrillation"
        # Fibres fire like clocks. A spike whose train fires as motor units do (CV 0.06 to
        # 0.45 at 4-30 Hz) and that lies on no clock of its own (above) is a unit's seen
        # close to its fibres (a 200 uV unit at 12 Hz reads spiky there, and at rest its
        # potentials would be named fibrillations); not where denervation or end-plate
        # noise bring spikes.
        if self._fires_like_unit(m, train, t):
            return self._motor_unit_kind(t, last_isi)
        if m.shape in F.SPIKY and pattern == "irregular" and m.initial == "negative":
            return "end_plate_spike"
        if m.shape in (F.SPIKE_POSITIVE_FIRST, F.SHARP_POSITIVE):
            if (_fast_run(train.all_isis) or (train.kind == "myotonic_discharge"
                                              and last_isi < 1.5 * MYOTONIC_MAX_ISI_S)
                    or self._in_discharge(m, t)):
                return "myotonic_discharge"
            return "fibrillation" if m.shape == F.SPIKE_POSITIVE_FIRST else "positive_sharp_wave"
        if m.shape == F.SPIKE_NEGATIVE_FIRST:
            return "end_plate_spike"
        return self._motor_unit_kind(t, last_isi)

    def _fires_like_unit(self, m: F.Measures, train: TrainState, t: float) -> bool:
        """A motor unit's potential by its train: shaped like one, or a spike, firing
        semiregularly. Such trains are motor units firing, whatever their shape: at 10 kHz
        a light contraction's units read as sharp spikes, and beside them positive-first
        spikes would be named fibrillations by their shape."""
        return train.pattern() == "semiregular" and (
            m.shape == F.MOTOR_UNIT
            or (m.shape in F.SPIKY and train.kind != "myotonic_discharge"
                and not self.field.denervated(t) and not self.epn.on_at(t)))

    def _in_discharge(self, m: F.Measures, t: float) -> bool:
        """A myotonic discharge is going on, and this potential has its shape: the
        discharge's own fibre, whose train the tracker split (its size swings as it waxes
        and wanes, and noise moves a small one's measured size further). Not in a field
        that shows denervation, where sharp waves and fibrillations of that shape and size
        fire close together on their own, nor in end-plate noise, whose summed miniature
        potentials do too."""
        last = self._discharge
        return (last is not None and t - last[0] < 1.5 * MYOTONIC_MAX_ISI_S
                and not self.field.denervated(t) and not self.epn.on_at(t)
                and m.shape == last[1]
                and DISCHARGE_SIZE[0] * last[2] <= m.amplitude_uv <= DISCHARGE_SIZE[1] * last[2])

    def _motor_unit_kind(self, t: float, last_isi: float) -> str:
        """A fasciculation is a unit firing alone: a second of quiet before it, seen (at a
        recording's start no quiet has been seen, so its first unit is not one)."""
        if (t < FASCICULATION_QUIET_S or t - self._last_muap_t < FASCICULATION_QUIET_S
                or last_isi < FASCICULATION_QUIET_S):
            return "muap"
        return "fasciculation"

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
    """What the last few seconds of the needle's field showed: signs of denervation (sharp
    waves, fibrillations firing like a clock) and trains of motor unit potentials. Like a
    clinician, the analyser reads a potential whose shape and firing leave it open in that
    light."""

    SPAN_S = 5.0
    DENERVATED_SIGNS = 10

    def __init__(self):
        self.signs: deque[float] = deque()
        self.units: deque[float] = deque()

    def denervated(self, t: float) -> bool:
        return _trim(self.signs, t - self.SPAN_S) >= self.DENERVATED_SIGNS

    def units_seen(self, t: float) -> bool:
        return _trim(self.units, t - self.SPAN_S) > 0

    def units_within(self, t: float, span_s: float) -> int:
        """Motor unit train potentials in the last `span_s` (up to SPAN_S) before t."""
        _trim(self.units, t - self.SPAN_S)
        n = 0
        for u in reversed(self.units):
            if u < t - span_s:
                break
            n += 1
        return n


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


def _fibre_read_blunt(m: F.Measures, train: TrainState, denervated: bool) -> bool:
    """At rest, whether a small potential that reads blunt or long (overlap, noise, a coarse
    sample grid) is a fibre's, to be read by its first phase and judged by its firing.

    Only while its train is too young to show a pattern, fires like a clock, or runs
    faster than fibrillations (a myotonic discharge's blunt potentials): a train of
    blunt potentials that has fired long enough and still has no clear pattern is mostly
    distant units that look alike sharing one train (read by their first phase, light
    contractions' and dystonia's unit potentials would be named fibrillations). And a
    positive-first one (as motor units start) wider than any fibre's spike stays a motor
    unit's. In a field that shows denervation, though, such potentials are fibres' whatever
    their train: read as units there, many fibrillations are named motor units, while read
    as fibres hardly a unit potential is named fibrillation."""
    if m.shape != F.MOTOR_UNIT or m.amplitude_uv >= AT_REST_UNIT_UV:
        return False
    if denervated:
        return train.pattern() != "semiregular"
    return ((train.pattern() == "regular" or train.young() or _fast_run(train.all_isis))
            and (m.initial == "negative" or m.half_width_ms <= FIBRE_MAX_HALF_WIDTH_MS))


def _clocked(m: F.Measures, train: TrainState) -> bool:
    """Firing like a fibre: a regular train, or on a clock of its own within one."""
    return train.pattern() == "regular" or _on_own_clock(m, train)


def _on_own_clock(m: F.Measures, train: TrainState) -> bool:
    """A small sharp spike (a fibre's, not a distant unit's) on a clock of its own size."""
    return (m.amplitude_uv < AT_REST_UNIT_UV and m.half_width_ms < FIBRE_MAX_HALF_WIDTH_MS
            and train.on_clock())


def _fast_run(isis: list[float]) -> bool:
    """Two consecutive similar intervals faster than fibrillations ever fire: a myotonic
    run. (One short interval alone can be two trains that look alike.)"""
    if len(isis) < 2:
        return False
    a, b = isis[-2], isis[-1]
    return max(a, b) < MYOTONIC_MAX_ISI_S and max(a, b) < 1.4 * min(a, b)


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
