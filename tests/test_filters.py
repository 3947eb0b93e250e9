"""Streaming filters: chunk invariance, frequency responses, the mains canceller against a
plain notch, and bad input. The canceller figures quoted in docs/filters.md come from
`measure_hum_reduction` and `measure_distortion` below:
    .venv/bin/python -m tests.test_filters
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

from dsp.filters import FilterChain, HighPass, LowPass, MainsCanceller
from tests.simutil import simulate

RATES = [4000, 10000, 20000, 44100, 48000]
SETTLE_S = 0.5  # the canceller's settling time, as docs/filters.md states


def hum(n: int, fs: float, hz: float, uv: float = 50.0) -> np.ndarray:
    """Mains pick-up like the simulator's: fundamental, 30 % third, 10 % fifth harmonic."""
    t = np.arange(n) / fs
    return uv * (np.sin(2 * np.pi * hz * t + 0.3) + 0.3 * np.sin(6 * np.pi * hz * t + 1.1)
                 + 0.1 * np.sin(10 * np.pi * hz * t + 2.0))


def gain_db(sos: np.ndarray, hz, fs: float) -> np.ndarray:
    return 20 * np.log10(np.abs(signal.sosfreqz(sos, worN=np.atleast_1d(hz), fs=fs)[1]))


# chunk invariance ---------------------------------------------------------------------------

FILTERS = {
    "highpass": lambda fs: HighPass(fs, 2.0),
    "lowpass": lambda fs: LowPass(fs),
    "mains": lambda fs: MainsCanceller(fs, 50, window_s=0.25),
    "chain": lambda fs: FilterChain(fs, mains_hz=60),
}


@pytest.mark.parametrize("name", FILTERS)
@settings(max_examples=25, deadline=None)
@given(channels=st.integers(1, 2), seed=st.integers(0, 2**16),
       sizes=st.lists(st.one_of(st.just(0), st.just(1), st.integers(0, 900)), max_size=30),
       single=st.booleans())
def test_chunking_changes_nothing(name, channels, seed, sizes, single):
    fs = 4000  # many mains blocks in few samples, to exercise the canceller's refits
    rng = np.random.default_rng(seed)
    n = 3000
    x = rng.normal(0, 20, (n, channels)) + hum(n, fs, 50.2)[:, None] + 300
    x[rng.choice(n, 5, replace=False), 0] = [np.nan, np.inf, -np.inf, 1e12, np.nan]
    x = x.astype(np.float32)
    if single and channels == 1:
        x = x[:, 0]
    f = FILTERS[name](fs)
    whole = f.process(x)
    f.reset()
    parts, i = [], 0
    for size in [*sizes, n]:
        parts.append(f.process(x[i:i + size]))
        i = min(n, i + size)
    chunked = np.concatenate(parts)
    assert chunked.dtype == whole.dtype == np.float32 and chunked.shape == x.shape
    assert np.array_equal(whole, chunked)
    assert f.bad_samples == 5


# frequency responses ------------------------------------------------------------------------

@pytest.mark.parametrize("hz", [2.0, 10.0, 20.0])
@pytest.mark.parametrize("fs", [4000, 20000, 48000])
def test_highpass_corner_and_flat_band(hz, fs):
    sos = HighPass(fs, hz).sos
    assert abs(gain_db(sos, hz, fs)[0] + 3.01) < 0.5
    assert np.all(np.abs(gain_db(sos, np.geomspace(100, 2000, 40), fs)) < 0.5)


@pytest.mark.parametrize(("fs", "corner"), [(4000, 1800), (10000, 4500), (20000, 9000),
                                            (44100, 10000), (48000, 10000)])
def test_lowpass_default_corner(fs, corner):
    lp = LowPass(fs)
    assert lp.hz == corner
    assert abs(gain_db(lp.sos, corner, fs)[0] + 3.01) < 0.5
    assert np.all(np.abs(gain_db(lp.sos, np.geomspace(10, 0.3 * corner, 40), fs)) < 0.5)


