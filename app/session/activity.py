"""The activity panel's words: what the analyser hears now, as a physician would say it.
No Kivy: the live screen shows these lines; tests read them.

An uncalibrated amplifier's microvolts are a guess, and every kind the analyser names rests
on amplitudes in microvolts: a motor unit is 450 uV or more where a fibrillation is 20-200,
end-plate noise is potentials under 100 uV, a turn a swing of 100 uV. So for such a device
no potential, train or segment is named: only what the signal's own range says (a lead
problem from a flat line, the rail or hum; clipping), and how to calibrate."""

from __future__ import annotations

NAMES = {  # kind -> (one, many)
    "fibrillation": ("Fibrillation", "Fibrillations"),
    "positive_sharp_wave": ("Positive sharp wave", "Positive sharp waves"),
    "end_plate_spike": ("End-plate spike", "End-plate spikes"),
    "fasciculation": ("Fasciculation", "Fasciculations"),
    "myotonic_discharge": ("Myotonic discharge", "Myotonic discharges"),
    "muap": ("Motor unit", "Motor units"),
}
ORDER = ["fibrillation", "positive_sharp_wave", "end_plate_spike", "myotonic_discharge",
         "fasciculation", "muap"]
SEGMENTS = [("end_plate_noise", "End-plate noise"), ("tonic_activity", "Tonic activity at rest"),
            ("insertional_activity", "Insertional activity"),
            ("local_twitch_response", "Local twitch response")]
CLIPPING = "Clipping: the amplifier's range is exceeded"
RATES_SHOWN = 3  # trains named with their rates; more are counted
UNIT_MIN_RATE_HZ = 4.0  # motor units fire at 4-30 Hz (dsp.analysis.trains.UNIT_RATE_HZ)
MIN_TRAIN_COUNT = 3  # a train of fewer potentials is not yet worth a rate
SPONTANEOUS = tuple(k for k in ORDER if k != "muap")  # all but motor unit potentials
# Spontaneous activity is judged with the muscle at rest: among firing motor units, their
# phases and distant units' small potentials pass for fibrillations and end-plate spikes
# (measured on the simulator: a quarter of a 0.3 effort contraction's potentials).
JUDGE_AT_REST = "(units firing: judge these at rest)"
# Potentials the analyser found but would not name (dsp.analysis.classify): counted, never
# a finding.
NOT_NAMED = "Potentials not named: {rate:.1f}/s"
UNCALIBRATED = "Uncalibrated: amplitudes unknown, so no potential is named"
NEEDS_CALIBRATION = "needs calibration"
# The meter reads the units of the last 2 s (dsp.analysis.measures): said so, beside a
# motor unit rate over 5 s.
NO_UNIT = "no motor unit in the last 2 s"


def calibration_hint(uri: str) -> str:
    """How to calibrate the amplifier at `uri`, for the screen."""
    return f"Calibrate with a 1 mV calibrator: needlepoint calibrate --device {uri}"


def findings(m: dict, calibrated: bool = True) -> list[str]:
    """Lines such as "Fibrillations: 2 trains, 4.1 and 6.8 Hz" or "End-plate noise", most
    telling first; ["Electrical silence"] when nothing is going on; a lead problem alone.
    Uncalibrated: UNCALIBRATED, then only a lead problem or clipping (see above)."""
    if not m:
        return []
    if m.get("lead_off"):
        return [f"Lead problem: {m['lead_off']}"]
    if not calibrated:
        return [UNCALIBRATED] + ([CLIPPING] if m.get("clipping") else [])
    lines = [text for key, text in SEGMENTS if m.get(key)]
    trains: dict[str, list[dict]] = {}
    for t in m.get("trains", []):
        if t.get("count", 0) >= MIN_TRAIN_COUNT:
            trains.setdefault(t["kind"], []).append(t)
    rates = m.get("rates_per_s", {})
    named_spontaneous = False
    for kind in ORDER:
        ts = trains.get(kind, [])
        one, many = NAMES[kind]
        if ts:
            n = len(ts)
            lines.append(f"{many if n > 1 or kind == 'muap' else one}: {n} train"
                         f"{'s' if n > 1 else ''}, {rate_words(ts)}")
        elif rates.get(kind, 0) >= 0.2:
            lines.append(f"{many}: {rates[kind]:.1f}/s, irregular")
        else:
            continue
        named_spontaneous |= kind in SPONTANEOUS
    # Units firing: the analyser's own caveat, tonic activity, or a unit's train firing at
    # a unit's rate (a one-off unit-sized potential a second is no contraction).
    units_firing = ("motor_units_firing" in m.get("caveats", ()) or m.get("tonic_activity")
                    or any(t["rate_hz"] >= UNIT_MIN_RATE_HZ for t in trains.get("muap", [])))
    if named_spontaneous and units_firing:
        lines.append(JUDGE_AT_REST)
    if rates.get("unclassified", 0) >= 0.2:
        lines.append(NOT_NAMED.format(rate=rates["unclassified"]))
    if m.get("clipping"):
        lines.append(CLIPPING)
    return lines or ["Electrical silence"]


def rate_words(trains: list[dict], shown: int = RATES_SHOWN) -> str:
    """"2.1, 3.3 and 5.7 Hz (+4)": the rates of the best-established trains (most
    potentials), slowest first; the others counted. Short-lived trains of a few potentials
    are many and slow, and would hide the ones that carry the activity."""
    best = sorted(trains, key=lambda t: -t["count"])
    hz = [f"{t['rate_hz']:.1f}" for t in sorted(best[:shown], key=lambda t: t["rate_hz"])]
    more = f" (+{len(best) - shown})" if len(best) > shown else ""
    return (" and ".join(hz) if len(hz) <= 2 else ", ".join(hz[:-1]) + " and " + hz[-1]) + \
        f" Hz{more}"


def proximity(m: dict, calibrated: bool = True) -> tuple[float, str]:
    """(0..1 for the meter, words) from the nearest unit's rise time and amplitude: a rise of
    500 us or less means the tip is inside the unit's territory. Uncalibrated: nothing,
    as which potentials are motor units is decided by their amplitude."""
    if not calibrated:
        return 0.0, NEEDS_CALIBRATION
    unit = (m or {}).get("nearest_unit")
    if not unit:
        return 0.0, NO_UNIT
    if not unit.get("rise_us") or unit["rise_us"] != unit["rise_us"]:
        return 0.0, "unit's rise not measured"  # (a rise of 0 or NaN was not measured)
    rise, amp = float(unit["rise_us"]), float(unit["amplitude_uv"])
    # Rise time carries the most: 1500 us far, 200 us on it; amplitude confirms.
    closeness = min(max((1500.0 - rise) / 1300.0, 0.0), 1.0)
    closeness = 0.8 * closeness + 0.2 * min(amp / 1000.0, 1.0)
    # The analyser has judged the territory (dsp.analysis.measures.CRISP_RISE_US); "near" and "far"
    # only grade what lies outside it.
    words = ("inside" if unit.get("inside_territory") else
             "near" if rise <= 900 else "far")
    # Short enough for the meter's row beside its title (a third of a landscape tablet).
    size = f"{amp / 1000:.1f} mV" if amp >= 1000 else f"{amp:.0f} uV"
    return closeness, f"rise {rise:.0f} us, {size}: {words}"
