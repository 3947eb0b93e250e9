"""Which word a potential gets: an ordered table of named rules over the potential's own
shape and its train's firing, evaluated by one pure function.

A word (fibrillation, sharp wave, end-plate spike, fasciculation, myotonic discharge, motor
unit potential) needs positive evidence; a potential that no rule names is `unclassified`:
counted and drawn, never shown as a finding nor saved as one. What goes on around a
potential (motor units firing, end-plate noise, denervation shown) is a caveat the analyser
reports beside its findings; it may withhold a word that weaker evidence would give (the
potential is then unclassified), never give a word or change one. The first rule that holds
decides; a rule whose kind
is None takes the potential out of the list (a miniature end-plate potential inside
end-plate noise, counted by that segment's detector).

    facts = Facts(...)                 # built by the analyser, one per potential
    kind, rule = classify(facts)       # rule: the id of the rule that decided
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dsp.analysis import features as F

UNCLASSIFIED = "unclassified"

# Sizes and widths from the reference table (shared/reference/needle-emg.md) and what a
# single fibre can make: fibrillations are 20-200 uV with a main spike under about 1 ms wide
# at half height, end-plate spikes about 100-200 uV lasting 3-4 ms; a fibre's potential does
# not reach a motor unit's 450 uV or 6 ms.
FIBRE_MAX_UV = 350.0
SHARP_WAVE_MAX_UV = 600.0
FIBRE_MAX_HALF_WIDTH_MS = 1.1
END_PLATE_SPIKE_MAX_HALF_WIDTH_MS = 1.4  # biphasic over 3-4 ms: phases broader than a spike's
UNIT_MIN_UV, UNIT_MIN_MS = F.MUAP_MIN_AMPLITUDE_UV, F.MUAP_MIN_DURATION_MS
# A fibrillation's main spike is negative and clearly the largest phase; an initial positive
# phase nearly as large is as much a sharp wave's as a fibrillation's.
FIBRILLATION_SPIKE_RATIO = 1.2
# A sharp wave's positive phase is clearly its largest (the same margin, mirrored). Its long
# negative phase may open with a brief dip (the membrane at the block repolarising), which the
# detector may take for the main peak: the sizes of the phases, not the peak, say which
# dominates.
SHARP_WAVE_POSITIVE_RATIO = FIBRILLATION_SPIKE_RATIO
# Myotonic discharges fire at 20-80 Hz for seconds; a run of this many similar intervals
# under MYOTONIC_MAX_ISI_S is one (one or two can be look-alike fibres or units sharing a
# train, or a unit firing fast for a moment).
MYOTONIC_MAX_ISI_S = 0.055
MYOTONIC_RUN = 3
# End-plate spikes fire irregularly (coefficient of variation 0.5-1 and more); a young
# train's intervals as they are, this irregular, already say so.
IRREGULAR_CV = 0.5
FASCICULATION_QUIET_S = 1.0  # a unit firing alone: nothing unit-shaped this long before it


@dataclass(frozen=True)
class Facts:
    """What is known of one potential when it is named: its shape, then its train's firing,
    then where it lies. Only the last three (the field's state) depend on earlier
    decisions, and they only ever withhold a word."""

    shape: str  # features' shape class
    amplitude_uv: float
    duration_ms: float
    half_width_ms: float
    initial: str  # "positive" or "negative"
    main: str
    pos_uv: float  # largest positive excursion
    neg_uv: float  # largest negative excursion, as a positive number
    linked: bool  # late components time-locked to it, firing after firing
    # its train
    intervals: int  # intervals the train has had
    pattern: str  # "regular", "semiregular", "irregular" or "" (too few intervals)
    on_clock: bool  # on a clock of its own size within its train (TrainState.on_clock);
    # False where no rule reads it (reads_clock)
    fast_run: int  # trailing similar intervals under MYOTONIC_MAX_ISI_S
    last_isi_s: float  # since the train's previous potential (inf for the first)
    recent_cv: float  # coefficient of variation of its last 8 intervals as they are (nan: < 2)
    # its neighbourhood in time, as firing evidence (a unit firing alone), never a rename
    t: float
    quiet_s: float  # since the last unit-shaped potential of any train (inf: none seen)
    # Where a potential lies: these only ever withhold a word that shape alone would give
    # (the potential is then unclassified), never give or change one.
    in_end_plate_noise: bool
    units_firing: bool  # 3 or more potentials in the last second say so (fires_as_unit)
    denervated: bool  # 10 or more fibrillations and sharp waves named in the last 5 s


@dataclass(frozen=True)
class Rule:
    id: str
    when: Callable[[Facts], bool]
    kind: str | None
    why: str


def _fibre_sized(f: Facts) -> bool:
    return (f.amplitude_uv < FIBRE_MAX_UV and f.duration_ms < UNIT_MIN_MS
            and f.half_width_ms < FIBRE_MAX_HALF_WIDTH_MS and not f.linked)


def _fibrillation_shaped(f: Facts) -> bool:
    """A short spike, initially positive, its negative spike the largest phase."""
    return (f.initial == "positive" and f.main == "negative" and _fibre_sized(f)
            and f.neg_uv >= FIBRILLATION_SPIKE_RATIO * f.pos_uv)


def _sharp_wave_shaped(f: Facts) -> bool:
    """A sharp positive deflection with no negative spike after it."""
    return f.shape == F.SHARP_POSITIVE and f.amplitude_uv < SHARP_WAVE_MAX_UV


def sharp_wave_formed(initial: str, pos_uv: float, neg_uv: float, amplitude_uv: float) -> bool:
    """Starts positive, its positive phase clearly the largest, a fibre's size: a sharp
    wave's form whatever follows the positive phase. Alone it is no sharp wave (a distant
    unit can look so); firing like a clock, it is."""
    return (initial == "positive" and pos_uv >= SHARP_WAVE_POSITIVE_RATIO * neg_uv
            and amplitude_uv < SHARP_WAVE_MAX_UV)


def _sharp_wave_like(f: Facts) -> bool:
    return _sharp_wave_shaped(f) or (sharp_wave_formed(f.initial, f.pos_uv, f.neg_uv,
                                                       f.amplitude_uv) and not f.linked)


def _end_plate_spike_shaped(f: Facts) -> bool:
    """A brief spike that starts negative, smaller than a motor unit's potential."""
    return (f.initial == "negative" and f.shape not in (F.MINIATURE, F.SHARP_POSITIVE)
            and f.amplitude_uv < UNIT_MIN_UV and f.duration_ms < UNIT_MIN_MS
            and f.half_width_ms < END_PLATE_SPIKE_MAX_HALF_WIDTH_MS and not f.linked)


