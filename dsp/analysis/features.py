"""Measures of one potential as a clinician reads it: which way it starts, which phase is
largest, how long it lasts, how fast its main spike rises, and what shape class follows.

All functions take a window of filtered microvolts around the potential, the index of the
candidate's largest peak inside it, the sample rate and the local noise level (RMS).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Shape classes, before firing pattern decides the final kind.
SPIKE_POSITIVE_FIRST = "spike+"  # fibrillation-like: initial positive, main negative spike
SHARP_POSITIVE = "psw"  # sharp positive deflection, no negative spike
SPIKE_NEGATIVE_FIRST = "spike-"  # end-plate spike-like: initial negative, then positive
MINIATURE = "mepp"  # small monophasic negative: part of end-plate noise
MOTOR_UNIT = "muap"
# The shapes one fibre or unit can take when noise or overlap blurs its phases: trains
# match across them, and firing pattern decides between them.
SPIKY = frozenset({SPIKE_POSITIVE_FIRST, SPIKE_NEGATIVE_FIRST, MOTOR_UNIT})

MUAP_MIN_DURATION_MS = 6.0  # longer than fibrillations (1-5 ms) and end-plate spikes
MUAP_MIN_AMPLITUDE_UV = 450.0  # larger than fibrillation potentials (20-200 uV)
MINIATURE_MAX_UV = 100.0  # miniature end-plate potentials are 10-50 uV, and sum to a little more
MUAP_MIN_HALF_WIDTH_MS = 0.8  # a blunter main phase than a fibre's spike: a distant unit
# Where a slow wave under a potential is read, in ms before and after its largest peak:
# outside a fibre's 1-5 ms.
BASELINE_BEFORE_MS, BASELINE_AFTER_MS = (2.0, 4.0), (3.0, 5.0)
# A slow wave (a sharp wave's negative phase lasts 10-30 ms) changes less than this across
# a fibre's potential; a bigger change is the potential's own slow phase starting.
BASELINE_MAX_CHANGE = 2.0
NEIGHBOUR_MIN_MS = 1.5  # a sharp peak nearer than this is a phase of the same potential
# A motor unit's late component follows its spike at the same delay every firing, within
# this (noise moves a peak by a sample or two; a linked potential's jitter is under 0.05 ms).
LINK_TOLERANCE_MS = 0.25
LINK_MAX_MS = 6.0  # satellites follow within a few ms; the trains' snippet reaches this far
LINK_SPAN_MS = LINK_MAX_MS - NEIGHBOUR_MIN_MS  # where followers are sought


@dataclass
class Measures:
    peak: int  # index in the window of the largest absolute value
    amplitude_uv: float  # peak to peak
    duration_ms: float
    initial: str  # "positive" or "negative"
    main: str  # polarity of the largest phase
    rise_us: float | None
    shape: str
    neg_uv: float  # largest negative excursion (as a positive number)
    pos_uv: float  # largest positive excursion
    half_width_ms: float  # width of the main phase at half its height
    end: int  # index in the window of the potential's last sample above the noise
    # Samples from the largest peak to each later sharp peak of comparable size but smaller
    # (up to LINK_MAX_MS): later potentials, or this one's own late components, which only
    # firing after firing at the same delay tells apart.
    followers: tuple[int, ...] = ()


def _extent(x: np.ndarray, peak: int, level: float, gap: int) -> tuple[int, int]:
    """First and last index around `peak` where |x| exceeds `level`, allowing quiet gaps of
    up to `gap` samples inside the potential (its phases can pass through zero slowly)."""
    above = (np.abs(x) > level).tolist()  # a list: indexing it in the loop is cheap
    lo = peak
    quiet = 0
    i = peak - 1
    while i >= 0 and quiet <= gap:
        quiet = 0 if above[i] else quiet + 1
        if above[i]:
            lo = i
        i -= 1
    hi = peak
    quiet = 0
    i = peak + 1
    while i < len(x) and quiet <= gap:
        quiet = 0 if above[i] else quiet + 1
        if above[i]:
            hi = i
        i += 1
    return lo, hi


def _neighbours(d: np.ndarray, peak: int, fs: float,
                linked: tuple[int, ...] = ()) -> tuple[int, int, tuple[int, ...]]:
    """Where the neighbouring potentials begin: the nearest sharp peak at least half this
    one's size more than NEIGHBOUR_MIN_MS away on either side. A potential's own later
    phases are smaller; a neighbour of comparable size is another potential, and the
    extent stops halfway to it. Also the offsets of the lobes of that size after it but
    smaller than it, up to LINK_MAX_MS (candidates for late components). `linked`:
    offsets of this potential's own late components (learnt from its train), which are
    not neighbours."""
    ms = fs / 1000.0
    size = abs(d[peak])
    big = np.flatnonzero(np.abs(d) >= 0.5 * size)
    far = int(NEIGHBOUR_MIN_MS * ms)
    before = big[big < peak - far]
    after = big[big > peak + far]
    left = (int(before[-1]) + peak) // 2 if before.size else 0
    tolerance = LINK_TOLERANCE_MS * ms
    reach = peak + LINK_MAX_MS * ms + tolerance  # followers and late components lie within
    # Lobes of that size after it (runs of consecutive samples): where each begins and
    # its peak, up to `reach`, then where the next one begins (its peak lies beyond every
    # late component).
    head = after[: int(np.searchsorted(after, reach, side="right"))]
    lobes: list[list] = []  # [first, top, |d| at top]; plain Python: a few dozen samples
    last = -2
    for i, v in zip(head.tolist(), np.abs(d[head]).tolist(), strict=True):
        if i != last + 1:
            lobes.append([i, i, v])
        elif v > lobes[-1][2]:
            lobes[-1][1:] = [i, v]
        last = i
    rest = after[head.size:]
    if rest.size and head.size and rest[0] == head[-1] + 1:
        gaps = np.flatnonzero(np.diff(rest) > 1)  # the last lobe runs on past `reach`
        rest = rest[gaps[0] + 1:] if gaps.size else rest[:0]
    if rest.size:
        lobes.append([int(rest[0]), d.size, 0.0])  # its peak: beyond `reach`, not known
    # The potential reaches at least to its last own late component, seen this time or not
    # (noise can hide one); what lies between is part of it too.
    own = [top for _, top, _ in lobes if any(abs(top - peak - k) <= tolerance for k in linked)]
    last_own = max([peak + int(max(linked, default=0) + tolerance), *own])
    right = next(((first + peak) // 2 + 1 for first, top, _ in lobes if top > last_own), d.size)
    followers = [top - peak for _, top, v in lobes if top - peak <= LINK_MAX_MS * ms and v < size]
    return left, right, tuple(followers)


def _half_width(x: np.ndarray, peak: int) -> int:
    """Samples for which the main phase stays above half its peak value."""
    half = x[peak] / 2
    same = (x * np.sign(x[peak])) > abs(half)
    lo = peak
    while lo > 0 and same[lo - 1]:
        lo -= 1
    hi = peak
    while hi < len(x) - 1 and same[hi + 1]:
        hi += 1
    return hi - lo + 1


def measure(x: np.ndarray, d: np.ndarray, peak: int, fs: float, noise_uv: float,
            phase_noise_uv: float, dense_background: bool = False,
            linked: tuple[int, ...] = ()) -> Measures:
    """Measures of the potential whose largest peak is x[peak]; `d` is the same window of
    the shape branch (low-passed, less noisy), used to read the phases of small
    potentials. `phase_noise_uv` scales the test for an initial phase: it is the detection
    branch's noise floor, against which that test's factor was set (the shape branch's own
    floor reads slightly higher, and would raise the bar an initial phase must clear). With
    `dense_background` (end-plate noise), the extent is judged against the background just
    before the potential rather than the amplifier's noise. `linked`: see `_neighbours`."""
    ms = fs / 1000.0
    # Phases, extent and size are read from the line the potential rides on, as on an EMG
    # screen: in a dense field a fibrillation often sits on a sharp wave's slow phase.
    base = _baseline(d, peak, fs)
    x, d = x - base, d - base
    near = x[max(peak - int(3 * ms), 0): peak + int(3 * ms) + 1]
    background = noise_uv
    if dense_background:
        before = x[max(peak - int(12 * ms), 0): max(peak - int(3 * ms), 1)]
        background = max(noise_uv, _robust_rms(before))
    level = max(0.06 * float(near.max() - near.min()), 2.5 * background)
    left, right, followers = _neighbours(d, peak, fs, linked)
    lo, hi = _extent(x[left:right], peak - left, level, gap=int(1.0 * ms))
    lo, hi = lo + left, hi + left
    duration = (hi - lo + 1) / fs * 1e3
    # Amplitude over the potential's own extent (not a fixed window that may hold part of
    # a neighbour), at least its central 1 ms.
    own = x[min(lo, peak - int(0.5 * ms)): max(hi, peak + int(0.5 * ms)) + 1]
    pos, neg = float(max(own.max(), 0.0)), float(max(-own.min(), 0.0))
    pp = pos + neg
    main = "positive" if x[peak] > 0 else "negative"
    initial = _initial(d, peak, fs, phase_noise_uv, main)
    half = _half_width(d, peak) / fs * 1e3
    rise = _rise_us(x, peak, lo, fs) if main == "negative" else None
    m = Measures(peak, pp, duration, initial, main, rise, "", neg, pos, half, hi, followers)
    m.shape = classify_shape(x, d, m, fs, phase_noise_uv)
    return m


