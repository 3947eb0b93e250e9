"""The audio path as a physician hears it: loud enough, never clipped, flat, no pops, and
sane when the amplifier stops or a setting is absurd. Driven by a simulated sound card
clocked by the amplifier's samples (tests/audioutil.py), through the same ring the real
callback reads."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.session.audio import AudioPath, VirtualCard
from app.session.presets import preset
from devices.audio_ring import FADE, AudioRing
from devices.simulator import shapes
from dsp.audio.renderer import DEFAULT_VOLUME, AudioRenderer
from dsp.audio.sounds import ALERTS, CEILING, KNEE, alert, soft_limit
from tests.audioutil import FS_OUT, play, sine
from tests.simutil import simulate

FS = 20000.0


def _noise(seconds: float, uv: float = 4.0, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, uv, int(seconds * FS))


def _spontaneous() -> dict:
    p = preset("spontaneous")
    return {"sensitivity_uv": p.sensitivity_uv, "mode": p.audio_mode}


# -- loudness and the limiter ----------------------------------------------------------

def test_a_50_uv_fibrillation_peaks_at_minus_20_dbfs_or_louder():
    """Default volume, spontaneous activity preset: each 50 uV (peak to peak) fibrillation
    in 4 uV RMS noise reaches at least -20 dBFS."""
    rng = np.random.default_rng(1)
    x = _noise(2.0)
    times = np.arange(0.2, 1.9, 0.1)
    for t0 in times:
        shape = shapes.fibrillation(rng, 50.0, rng.uniform(1.0, 3.0))
        t = np.arange(int(0.02 * FS)) / FS - 0.01
        i = int(t0 * FS) - len(t) // 2
        x[i:i + len(t)] += shape(t)
    r = play(x, FS, volume=DEFAULT_VOLUME, **_spontaneous())
    for t0 in times:
        near = np.abs(r.pos / FS - t0) < 0.003
        assert 20 * np.log10(np.abs(r.out[near]).max()) >= -20.0


def test_nothing_reaches_full_scale_with_a_5_mv_potential_at_maximum_volume():
    rng = np.random.default_rng(2)
    x = _noise(1.0)
    for t0 in (0.3, 0.6):
        shape = shapes.motor_unit(rng, 5000.0, 10.0, 0.0)
        t = np.arange(int(0.03 * FS)) / FS - 0.015
        i = int(t0 * FS)
        x[i:i + len(t)] += shape(t)
    r = play(x, FS, volume=1.0, sensitivity_uv=1.0)  # the loudest the settings allow
    assert np.abs(r.out).max() < 1.0
    assert np.abs(r.out).max() <= CEILING
    pcm = np.round(r.out.astype(np.float64) * 32767)
    assert np.abs(pcm).max() < 32767


def test_the_limiter_leaves_everything_below_80_percent_untouched():
    y = np.random.default_rng(3).normal(0, 0.6, 100000)
    out = soft_limit(y.copy())
    below = np.abs(y) <= KNEE
    assert np.array_equal(out[below], y[below])
    assert np.abs(out).max() < CEILING
    order = np.argsort(y)
    assert np.all(np.diff(out[order]) >= 0)  # monotonic: louder stays louder
    # Slope 1 at the knee: no corner the ear could hear as distortion starting.
    eps = 1e-6
    assert soft_limit(np.array([KNEE + eps]))[0] == pytest.approx(KNEE + eps, abs=1e-9)


def test_a_signal_under_the_knee_comes_out_exactly_scaled():
    """A 1 kHz sine that should reach 0.7 of full scale does, with no distortion."""
    sens = 50.0
    amp = 0.7 * sens * 3.0  # FULL_SCALE_DIVS divisions are full scale at the default volume
    r = play(sine(1000.0, 1.0, FS, amp), FS, sensitivity_uv=sens, filtered=False)
    y = r.out[len(r.out) // 4:].astype(np.float64)
    assert np.sqrt(2 * np.mean(y ** 2)) == pytest.approx(0.7, rel=0.01)
    assert np.abs(y).max() < KNEE


@pytest.mark.parametrize("fs", [10000.0, 20000.0])
def test_raw_mode_is_flat_from_20_hz_to_nine_tenths_of_nyquist(fs):
    """Through the whole path (resampler, fill control, gains, limiter), within 1 dB; in
    fact within 0.2 dB."""
    gains = []
    for hz in (20.0, 100.0, 1000.0, 0.25 * fs, 0.45 * fs):
        r = play(sine(hz, 1.5, fs, 60.0), fs, sensitivity_uv=50.0, filtered=False)
        y = r.out[int(0.5 * FS_OUT):].astype(np.float64)
        gains.append(20 * np.log10(np.sqrt(2 * np.mean(y ** 2)) / (60.0 / 150.0)))
    assert max(abs(g) for g in gains) < 0.2, gains


# -- no pops ---------------------------------------------------------------------------

def _denervated(seconds: float = 3.0) -> np.ndarray:
    x, _ = simulate("sim:denervated?grade=3&seed=4", seconds)
    return x


def _steps_near(out: np.ndarray, at: list[int], span: int) -> float:
    return max(np.abs(np.diff(out[max(a - span, 0):a + span])).max() for a in at)


def test_mute_and_unmute_leave_no_step_larger_than_the_signals_own():
    x = _denervated()
    changes = {150: "mute", 400: "raw"}  # chunk numbers (4 ms each)
    r = play(x, FS, between=lambda n, p: n in changes and p.renderer.set_mode(changes[n]),
             **_spontaneous())
    # The same EMG without the changes: around them, no step beyond the EMG's own there
    # (a potential may land right by a change and make the largest step of the run).
    own = play(x, FS, **_spontaneous())
    where = [int(0.6 * FS_OUT), int(1.6 * FS_OUT)]
    near = int(0.05 * FS_OUT)
    assert _steps_near(r.out, where, near) <= _steps_near(own.out, where, near) + 1e-6
    muted = r.out[int(0.75 * FS_OUT):int(1.5 * FS_OUT)]
    assert np.all(muted == 0)


def test_every_mode_change_and_volume_jump_fades():
    x = _denervated()
    plan = {100: ("mode", "pitch"), 200: ("mode", "click"), 300: ("volume", 1.0),
            400: ("volume", 0.1), 500: ("mode", "raw"), 600: ("sensitivity", 10.0)}

    def change(n, p):
        if n in plan:
            what, v = plan[n]
            getattr(p.renderer, f"set_{what}")(v)

    r = play(x, FS, between=change, **_spontaneous())
    d = np.abs(np.diff(r.out.astype(np.float64)))
    # No sample-to-sample step anywhere beyond what the EMG itself makes at the loudest
    # setting used (volume 1, 10 uV/div, where the limiter holds it below the ceiling).
    loud = play(x, FS, volume=1.0, sensitivity_uv=10.0)
    assert d.max() <= np.abs(np.diff(loud.out.astype(np.float64))).max() + 1e-6
    assert np.all(np.isfinite(r.out))


# -- the amplifier stops, the ring runs dry --------------------------------------------

def test_an_amplifier_that_stops_fades_to_silence_and_comes_back():
    fs = FS
    x = np.asarray(sine(300.0, 2.0, fs, 120.0), np.float32)  # loud: a step would show
    path = AudioPath(fs, fs_out=FS_OUT, blocksize=128, sensitivity_uv=50.0)
    blocks = []
    card = VirtualCard(path.ring, FS_OUT, 128, 0.0, lambda b, *a: blocks.append(b.copy()))
    step = int(0.004 * fs)
    t = 0.0
    for i in range(0, int(0.8 * fs), step):  # 0.8 s of signal
        t = (i + step) / fs
        card.run_until(t)
        path.push(x[i:i + step], i)
    stopped_at = len(blocks) * 128
    for _ in range(150):  # 0.6 s with nothing: the reader calls idle() every 4 ms
        t += 0.004
        card.run_until(t)
        path.idle()
    resumed_at = len(blocks) * 128
    j0 = int(1.4 * fs)  # the amplifier comes back having lost 0.6 s of samples
    for i in range(j0, len(x) - step, step):
        t += step / fs
        card.run_until(t)
        path.push(x[i:i + step], i)
    out = np.concatenate(blocks).astype(np.float64)
    own = np.abs(np.diff(out[:stopped_at])).max()
    assert np.abs(np.diff(out)).max() <= own * 1.01  # no click going or coming
    pause = out[stopped_at + int(0.02 * FS_OUT):resumed_at]
    assert np.all(pause == 0)  # silence, not garbage
    after = out[resumed_at + int(0.05 * FS_OUT):]
    assert np.sqrt(2 * np.mean(after ** 2)) == pytest.approx(120 / 150, rel=0.05)
    assert path.ring.underruns == 1


def test_alerts_sound_with_no_signal_and_through_mute():
    path = AudioPath(FS, fs_out=FS_OUT, mode="mute")
    blocks = []
    card = VirtualCard(path.ring, FS_OUT, 128, 0.0, lambda b, *a: blocks.append(b.copy()))
    path.alert("lost")
    for k in range(1, 150):
        card.run_until(k * 0.004)
        path.idle()
    out = np.concatenate(blocks)
    assert 20 * np.log10(np.abs(out).max()) > -20  # clearly heard
    assert path.ring.underruns == 0 or np.abs(out[-128:]).max() == 0


@pytest.mark.parametrize("name", sorted(ALERTS))
def test_alerts_are_tonal_unlike_emg(name):
    """An alert's energy sits on its notes (and their octaves); EMG's is spread wide."""
    notes, _ = ALERTS[name]
    partials = sorted({f for n in notes for f in (n, 2 * n)})

    def on_partials(y):
        spec = np.abs(np.fft.rfft(y * np.hanning(len(y)))) ** 2
        f = np.fft.rfftfreq(len(y), 1 / FS_OUT)
        near = np.zeros_like(f, bool)
        for p in partials:
            near |= np.abs(f - p) < 0.05 * p
        return spec[near].sum() / spec.sum()

    assert on_partials(alert(name, FS_OUT)) > 0.9
    emg = play(_denervated(1.0), FS, **_spontaneous()).out[:int(0.5 * FS_OUT)]
    assert on_partials(emg.astype(np.float64)) < 0.3


# -- modes -----------------------------------------------------------------------------

def _dominant_hz(y: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return float(np.fft.rfftfreq(len(y), 1 / FS_OUT)[np.argmax(spec)])


def test_pitch_rises_with_activity():
    tp = preset("trigger_point")
    rest, _ = simulate("sim:rest?seed=1", 2.0)
    locus, _ = simulate("sim:trigger-point?seed=1", 2.0)
    kw = {"sensitivity_uv": tp.sensitivity_uv, "mode": tp.audio_mode}
    quiet = _dominant_hz(play(rest, FS, **kw).out[int(FS_OUT):].astype(np.float64))
    busy = _dominant_hz(play(locus, FS, **kw).out[int(FS_OUT):].astype(np.float64))
    assert busy > 1.5 * quiet


def test_click_mode_ticks_each_decided_potential_and_says_how_late():
    from dsp.chain import SignalChain

    x = _denervated(4.0)
    chain = SignalChain(FS)
    path = AudioPath(FS, fs_out=FS_OUT, mode="click", sensitivity_uv=50.0)
    card = VirtualCard(path.ring, FS_OUT, 128, 0.0, lambda *a: None)
    step = int(0.004 * FS)
    decided = 0
    for i in range(0, len(x) - step + 1, step):
        filtered = chain.filters.process(x[i:i + step].astype(np.float32))
        card.run_until((i + step) / FS)
        path.push(filtered, i)
        events = chain.analyser.process(filtered)
        decided += len(events)
        path.potentials(events, FS)
    late = np.array(path.renderer.tick_lateness_s)
    assert decided > 20 and len(late) == decided
    assert np.all(late >= 0) and np.median(late) < 0.04


def test_squelch_silences_the_baseline_but_passes_potentials():
    rng = np.random.default_rng(5)
    x = _noise(1.0)
    shape = shapes.fibrillation(rng, 100.0, 2.0)
    t = np.arange(int(0.02 * FS)) / FS - 0.01
    i = int(0.5 * FS)
    x[i:i + len(t)] += shape(t)
    open_ = play(x, FS, sensitivity_uv=50.0)
    gated = play(x, FS, sensitivity_uv=50.0, squelch_uv=40.0)  # noise peaks reach ~16 uV
    base = slice(int(0.1 * FS_OUT), int(0.4 * FS_OUT))
    assert np.all(gated.out[base] == 0)
    spike = np.abs(open_.pos / FS - 0.51) < 0.002  # the shape peaks 10 ms past its start
    assert np.abs(gated.out[spike]).max() > 0.8 * np.abs(open_.out[spike]).max()


# -- absurd settings -------------------------------------------------------------------

@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -0.1, 1.5, "loud", None])
def test_an_absurd_volume_is_refused_and_changes_nothing(bad):
    r = AudioRenderer(FS, FS_OUT, volume=0.5)
    with pytest.raises(ValueError, match="volume must be"):
        r.set_volume(bad)
    assert r.volume == 0.5


@pytest.mark.parametrize("bad", [0.0, -50.0, 1e9, float("nan")])
def test_an_absurd_sensitivity_is_refused(bad):
    r = AudioRenderer(FS, FS_OUT, sensitivity_uv=50.0)
    with pytest.raises(ValueError, match="sensitivity"):
        r.set_sensitivity(bad)
    assert r.sensitivity_uv == 50.0
    with pytest.raises(ValueError, match="unknown audio mode"):
        r.set_mode("loudest")


def test_non_finite_samples_never_reach_the_speaker():
    x = _noise(0.5)
    x[1000:1100] = np.nan
    x[3000] = np.inf
    r = play(x, FS, filtered=False, sensitivity_uv=50.0)
    assert np.all(np.isfinite(r.out)) and np.abs(r.out).max() < 1.0


# -- the ring --------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(ops=st.lists(st.tuples(st.booleans(), st.integers(1, 400)), min_size=1, max_size=80))
def test_the_ring_plays_what_was_written_in_order(ops):
    """With no underrun and no skip, every frame comes out once, in order, unchanged
    (besides the fade-in of the very first block)."""
    ring = AudioRing(1000)
    written, played = 0, []
    out = np.zeros(64, np.float32)
    for is_write, n in ops:
        if is_write:
            written += ring.write(np.arange(written, written + n, dtype=np.float32) + 1)
        elif ring.queued >= 64:
            ring.read_into(out)
            played.append(out.copy())
    if played:
        got = np.concatenate(played)
        assert np.array_equal(got[FADE:], np.arange(FADE, len(got), dtype=np.float32) + 1)
    assert ring.underruns == 0 and ring.skipped == 0
    assert ring.dropped == sum(n for w, n in ops if w) - written


def test_the_ring_skips_back_to_its_target_with_fades():
    ring = AudioRing(48000)
    ring.skip_above, ring.skip_to = 2000, 500
    ring.write(np.ones(10000, np.float32))
    out = np.zeros(128, np.float32)
    ring.read_into(out)  # first block: fades in, then too much is queued: fades out
    assert ring.skipped == 10000 - 128 - 500 and ring.queued == 500
    assert out[0] < 0.05 and out[-1] < 0.05 and out[64] == 1.0
    ring.read_into(out)
    assert out[0] < 0.05 and out[-1] == 1.0  # fades in again after the jump


def test_after_running_dry_the_tighter_limit_skips_what_came_late():
    """The block that resumes after an underrun skips down to the target past
    `resume_above`; other blocks keep what `skip_above` allows (a stall's backlog would
    otherwise play late until the ratio drained it)."""
    ring = AudioRing(48000)
    ring.skip_above, ring.resume_above, ring.skip_to = 5000, 600, 400
    out = np.zeros(128, np.float32)
    ring.write(np.ones(528, np.float32))
    ring.read_into(out)  # the very first block is no resumption: nothing skipped
    assert ring.skipped == 0 and ring.queued == 400
    for _ in range(4):
        ring.read_into(out)  # runs dry in the fourth
    assert ring.underruns == 1
    ring.write(np.full(1000, 0.5, np.float32))  # the stall's backlog comes at once
    ring.read_into(out)
    assert out[0] < 0.05 and np.all(out[FADE:-FADE] == 0.5)  # fades in, and out
    assert ring.queued == 400  # resumed at the target, the late part skipped
    ring.write(np.full(1000, 0.5, np.float32))
    ring.read_into(out)
    assert ring.queued == 400 + 1000 - 128  # playing on: the wider limit again


def test_the_wait_before_the_first_block_is_no_shortfall():
    """Blocks the card asks for before any sound was written are not counted missing: the
    first underrun's shortfall (which may raise the target) is its own."""
    ring = AudioRing(4800)
    out = np.zeros(128, np.float32)
    for _ in range(6):
        ring.read_into(out)
    assert ring.missing == 0 and ring.underruns == 0
    ring.write(np.ones(200, np.float32))
    ring.read_into(out)
    ring.read_into(out)  # 72 played, then dry: 56 missing
    assert ring.underruns == 1 and ring.missing == 56