def test_streamed_response_matches_design():
    """The primed, chunked filter really has the designed gain (1 kHz through the chain)."""
    fs = 20000
    x = np.sin(2 * np.pi * 1000 * np.arange(fs) / fs)
    y = FilterChain(fs).process(x)
    assert abs(20 * np.log10(np.std(y[fs // 2:]) / np.std(x[fs // 2:]))) < 0.1


def test_out_of_range_settings_are_refused():
    for hz in (1.9, 21, 0):
        with pytest.raises(ValueError, match="2 to 20 Hz"):
            HighPass(20000, hz)
    with pytest.raises(ValueError, match="0.49"):
        LowPass(10000, 10000)
    with pytest.raises(ValueError, match="0.49"):
        FilterChain(20000, lowpass_hz=9900)
    with pytest.raises(ValueError, match="50 or 60"):
        MainsCanceller(20000, 55)
    with pytest.raises(ValueError, match="harmonics"):
        MainsCanceller(1000, 60, harmonics=8)
    with pytest.raises(ValueError):
        HighPass(0)


def test_latency_and_description():
    chain = FilterChain(20000)
    assert chain.describe() == "HP 10 Hz, LP 9000 Hz"
    assert 0 < chain.delay_s < 100e-6  # group delay at 1 kHz: tens of microseconds
    assert MainsCanceller(20000).delay_s == 0.0
    with_mains = FilterChain(48000, highpass_hz=2, mains_hz=60)
    assert with_mains.describe() == "HP 2 Hz, LP 10000 Hz, mains 60 Hz canceller"
    assert with_mains.delay_s == pytest.approx(with_mains.highpass.delay_s
                                               + with_mains.lowpass.delay_s)


# mains canceller ----------------------------------------------------------------------------

def measure_hum_reduction(uri: str | None = None, mains: float = 50, off: float = 0.0,
                          fs: float = 20000, seconds: float = 3.0) -> float:
    """dB of hum removed after SETTLE_S: hum power over the power of (output - hum-free
    input). With `uri` the simulator's own hum; otherwise hum at mains x (1 + off) is
    added to sim:rest."""
    clean, _ = simulate(f"sim:rest?seed=2&fs={fs}", seconds)
    if uri is None:
        h = hum(len(clean), fs, mains * (1 + off))
    else:
        h = simulate(uri + f"&seed=2&fs={fs}", seconds)[0] - clean
    y = MainsCanceller(fs, mains).process(clean + h)
    k = int(SETTLE_S * fs)
    return 10 * np.log10(np.mean(h[k:] ** 2) / np.mean((y[k:] - clean[k:]) ** 2))


@pytest.mark.parametrize("mains", [50, 60])
def test_canceller_removes_simulated_hum(mains):
    assert measure_hum_reduction(f"sim:rest?mains={mains}&hum_uv=50", mains) >= 30


@pytest.mark.parametrize(("mains", "off", "fs"), [(50, 0.004, 20000), (50, -0.004, 20000),
                                                  (60, 0.004, 48000), (60, -0.004, 4000)])
def test_canceller_tracks_mains_frequency_off_nominal(mains, off, fs):
    assert measure_hum_reduction(None, mains, off, fs) >= 30


def test_canceller_tracks_slow_amplitude_and_phase_changes():
    fs = 20000
    clean, _ = simulate(f"sim:rest?seed=4&fs={fs}", 6.0)
    t = np.arange(len(clean)) / fs
    swell = 50 * (1 + 0.5 * np.sin(2 * np.pi * 0.1 * t))  # +/-50 % over 10 s
    h = swell * np.sin(2 * np.pi * 50 * t + 0.3 * np.sin(2 * np.pi * 0.2 * t))
    y = MainsCanceller(fs, 50).process(clean + h)
    k = int(SETTLE_S * fs)
    assert 10 * np.log10(np.mean(h[k:] ** 2) / np.mean((y[k:] - clean[k:]) ** 2)) >= 30


def notch(x: np.ndarray, fs: float, mains: float, harmonics: int = 5) -> np.ndarray:
    """The plain alternative: scipy iirnotch, Q 30, at the fundamental and harmonics."""
    for h in range(1, harmonics + 1):
        b, a = signal.iirnotch(h * mains, 30, fs=fs)
        x = signal.lfilter(b, a, x)
    return x


def measure_distortion(seed: int, with_hum: bool, seconds: float = 5.0, top: int = 20):
    """How far each of notch and canceller (after the 10 Hz high-pass, as in the chain) moves
    voluntary EMG from the high-passed hum-free signal, after SETTLE_S + 0.5 s: returns
    {name: (RMS error / RMS of the signal, mean relative change of peak-to-peak amplitude of
    the `top` largest MUAPs, RMS error / RMS within +/-6 ms of those MUAPs)}."""
    fs = 20000
    uri = f"sim:voluntary?seed={seed}&effort=0.3&proximity=1&noise_uv=3"
    clean, truth = simulate(uri, seconds)
    noisy = simulate(uri + "&mains=50&hum_uv=50", seconds)[0] if with_hum else clean
    ref, hp = HighPass(fs).process(clean), HighPass(fs).process(noisy)
    start = int((SETTLE_S + 0.5) * fs)
    muaps = [e for e in truth.events if e["kind"] == "muap"
             and start + 0.01 * fs < e["index"] < len(ref) - 0.01 * fs]
    muaps = sorted(muaps, key=lambda e: -e["amplitude_uv"])[:top]
    spans = [slice(e["index"] - 120, e["index"] + 120) for e in muaps]
    out = {}
    for name, y in (("notch", notch(hp, fs, 50)), ("canceller", MainsCanceller(fs).process(hp))):
        err = y - ref
        pp = [abs(np.ptp(y[s]) - np.ptp(ref[s])) / np.ptp(ref[s]) for s in spans]
        local = [np.sqrt(np.mean(err[s] ** 2) / np.mean(ref[s] ** 2)) for s in spans]
        out[name] = (np.sqrt(np.mean(err[start:] ** 2) / np.mean(ref[start:] ** 2)),
                     float(np.mean(pp)), float(np.mean(local)))
    return out


@pytest.mark.parametrize("with_hum", [False, True])
@pytest.mark.parametrize("seed", [1, 3])
def test_canceller_distorts_muaps_less_than_a_notch(seed, with_hum):
    m = measure_distortion(seed, with_hum)
    for i in range(3):
        assert m["canceller"][i] <= 0.5 * m["notch"][i], (i, m)


# bad input ----------------------------------------------------------------------------------

def test_non_finite_samples_are_held_and_counted():
    fs = 20000
    x = np.random.default_rng(0).normal(0, 10, (4000, 2))
    x[100:150, 0] = np.nan
    x[2000, 1] = np.inf
    x[3000, 0] = -np.inf
    chain = FilterChain(fs, mains_hz=50)
    y = chain.process(x)
    assert np.all(np.isfinite(y))
    assert chain.bad_samples == 52
    assert np.std(y[3500:]) > 5  # the filters still pass signal afterwards


def test_a_stream_that_starts_with_nan_starts_from_zero():
    y = FilterChain(20000).process(np.array([np.nan] * 10 + [1.0] * 10))
    assert np.all(np.isfinite(y))


def test_flat_line_gives_zero():
    y = FilterChain(20000, mains_hz=50).process(np.full(20000, 123.0, np.float32))
    assert np.max(np.abs(y)) < 1e-3


@pytest.mark.parametrize("hz", [2.0, 10.0])
def test_dc_offset_decays(hz):
    fs = 20000
    x = np.random.default_rng(0).normal(0, 5, 4 * fs)
    x[fs:] += 5000  # an offset that appears mid-stream (the first sample primes the filter)
    y = FilterChain(fs, highpass_hz=hz, mains_hz=50).process(x + 5000)
    assert np.all(np.isfinite(y))
    assert np.abs(y[:fs]).max() < 50  # the offset present from the start never shows
    assert np.abs(y[fs:]).max() > 4000  # the step does, then it decays
    assert np.std(y[-fs // 2:]) < 10


def test_huge_values_are_clipped_not_poisonous():
    x = np.zeros(2000)
    x[10] = 1e300
    f = HighPass(20000)
    y = f.process(x)
    assert np.all(np.isfinite(y)) and f.bad_samples == 1


@pytest.mark.parametrize("fs", RATES)
def test_every_sample_rate_works(fs):
    x = np.random.default_rng(fs).normal(0, 10, (fs, 2)) + hum(fs, fs, 50)[:, None] + 100
    chain = FilterChain(fs, mains_hz=50)
    y = np.concatenate([chain.process(x[i:i + fs // 200]) for i in range(0, fs, fs // 200)])
    assert y.shape == x.shape and np.all(np.isfinite(y))
    assert 5 < np.std(y[fs // 2:]) < 15  # noise passes, offset and hum are gone


def test_shapes_dtypes_and_channel_changes():
    f = HighPass(20000)
    assert f.process(np.zeros(0, np.float32)).shape == (0,)
    assert f.process(np.ones(5)).dtype == np.float64
    assert f.process(np.ones((5, 1), np.float32)).dtype == np.float32
    with pytest.raises(ValueError, match="channels"):
        f.process(np.ones((5, 2)))
    f.reset()
    assert f.process(np.ones((5, 2))).shape == (5, 2)


def report() -> None:
    """Print the figures docs/filters.md quotes."""
    for mains in (50, 60):
        db = measure_hum_reduction(f"sim:rest?mains={mains}&hum_uv=50", mains)
        print(f"sim:rest?mains={mains}&hum_uv=50: hum -{db:.1f} dB")
    for mains, off, fs in [(50, 0.004, 20000), (50, -0.004, 20000), (60, 0.004, 48000),
                           (60, -0.004, 4000)]:
        db = measure_hum_reduction(None, mains, off, fs)
        print(f"sim:rest + hum at {mains} Hz x {1 + off} ({fs} Hz): hum -{db:.1f} dB")
    for seed in (1, 3):
        for with_hum in (False, True):
            for name, v in measure_distortion(seed, with_hum).items():
                print(f"voluntary seed {seed}, hum {'50 uV' if with_hum else 'none'}, {name}: "
                      f"RMS error {v[0]:.1%}, MUAP p-p change {v[1]:.2%}, near-MUAP error "
                      f"{v[2]:.1%}")


if __name__ == "__main__":
    report()
