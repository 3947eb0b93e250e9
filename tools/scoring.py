"""Scoring the analyser against the simulator's ground truth (issue 3, "what must be shown").

Evaluation code, used by the tests and by `python -m tools.evaluate`: pure functions, numpy
only, no I/O. Truth events, segments and clipped stretches are the simulator's dicts
(`Truth.events`, `.segments`, `.clipped`); detections may be `dsp.analysis.results.Event` /
`Segment` objects or dicts with the same fields (`t`, `kind`, `amplitude_uv`; `start`,
`end`, `kind`).

The rules, all in one place (each function repeats the part it applies):

1. Matching. Every truth event is paired with at most one detection and vice versa, by
   time alone (kind plays no part), when |t_detected - t_truth| <= 3 ms. Pairs are taken
   greedily, smallest |dt| first (ties: lower truth index, then lower detection index).
   Greedy is not a maximum matching in contrived chains, but scored truth events are at
   least 4 ms apart (rule 2) and the tolerance is 3 ms, so a detection can compete for at
   most two of them and the nearer one is the right answer.
2. Left out of the score: truth events whose peak lies within 4 ms of another truth event
   (of any kind), and truth events whose peak lies in a clipped stretch. They are neither
   TP nor FN nor binned; detections matched to them, or unmatched but within 3 ms of one,
   are ignored (not FP).
3. Scored truth: the rest with amplitude_uv >= 5 x noise RMS. Below that, truth events are
   not in the F1; they are counted per amplitude bin (in multiples of the noise RMS) with
   how many were found (matched to a detection of any kind) and found with the right kind.
   A detection matched to one of them is ignored (not FP). The top bin (>= 5) holds the
   scored events, so the bins give the whole recall curve.
4. Excused detections: an unmatched detection whose `t` lies in a clipped stretch, or in a
   truth segment of kind insertional_activity, local_twitch_response or end_plate_noise
   (whose potentials the truth does not list one by one), is not FP. Excusal by segment
   applies to unmatched detections only: a detection matched to a scored truth event of
   another kind is a wrong kind wherever it lies.
5. Per kind K: TP = scored truth of kind K matched to a detection of kind K; FN = scored
   truth of kind K not matched, or matched to a detection of another kind; FP = detections
   of kind K that are neither TP nor ignored/excused (rules 2-4), so a detection of kind K
   matched to scored truth of kind J != K is FP for K and FN for J. Precision TP/(TP+FP),
   recall TP/(TP+FN), F1 2TP/(2TP+FP+FN); nan when the denominator is 0.
6. `unclassified`: a detection the analyser declined to name. Matched to scored truth of
   kind J it is a miss (FN) for J and is shown in the confusion table's `unclassified`
   column; it is never a false positive of any kind (not even when it matches no truth:
   then it is counted under `ignored_kinds["unclassified"]` and in the SPURIOUS row), and
   it has no row of its own in `kinds`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

TOLERANCE_S = 0.003  # a detection matches a truth event within this
CROWD_S = 0.004  # truth events closer than this to another are left out
MIN_SNR = 5.0  # scored truth: peak-to-peak amplitude at least this many noise RMS
BIN_EDGES = (0.0, 1.0, 2.0, 3.0, 5.0, math.inf)  # amplitude bins, multiples of noise RMS
EXCUSING_SEGMENTS = ("insertional_activity", "local_twitch_response", "end_plate_noise")
MISSED = "missed"
SPURIOUS = "spurious"
UNCLASSIFIED = "unclassified"
KIND_ORDER = ("fibrillation", "positive_sharp_wave", "end_plate_spike", "fasciculation",
              "muap", "myotonic_discharge")


def _get(obj, name: str):
    return obj[name] if isinstance(obj, dict) else getattr(obj, name)


def _times(events: Sequence) -> np.ndarray:
    return np.array([float(_get(e, "t")) for e in events], dtype=float)


def _kinds(events: Sequence) -> list[str]:
    return [str(_get(e, "kind")) for e in events]


def _intervals(segments: Iterable, kinds: Iterable[str] | None = None) -> list[tuple[float, float]]:
    wanted = None if kinds is None else set(kinds)
    return [(float(_get(s, "start")), float(_get(s, "end"))) for s in segments
            if wanted is None or _get(s, "kind") in wanted]


def ordered_kinds(kinds: Iterable[str]) -> list[str]:
    """Kinds in the order of dsp.analysis.results.EVENT_KINDS, unknown ones after, in
    alphabetical order."""
    present = set(kinds)
    known = [k for k in KIND_ORDER if k in present]
    return known + sorted(present - set(KIND_ORDER))


# matching ----------------------------------------------------------------------------------

@dataclass
class Matching:
    """A one-to-one pairing of truth events and detections by time (rule 1 of the module).
    `truth_to_detected[i]` is the detection paired with truth i (-1: missed);
    `detected_to_truth[j]` the truth paired with detection j (-1: spurious)."""

    truth_kinds: list[str]
    detected_kinds: list[str]
    truth_to_detected: np.ndarray
    detected_to_truth: np.ndarray
    dt_s: np.ndarray  # per truth event: t_detected - t_truth, nan if missed

    @property
    def pairs(self) -> list[tuple[int, int]]:
        return [(int(i), int(j)) for i, j in enumerate(self.truth_to_detected) if j >= 0]

    def confusion(self, truth_keep: np.ndarray | None = None,
                  detected_keep: np.ndarray | None = None) -> dict[str, dict[str, int]]:
        """Counts by truth kind (rows, plus SPURIOUS for unpaired detections) and detected
        kind (columns, plus MISSED for unpaired truth). A pair counts when its truth is kept;
        an unpaired detection when it is kept (masks default to everything)."""
        tk = np.ones(len(self.truth_kinds), bool) if truth_keep is None else truth_keep
        dk = np.ones(len(self.detected_kinds), bool) if detected_keep is None else detected_keep
        out: dict[str, dict[str, int]] = {}
        for i, j in enumerate(self.truth_to_detected):
            if tk[i]:
                col = self.detected_kinds[j] if j >= 0 else MISSED
                _bump(out, self.truth_kinds[i], col)
        for j, i in enumerate(self.detected_to_truth):
            if i < 0 and dk[j]:
                _bump(out, SPURIOUS, self.detected_kinds[j])
        return out


def _bump(table: dict[str, dict[str, int]], row: str, col: str, n: int = 1) -> None:
    table.setdefault(row, {})
    table[row][col] = table[row].get(col, 0) + n


def _candidate_pairs(tt: np.ndarray, td: np.ndarray, tol: float):
    """All (truth, detection) index pairs within tol, found by binary search, not n x m."""
    order = np.argsort(td, kind="stable")
    ts = td[order]
    eps = 1e-9  # a shift of exactly the tolerance still matches despite float rounding
    lo = np.searchsorted(ts, tt - tol - eps, "left")
    hi = np.searchsorted(ts, tt + tol + eps, "right")
    counts = hi - lo
    ti = np.repeat(np.arange(tt.size), counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    di = order[np.repeat(lo, counts) + offsets]
    return ti, di


def match_events(truth_events: Sequence, detected_events: Sequence,
                 tolerance_s: float = TOLERANCE_S) -> Matching:
    """Pair truth events and detections one to one by time, regardless of kind: a pair
    needs |dt| <= tolerance_s; pairs are taken greedily, smallest |dt| first, ties broken by
    truth index then detection index (deterministic)."""
    tt, td = _times(truth_events), _times(detected_events)
    ti, di = _candidate_pairs(tt, td, tolerance_s)
    dt = td[di] - tt[ti]
    t2d = np.full(tt.size, -1, dtype=int)
    d2t = np.full(td.size, -1, dtype=int)
    dts = np.full(tt.size, np.nan)
    for k in np.lexsort((di, ti, np.abs(dt))):
        i, j = ti[k], di[k]
        if t2d[i] < 0 and d2t[j] < 0:
            t2d[i], d2t[j], dts[i] = j, i, dt[k]
    return Matching(_kinds(truth_events), _kinds(detected_events), t2d, d2t, dts)


# event scores ------------------------------------------------------------------------------

@dataclass
class KindScore:
    """TP, FN and FP of one kind (rule 5 of the module)."""

    tp: int = 0
    fn: int = 0
    fp: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else math.nan

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else math.nan

    @property
    def f1(self) -> float:
        d = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / d if d else math.nan

    @property
    def n_truth(self) -> int:
        return self.tp + self.fn

    def __add__(self, other: KindScore) -> KindScore:
        return KindScore(self.tp + other.tp, self.fn + other.fn, self.fp + other.fp)


@dataclass
class BinCount:
    """Non-left-out truth events in one amplitude bin: how many, how many matched to a
    detection of any kind, how many matched to a detection of their own kind."""

    n: int = 0
    found: int = 0
    right: int = 0

    @property
    def recall(self) -> float:
        return self.found / self.n if self.n else math.nan

    @property
    def recall_right_kind(self) -> float:
        return self.right / self.n if self.n else math.nan

    def __add__(self, other: BinCount) -> BinCount:
        return BinCount(self.n + other.n, self.found + other.found, self.right + other.right)


@dataclass
class EventScore:
    """The score of one recording, or of several pooled with `pool`.

    kinds: KindScore per kind; bins: per kind, BinCount per bin label (see `bin_labels`);
    confusion: scored truth kind x detected kind (MISSED column, SPURIOUS row for the FP
    that are not paired with any truth); left_out: truth events left out, by reason
    ("crowded", "clipped"); ignored_kinds: detections neither TP nor FP, by reason
    ("crowded", "below threshold", "clipped", or the segment kind they lie in) and by
    detected kind (what the analyser named the potentials it was excused); ignored: their
    count per reason."""

    kinds: dict[str, KindScore] = field(default_factory=dict)
    bins: dict[str, dict[str, BinCount]] = field(default_factory=dict)
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)
    left_out: dict[str, int] = field(default_factory=dict)
    ignored_kinds: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def ignored(self) -> dict[str, int]:
        return {reason: sum(kinds.values()) for reason, kinds in self.ignored_kinds.items()}

    def total(self, kinds: Iterable[str] | None = None) -> KindScore:
        """All kinds (or the given ones) pooled."""
        chosen = self.kinds if kinds is None else {k: self.kinds[k] for k in kinds
                                                   if k in self.kinds}
        return sum(chosen.values(), KindScore())

    def bins_all_kinds(self) -> dict[str, BinCount]:
        out: dict[str, BinCount] = {}
        for per_bin in self.bins.values():
            for label, c in per_bin.items():
                out[label] = out.get(label, BinCount()) + c
        return out


def pool(scores: Iterable[EventScore]) -> EventScore:
    """Sum the counts of several scores (recordings, conditions) into one."""
    out = EventScore()
    for s in scores:
        for k, ks in s.kinds.items():
            out.kinds[k] = out.kinds.get(k, KindScore()) + ks
        for k, per_bin in s.bins.items():
            mine = out.bins.setdefault(k, {})
            for label, c in per_bin.items():
                mine[label] = mine.get(label, BinCount()) + c
        for row, cols in s.confusion.items():
            for col, n in cols.items():
                _bump(out.confusion, row, col, n)
        _add_counts(out.left_out, s.left_out)
        for reason, kinds in s.ignored_kinds.items():
            _add_counts(out.ignored_kinds.setdefault(reason, {}), kinds)
    return out


def _add_counts(into: dict[str, int], more: dict[str, int]) -> None:
    for k, n in more.items():
        into[k] = into.get(k, 0) + n


def bin_labels(edges: Sequence[float] = BIN_EDGES) -> list[str]:
    """Labels of the amplitude bins: "<1", "1-2", ..., ">=5" for the default edges."""
    def num(x: float) -> str:
        return f"{x:g}"
    labels = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        if lo <= 0:
            labels.append(f"<{num(hi)}")
        elif math.isinf(hi):
            labels.append(f">={num(lo)}")
        else:
            labels.append(f"{num(lo)}-{num(hi)}")
    return labels


def _crowded(tt: np.ndarray, crowd_s: float) -> np.ndarray:
    """True where another truth event peaks within crowd_s (inclusive)."""
    if tt.size < 2:
        return np.zeros(tt.size, bool)
    order = np.argsort(tt, kind="stable")
    gaps = np.diff(tt[order]) <= crowd_s + 1e-9
    near = np.zeros(tt.size, bool)
    near[:-1] |= gaps
    near[1:] |= gaps
    out = np.zeros(tt.size, bool)
    out[order] = near
    return out


def _inside(t: np.ndarray, intervals: Sequence[tuple[float, float]], pad: float = 0.0):
    """True where t lies in any closed interval, widened by pad on both sides."""
    out = np.zeros(t.size, bool)
    for a, b in intervals:
        out |= (t >= a - pad) & (t <= b + pad)
    return out


def _near(t: np.ndarray, marks: np.ndarray, tol: float) -> np.ndarray:
    """True where some mark lies within tol of t."""
    if marks.size == 0:
        return np.zeros(t.size, bool)
    ms = np.sort(marks)
    k = np.searchsorted(ms, t)
    after = ms[np.minimum(k, ms.size - 1)]
    before = ms[np.maximum(k - 1, 0)]
    return np.minimum(np.abs(after - t), np.abs(before - t)) <= tol + 1e-9


def score_events(truth_events: Sequence, detected_events: Sequence, *, noise_rms_uv: float,
                 segments: Sequence = (), clipped: Sequence = (),
                 tolerance_s: float = TOLERANCE_S, crowd_s: float = CROWD_S,
                 min_snr: float = MIN_SNR, bin_edges: Sequence[float] = BIN_EDGES,
                 excusing: Sequence[str] = EXCUSING_SEGMENTS) -> EventScore:
    """Score detections against truth events by the rules of this module's docstring:
    match (<= tolerance_s, by time alone), leave out truth within crowd_s of another or in
    a clipped stretch, score truth with amplitude_uv >= min_snr x noise_rms_uv, bin the rest
    by amplitude / noise_rms_uv, and count FP per detected kind after excusing detections
    paired with left-out or below-threshold truth, near left-out truth, or unpaired inside
    a clipped stretch or a truth segment of an `excusing` kind."""
    m = match_events(truth_events, detected_events, tolerance_s)
    tt, td = _times(truth_events), _times(detected_events)
    clip_iv = _intervals(clipped)
    crowded = _crowded(tt, crowd_s)
    in_clip = _inside(tt, clip_iv) & ~crowded
    left_out = crowded | in_clip
    snr = np.array([float(_get(e, "amplitude_uv")) for e in truth_events]) / noise_rms_uv
    scored = ~left_out & (snr >= min_snr)
    out = EventScore(left_out={"crowded": int(crowded.sum()), "clipped": int(in_clip.sum())})
    _score_truth(out, m, scored)
    _bin_truth(out, m, ~left_out, snr, bin_edges)
    excuse = [(float(_get(g, "start")), float(_get(g, "end")), str(_get(g, "kind")))
              for g in segments if _get(g, "kind") in excusing]
    reasons = _detection_reasons(m, td, tt[left_out], scored, left_out, clip_iv, excuse,
                                 tolerance_s)
    _score_detections(out, m, reasons)
    out.confusion = m.confusion(scored, np.array([r == "" for r in reasons], bool))
    return out


def _score_truth(out: EventScore, m: Matching, scored: np.ndarray) -> None:
    for i in np.flatnonzero(scored):
        kind = m.truth_kinds[i]
        ks = out.kinds.setdefault(kind, KindScore())
        j = m.truth_to_detected[i]
        if j >= 0 and m.detected_kinds[j] == kind:
            ks.tp += 1
        else:
            ks.fn += 1


def _bin_truth(out: EventScore, m: Matching, keep: np.ndarray, snr: np.ndarray,
               edges: Sequence[float]) -> None:
    labels = bin_labels(edges)
    which = np.searchsorted(np.asarray(edges), snr, "right") - 1
    for i in np.flatnonzero(keep):
        kind = m.truth_kinds[i]
        label = labels[min(max(which[i], 0), len(labels) - 1)]
        j = m.truth_to_detected[i]
        found = j >= 0
        c = BinCount(1, int(found), int(found and m.detected_kinds[j] == kind))
        per_bin = out.bins.setdefault(kind, {})
        per_bin[label] = per_bin.get(label, BinCount()) + c


def _detection_reasons(m: Matching, td: np.ndarray, left_out_t: np.ndarray,
                       scored: np.ndarray, left_out: np.ndarray, clip_iv, excuse,
                       tol: float) -> list[str]:
    """Per detection: "" if it counts (TP or FP), else why it is ignored."""
    near_left_out = _near(td, left_out_t, tol)
    in_clip = _inside(td, clip_iv)
    reasons = []
    for j, i in enumerate(m.detected_to_truth):
        if i >= 0:
            reasons.append("" if scored[i] else
                           "crowded" if left_out[i] else "below threshold")
        elif near_left_out[j]:
            reasons.append("crowded")
        elif in_clip[j]:
            reasons.append("clipped")
        else:
            reasons.append(_segment_at(td[j], excuse))
    return reasons


def _segment_at(t: float, excuse: list[tuple[float, float, str]]) -> str:
    """The kind of the first excusing truth segment containing t, or ""."""
    return next((kind for a, b, kind in excuse if a <= t <= b), "")


def _score_detections(out: EventScore, m: Matching, reasons: list[str]) -> None:
    for j, reason in enumerate(reasons):
        kind = m.detected_kinds[j]
        i = m.detected_to_truth[j]
        if not reason and kind == UNCLASSIFIED and i < 0:
            reason = UNCLASSIFIED  # not named: no false positive of any kind (rule 6)
        if reason:
            _bump(out.ignored_kinds, reason, kind)
            continue
        if kind == UNCLASSIFIED:
            continue  # matched: a miss for the truth's kind, counted in _score_truth
        if i < 0 or m.truth_kinds[i] != kind:
            out.kinds.setdefault(kind, KindScore()).fp += 1


# rest and segments --------------------------------------------------------------------------

def _union(intervals: Iterable[tuple[float, float]], lo: float = -math.inf,
           hi: float = math.inf) -> list[tuple[float, float]]:
    """Sorted, merged intervals clipped to [lo, hi]; empty ones dropped."""
    merged: list[tuple[float, float]] = []
    for a, b in sorted((max(a, lo), min(b, hi)) for a, b in intervals):
        if b <= a:
            continue
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _length(intervals: Iterable[tuple[float, float]]) -> float:
    return float(sum(b - a for a, b in intervals))


def _overlap(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    """Total length of the intersection of two merged interval lists."""
    i = j = 0
    total = 0.0
    while i < len(a) and j < len(b):
        total += max(0.0, min(a[i][1], b[j][1]) - max(a[i][0], b[j][0]))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return total


def false_count(detected: Sequence, duration_s: float,
                exclude_segments: Sequence = ()) -> tuple[int, float]:
    """(detections whose `t` lies outside every exclude segment, minutes of recording
    outside them). Every detection counts, whatever its kind: meant for recordings with no
    truth events, such as the rest scenario."""
    excl = _union(_intervals(exclude_segments), 0.0, duration_s)
    t = _times(detected)
    n = int((~_inside(t, excl)).sum())
    return n, (duration_s - _length(excl)) / 60.0


def false_per_minute(detected: Sequence, duration_s: float,
                     exclude_segments: Sequence = ()) -> float:
    """Detections per minute outside the exclude segments (insertional activity, clipped
    stretches), per minute of the time outside them; nan if no time is left."""
    n, minutes = false_count(detected, duration_s, exclude_segments)
    return n / minutes if minutes > 0 else math.nan


@dataclass
class SegmentAgreement:
    """Agreement of detected and truth segments of one kind (pool with +).

    sensitivity: fraction of truth time covered by detected segments; false_coverage:
    fraction of the non-truth time covered by detected segments; n_hit: truth segments
    overlapped (closed intervals, so touching counts) by at least one detected segment;
    n_detected_false: detected segments that overlap no truth segment."""

    duration_s: float = 0.0
    truth_s: float = 0.0
    detected_s: float = 0.0
    overlap_s: float = 0.0
    n_truth: int = 0
    n_hit: int = 0
    n_detected: int = 0
    n_detected_false: int = 0

    @property
    def sensitivity(self) -> float:
        return self.overlap_s / self.truth_s if self.truth_s > 0 else math.nan

    @property
    def false_coverage(self) -> float:
        free = self.duration_s - self.truth_s
        return (self.detected_s - self.overlap_s) / free if free > 0 else math.nan

    @property
    def hit_fraction(self) -> float:
        return self.n_hit / self.n_truth if self.n_truth else math.nan

    def __add__(self, o: SegmentAgreement) -> SegmentAgreement:
        return SegmentAgreement(*(getattr(self, f) + getattr(o, f) for f in (
            "duration_s", "truth_s", "detected_s", "overlap_s", "n_truth", "n_hit",
            "n_detected", "n_detected_false")))


def _touches(iv: tuple[float, float], others: Sequence[tuple[float, float]]) -> bool:
    return any(a <= iv[1] and iv[0] <= b for a, b in others)


def segment_agreement(truth_segments: Sequence, detected_segments: Sequence, kind: str,
                      duration_s: float) -> SegmentAgreement:
    """How well detected segments of `kind` agree with truth segments of `kind` over a
    recording of duration_s (both clipped to [0, duration_s]; overlapping segments of one
    side are merged for the time fractions but counted one by one for hits)."""
    tr = _intervals(truth_segments, [kind])
    de = _intervals(detected_segments, [kind])
    tu, du = _union(tr, 0.0, duration_s), _union(de, 0.0, duration_s)
    return SegmentAgreement(
        duration_s=float(duration_s), truth_s=_length(tu), detected_s=_length(du),
        overlap_s=_overlap(tu, du), n_truth=len(tr),
        n_hit=sum(_touches(iv, de) for iv in tr), n_detected=len(de),
        n_detected_false=sum(not _touches(iv, tr) for iv in de))