def test_an_underrun_fades_from_the_last_sample():
    ring = AudioRing(4800)
    ring.write(np.full(300, 0.5, np.float32))
    out = np.zeros(256, np.float32)
    ring.read_into(out)
    ring.read_into(out)  # 44 frames left: played, then a fade to zero
    assert np.all(out[:44] == 0.5)
    assert np.all(np.diff(out[44:44 + FADE + 1]) <= 0) and np.all(out[44 + FADE:] == 0)
    assert np.abs(np.diff(out)).max() <= 0.5 / FADE + 1e-6
    assert ring.underruns == 1
    ring.read_into(out)
    assert ring.underruns == 1  # one episode, however long


def test_a_fade_that_meets_the_end_of_a_block_goes_on_in_the_next():
    ring = AudioRing(4800)
    ring.write(np.full(64 + 60, 0.5, np.float32))
    a, b = np.zeros(64, np.float32), np.zeros(64, np.float32)
    ring.read_into(a)
    ring.read_into(b)  # 60 played, the fade begins with 4 frames left in the block
    c = np.zeros(64, np.float32)
    ring.read_into(c)
    out = np.concatenate((a, b, c))
    assert np.abs(np.diff(out[64:])).max() <= 0.5 / FADE + 1e-6
    assert np.all(c[FADE - 4:] == 0) and c[0] > 0


