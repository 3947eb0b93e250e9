"""The activity panel's words, from the analyser's measures of simulated muscle."""

from __future__ import annotations

import numpy as np

from app.session.activity import (
    CLIPPING,
    JUDGE_AT_REST,
    NEEDS_CALIBRATION,
    NO_UNIT,
    UNCALIBRATED,
    calibration_hint,
    findings,
    proximity,
    rate_words,
)
from dsp.chain import SignalChain
from tests.simutil import simulate


def _measures(uri: str, seconds: float = 6.0) -> dict:
    x, _ = simulate(uri, seconds)
    chain = SignalChain(20000.0)
    for i in range(0, len(x), 100):  # 5 ms chunks, as live
        chain.process(x[i:i + 100].astype(np.float32))
    return chain.analyser.measures()


def test_rest_is_electrical_silence_and_no_unit():
    m = _measures("sim:rest?seed=1")
    assert findings(m) == ["Electrical silence"]
    assert proximity(m) == (0.0, NO_UNIT)


def test_denervated_muscle_is_named_with_train_rates():
    lines = findings(_measures("sim:denervated?seed=1&grade=3"))
    assert lines[0].startswith("Fibrillations: ") and " Hz" in lines[0]


def test_a_lead_off_is_said_alone_and_a_close_unit_fills_the_meter():
    assert findings({"lead_off": "flat line", "trains": [{"kind": "fibrillation",
                    "rate_hz": 3.0, "count": 9}]}) == ["Lead problem: flat line"]
    near, words = proximity({"nearest_unit": {"rise_us": 300.0, "amplitude_uv": 900.0,
                                              "inside_territory": True}})
    far, _ = proximity({"nearest_unit": {"rise_us": 1400.0, "amplitude_uv": 100.0,
                                         "inside_territory": False}})
    assert near > 0.8 > 0.2 > far and words == "rise 300 us, 900 uV: inside"
    assert proximity({"nearest_unit": {"rise_us": 450.0, "amplitude_uv": 1234.0,
                                       "inside_territory": True}})[1].endswith("1.2 mV: inside")
    assert proximity({"nearest_unit": {"rise_us": float("nan"), "amplitude_uv": 1.0}})[0] == 0


def test_spontaneous_activity_named_among_firing_units_is_to_be_judged_at_rest():
    fib = {"kind": "fibrillation", "rate_hz": 2.6, "count": 5}
    unit = {"kind": "muap", "rate_hz": 11.0, "count": 20}
    lines = findings({"trains": [fib, unit]})
    assert lines[0].startswith("Fibrillation: 1 train") and lines[-1] == JUDGE_AT_REST
    assert findings({"trains": [fib], "tonic_activity": True})[-1] == JUDGE_AT_REST
    # Alone, or with units but nothing spontaneous named, there is nothing to caution.
    assert JUDGE_AT_REST not in findings({"trains": [fib]})
    assert findings({"trains": [unit]}) == ["Motor units: 1 train, 11.0 Hz"]
    # The analyser's own caveat: units fired in the last second, whatever their trains.
    assert findings({"trains": [fib], "caveats": ["motor_units_firing"]})[-1] == JUDGE_AT_REST


def test_unnamed_potentials_are_counted_never_named():
    """A potential the analyser would not name is no finding: it is counted as such, and
    the panel does not call the field silent."""
    m = {"rates_per_s": {"unclassified": 2.4}, "trains": [
        {"kind": "unclassified", "rate_hz": 3.0, "count": 9}]}
    assert findings(m) == ["Potentials not named: 2.4/s"]
    assert findings({"rates_per_s": {"unclassified": 0.1}}) == ["Electrical silence"]


def test_the_meter_never_denies_a_unit_the_panel_names():
    """The meter reads the units of the last 2 s: with none it says so in those words, and
    a unit whose rise was not measured is not "no motor unit"."""
    assert proximity({"nearest_unit": None}) == (0.0, NO_UNIT)
    words = proximity({"nearest_unit": {"rise_us": None, "amplitude_uv": 300.0}})[1]
    assert words == "unit's rise not measured"


def test_the_busiest_trains_are_named_not_the_slowest():
    """Short-lived trains of three potentials are many and slow (a recording's summary
    listed "98 trains, 0.3, 0.3, 0.3 ... Hz"): the rates named are the best-established
    trains', slowest first, and the others are counted."""
    few = [{"kind": "muap", "rate_hz": 0.3, "count": 3} for _ in range(5)]
    busy = [{"kind": "muap", "rate_hz": hz, "count": 90} for hz in (12.4, 8.1)]
    assert rate_words(few + busy) == "0.3, 8.1 and 12.4 Hz (+4)"
    assert rate_words(busy, 6) == "8.1 and 12.4 Hz"


def test_an_uncalibrated_device_gets_no_words_that_rest_on_amplitude():
    """Every kind the analyser names rests on microvolts (a unit is 450 uV or more, a
    fibrillation 20-200): with a guessed scale none is named, and the meters wait."""
    m = _measures("sim:denervated?seed=1&grade=3")
    assert findings(m)[0].startswith("Fibrillations: ")  # calibrated: named
    assert findings(m, calibrated=False) == [UNCALIBRATED]
    assert proximity(_measures("sim:voluntary?seed=2&effort=0.3"), calibrated=False) == (
        0.0, NEEDS_CALIBRATION)
    # What the signal's own range says still stands: a lead off, clipping.
    assert findings({"lead_off": "flat line"}, calibrated=False) == ["Lead problem: flat line"]
    assert findings({"clipping": True}, calibrated=False) == [UNCALIBRATED, CLIPPING]
    assert calibration_hint("spikerbox:auto") == (
        "Calibrate with a 1 mV calibrator: needlepoint calibrate --device spikerbox:auto")