def _baseline(d: np.ndarray, peak: int, fs: float) -> np.ndarray | float:
    """The slow wave the potential rides on, when it has one: a steady level on both sides
    of it (2-4 ms before its largest peak, 3-5 ms after), read on the shape branch, of the
    same sign and similar size; steady means the stretch stays on one side of the zero line
    throughout. A line between the two levels, flat beyond them. An offset on one side
    only is an early or late phase (of this potential, such as a sharp wave's slow negative
    phase, or of the one before), not a baseline, and is left alone."""
    ms = fs / 1000.0
    (b0, b1), (a0, a1) = BASELINE_BEFORE_MS, BASELINE_AFTER_MS
    levels = []
    for w in (d[max(peak - int(b1 * ms), 0): max(peak - int(b0 * ms), 0)],
              d[peak + int(a0 * ms): peak + int(a1 * ms)]):
        lo, hi = (float(w.min()), float(w.max())) if w.size >= 4 else (0.0, 0.0)
        if lo <= 0.0 <= hi:
            return 0.0  # cheap and usual: no offset (most potentials stop here)
        levels.append(float(w.mean()))
    small, big = sorted(abs(v) for v in levels)
    if levels[0] * levels[1] <= 0 or big > BASELINE_MAX_CHANGE * small:
        return 0.0
    centres = (peak - (b0 + b1) / 2 * ms, peak + (a0 + a1) / 2 * ms)
    return np.interp(np.arange(d.size), centres, levels)