def test_a_volume_change_arrives_within_a_fade():
    """Settings are plain assignments the next chunk reads: volume 0 is silence 10 ms on."""
    x = _noise(1.0, 20.0)
    r = play(x, FS, filtered=False, between=lambda n, p: n == 100 and p.renderer.set_volume(0))
    at = np.searchsorted(np.nan_to_num(r.pos, nan=-1), 0.4 * FS + 0.011 * FS)
    assert np.all(r.out[at:] == 0) and np.abs(r.out[:at - 600]).max() > 0.05


EDGE = 64  # samples either side of a silence's end: the fade (32) and its neighbours


def test_a_pulled_cable_fades_out_chimes_and_fades_back(tmp_path):
    """The live session on an emulated SpikerBox whose cable is pulled for 1 s, with a card
    taking from the ring in real time on its own thread: the sound goes quiet (never a
    click), the 'lost' chime sounds, and the EMG comes back."""
    import threading
    import time

    from app.session.live import LiveSession
    from devices import make_device
    from devices.spikerbox.emulator import Emulator

    with Emulator("MUSCLESS", seed=2, link=str(tmp_path / "box")) as emu:
        device = make_device(f"spikerbox:{tmp_path / 'box'}")
        device.open()
        audio = AudioPath(device.info.fs, fs_out=FS_OUT, sensitivity_uv=50.0)
        blocks, stop = [], threading.Event()

        def card_thread():
            card = VirtualCard(audio.ring, FS_OUT, 128, time.monotonic(),
                               lambda b, *a: blocks.append(b.copy()))
            while not stop.is_set():
                card.run_until(time.monotonic())
                time.sleep(0.001)

        player = threading.Thread(target=card_thread, daemon=True)
        session = LiveSession(device, audio=audio).start()
        player.start()
        try:
            time.sleep(1.0)
            emu.unplug(1.0)
            deadline = time.monotonic() + 8
            while device.reconnects == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(1.0)
        finally:
            stop.set()
            player.join(2)
            session.stop()
    out = np.concatenate(blocks).astype(np.float64)
    assert "lost" in audio.renderer.alerts_sounded
    assert device.reconnects == 1
    # Right where the sound went and came back (the fade's 32 samples either side of the
    # ends of its silence), no step steeper than the EMG's own steepest anywhere else in
    # the run plus the chime's own (the 'lost' chime starts right there, over whatever EMG
    # is still fading): no click going or coming; a click is a jump of a large part of full
    # scale. (A 50 ms window once failed on a saturated potential's swing back 25 ms before
    # the silence, steps of 0.25. The run's timing depends on the machine, so where a large
    # potential falls does too: the EMG's own steps are taken from all of it.)
    steps = np.abs(np.diff(out))
    silent = np.flatnonzero(out[int(0.5 * FS_OUT):] == 0) + int(0.5 * FS_OUT)
    near = np.zeros(steps.size, bool)
    for edge in (silent[0], silent[-1]):
        near[max(edge - EDGE, 0):edge + EDGE] = True
    from dsp.audio.sounds import alert

    chime = np.abs(np.diff(alert("lost", FS_OUT))).max()
    assert steps[near].max() <= 1.05 * (steps[~near].max() + chime)
    assert np.abs(out[-int(0.5 * FS_OUT):]).max() > 0.05  # the EMG is back
    assert np.all(np.isfinite(out)) and np.abs(out).max() < 1.0