def unit_sized(f: Facts) -> bool:
    """Shaped like a motor unit's potential, and larger (450 uV) or longer (6 ms) than any
    fibrillation or end-plate spike: only a motor unit makes it. Not longer alone when it
    has a sharp wave's form: a sharp wave's negative phase lasts 10-30 ms."""
    if f.shape != F.MOTOR_UNIT:
        return False
    if f.amplitude_uv >= UNIT_MIN_UV:
        return True
    return (f.duration_ms >= UNIT_MIN_MS
            and not sharp_wave_formed(f.initial, f.pos_uv, f.neg_uv, f.amplitude_uv))


def reads_clock(shape: str, initial: str, main: str, amplitude_uv: float,
                pattern: str, pos_uv: float, neg_uv: float) -> bool:
    """Whether any rule may read this potential's `on_clock` (walking a train for a clock
    is the costliest fact: the analyser computes it only where it can matter): a fibre's
    shape, in a train neither regular (which is enough) nor semiregular (which refuses)."""
    return pattern in ("", "irregular") and (
        (initial == "positive" and main == "negative" and amplitude_uv < FIBRE_MAX_UV)
        or (shape == F.SHARP_POSITIVE and amplitude_uv < SHARP_WAVE_MAX_UV)
        or sharp_wave_formed(initial, pos_uv, neg_uv, amplitude_uv))


def _clocked(f: Facts) -> bool:
    """Firing like a fibre: its train regular, or the potential on a clock of its own within
    an irregular train (look-alike fibres sharing it). Among firing units, whose potentials
    are many, a clock found within a train is as often one by chance: there the train as a
    whole must be regular, unless fibres already showed the field denervated. A train that
    fires semiregularly, as units do, is no fibre's clock."""
    return f.pattern == "regular" or (f.on_clock and f.pattern != "semiregular"
                                      and (not f.units_firing or f.denervated))


def _irregular(f: Facts) -> bool:
    return f.pattern == "irregular" or (f.pattern == "" and f.intervals >= 2
                                        and f.recent_cv >= IRREGULAR_CV)


def _fibre_alone(f: Facts) -> bool:
    """Shape alone may name a fibre's potential only where nothing else makes that shape
    often: not among firing motor units (their distant potentials and fragments), not in
    end-plate noise (its summed miniature potentials), not in a fast run, and not in a
    train firing as units do."""
    return (not f.units_firing and not f.in_end_plate_noise and f.fast_run == 0
            and f.pattern != "semiregular")