def _robust_rms(x: np.ndarray) -> float:
    if x.size < 8:
        return 0.0
    return float(np.median(np.abs(x - np.median(x))) / 0.6745)


def _lobes(d: np.ndarray, peak: int, fs: float) -> tuple[float, float]:
    """Largest excursions of the main phase's opposite sign just before and just after it,
    on the shape branch: the initial and the terminal phase."""
    ms = fs / 1000.0
    sign = 1.0 if d[peak] > 0 else -1.0
    pre = d[max(peak - int(1.5 * ms), 0): peak]
    post = d[peak + 1: peak + int(2.0 * ms) + 1]
    opp = -sign
    return (float(max((opp * pre).max(), 0.0)) if pre.size else 0.0,
            float(max((opp * post).max(), 0.0)) if post.size else 0.0)


def _initial(d: np.ndarray, peak: int, fs: float, phase_noise: float, main: str) -> str:
    """The first phase: an opposite phase before the main one that stands out of the noise
    (and is not dwarfed by the phase after) makes the potential start that way."""
    pre, post = _lobes(d, peak, fs)
    main_size = abs(d[peak])
    opposite_first = pre >= max(0.15 * main_size, 2.0 * phase_noise) and pre >= 0.5 * post
    if main == "negative":
        return "positive" if opposite_first else "negative"
    return "negative" if opposite_first else "positive"


def _rise_us(x: np.ndarray, peak: int, lo: int, fs: float) -> float | None:
    """From the positive peak before the main negative spike to the spike (EMG machines'
    rise time); from the potential's onset when nothing positive precedes it. None when
    the onset was found on the spike itself (under 2 samples): no rise was seen, and a rise
    of 0 would read as a needle on the unit."""
    start = max(lo, peak - int(0.004 * fs))
    before = x[start:peak + 1]
    ipos = int(np.argmax(before)) + start
    if x[ipos] <= 0:
        ipos = lo
    if peak - ipos < 2:
        return None
    return (peak - ipos) / fs * 1e6


def classify_shape(x: np.ndarray, d: np.ndarray, m: Measures, fs: float,
                   phase_noise: float) -> str:
    ms = fs / 1000.0
    p = m.peak
    if m.main == "positive":
        # A positive sharp wave has no negative spike near its positive peak; what follows
        # is a shallow, slow negative phase.
        near = d[max(p - int(3 * ms), 0): p + int(3 * ms) + 1]
        if -near.min() < 0.45 * d[p]:
            return SHARP_POSITIVE
        if m.amplitude_uv >= MUAP_MIN_AMPLITUDE_UV or m.duration_ms >= MUAP_MIN_DURATION_MS:
            return MOTOR_UNIT
        return SPIKE_NEGATIVE_FIRST if m.initial == "negative" else SPIKE_POSITIVE_FIRST
    if (m.amplitude_uv >= MUAP_MIN_AMPLITUDE_UV or m.duration_ms >= MUAP_MIN_DURATION_MS
            or m.half_width_ms >= MUAP_MIN_HALF_WIDTH_MS):
        return MOTOR_UNIT
    if m.initial == "positive":
        return SPIKE_POSITIVE_FIRST
    pre, post = _lobes(d, p, fs)
    if (max(pre, post) < 0.3 * abs(d[p]) and m.half_width_ms < 1.2
            and m.amplitude_uv < MINIATURE_MAX_UV):
        return MINIATURE
    return SPIKE_NEGATIVE_FIRST