RULES: tuple[Rule, ...] = (
    Rule("miniature_in_noise",
         lambda f: f.shape == F.MINIATURE and f.in_end_plate_noise, None,
         "a miniature end-plate potential: part of the end-plate noise, counted there"),
    Rule("myotonic_run",
         lambda f: ((f.initial == "positive" or f.shape == F.SHARP_POSITIVE)
                    and f.amplitude_uv < SHARP_WAVE_MAX_UV and not f.linked
                    and f.fast_run >= MYOTONIC_RUN and not f.units_firing
                    and not f.in_end_plate_noise),
         "myotonic_discharge",
         "a fibre's potential (spike or sharp wave) in a run of similar intervals at 20-80 "
         "Hz, where no motor unit fires and there is no end-plate noise (units firing fast "
         "and the end plate's summed potentials make runs that read so)"),
    Rule("fibre_clock",
         lambda f: _fibrillation_shaped(f) and _clocked(f) and f.fast_run < 2,
         "fibrillation",
         "a short spike starting positive, firing like a clock (a fibre's rhythm; one short "
         "interval is another fibre sharing its train, not a run)"),
    Rule("sharp_wave_clock",
         lambda f: _sharp_wave_like(f) and _clocked(f) and f.fast_run == 0,
         "positive_sharp_wave",
         "a sharp positive deflection, its positive phase clearly the largest, firing like a "
         "clock"),
    Rule("end_plate_spike_irregular",
         lambda f: (_end_plate_spike_shaped(f) and _irregular(f) and not f.units_firing
                    and not f.denervated),
         "end_plate_spike",
         "a brief spike starting negative, firing irregularly, where no motor unit fires "
         "and no fibrillation or sharp wave shows denervation (a fibre's spike recorded "
         "near where it starts, and look-alike fibres sharing a train, read so there)"),
    Rule("unit_rhythm",
         lambda f: f.pattern == "semiregular" and (
             f.shape == F.MOTOR_UNIT
             or (f.shape in F.SPIKY and not _fibrillation_shaped(f) and not f.denervated)),
         "muap",
         "its train fires semiregularly at 4-30 Hz, as motor units do (a fibrillation-shaped "
         "spike's train reads so when look-alike fibres share it)"),
    Rule("sharp_wave_shape",
         lambda f: _sharp_wave_shaped(f) and _fibre_alone(f),
         "positive_sharp_wave",
         "a sharp positive deflection with no negative spike, where no motor unit fires"),
    Rule("unit_alone",
         lambda f: (unit_sized(f) and f.t >= FASCICULATION_QUIET_S
                    and f.quiet_s >= FASCICULATION_QUIET_S
                    and f.last_isi_s >= FASCICULATION_QUIET_S),
         "fasciculation",
         "a motor unit's potential after a second with nothing unit-shaped: firing alone"),
    Rule("unit_late_components",
         lambda f: f.linked and f.shape == F.MOTOR_UNIT and f.pattern != "regular",
         "muap",
         "late components follow it at a fixed delay, firing after firing: a motor unit's"),
    Rule("unit_size",
         lambda f: (unit_sized(f) and f.pattern != "regular"
                    and (f.amplitude_uv >= UNIT_MIN_UV or not f.denervated)),
         "muap",
         "larger (450 uV) or longer (6 ms) than any fibre's potential (longer only: not "
         "where fibres showed the field denervated, whose overlapping potentials read so)"),
    Rule("undecided", lambda f: True, UNCLASSIFIED,
         "neither its shape nor its firing is evidence enough for a word"),
)
UNITS_FIRING_RULES = ("unit_rhythm", "unit_late_components")


def fires_as_unit(f: Facts, rule: str) -> bool:
    """This potential says motor units are firing (Facts.units_firing counts them): its
    train fires as units do, or it is larger than any fibre's potential. (Not merely
    longer: in a dense denervated field overlapping fibrillations read 6 ms and more.)"""
    return rule in UNITS_FIRING_RULES or (f.shape == F.MOTOR_UNIT
                                          and f.amplitude_uv >= UNIT_MIN_UV)


def classify(facts: Facts, rules: tuple[Rule, ...] = RULES) -> tuple[str | None, str]:
    """(kind, id of the rule that decided): the first rule of `rules` that holds."""
    for rule in rules:
        if rule.when(facts):
            return rule.kind, rule.id
    raise ValueError("the rule table has no catch-all rule")


__all__ = ["RULES", "UNCLASSIFIED", "Facts", "Rule", "classify", "fires_as_unit", "reads_clock",
           "sharp_wave_formed", "unit_sized"]
