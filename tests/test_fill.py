"""The fill control after a card that stopped for a while: the ring fills up meanwhile and
is brought back to its target, without overshooting into an underrun. A short pause is
drained by the ratio (measured on a JACK server: a 35 ms pause of the callbacks once wound
the integral up to its limit, and the ring ran dry two seconds later; the integral is there
to learn the clocks' offset, not pauses); a longer one is skipped at once."""

from __future__ import annotations

import numpy as np
import pytest

from app.session.audio import AudioPath, VirtualCard

FS_IN, FS_OUT, BLOCK = 20000.0, 48000.0, 128
CHUNK = 100  # 5 ms reads, on time


def _play(pause_at_s: float, pause_s: float, seconds: float):
    """Chunks every 5 ms; the card calls back every block, except for `pause_s` from
    `pause_at_s`, whose callbacks are lost (a realtime server skips a late client's
    cycles). Returns the fill just before each chunk (ms) and the underrun count."""
    path = AudioPath(FS_IN, fs_out=FS_OUT, blocksize=BLOCK)
    card = VirtualCard(path.ring, FS_OUT, BLOCK, 0.0, lambda *a: None)
    x = np.random.default_rng(0).normal(0, 20, CHUNK).astype(np.float32)
    fills, t, paused = [], 0.0, False
    for k in range(int(seconds * FS_IN / CHUNK)):
        t = (k + 1) * CHUNK / FS_IN
        if not paused and t >= pause_at_s + pause_s:
            card.start_s += pause_s  # the lost callbacks: the card's clock jumps on
            paused = True
        if t < pause_at_s or paused:
            card.run_until(t)
        fills.append(path.ring.queued / FS_OUT * 1000)
        path.push(x, k * CHUNK)
    return np.array(fills), path.ring.underruns, path.renderer.control.target_s * 1000


def test_a_short_card_pause_is_drained_without_an_underrun():
    # 8 ms: under the ring's skip margin, so the ratio drains it.
    fills, underruns, target = _play(pause_at_s=10.0, pause_s=0.008, seconds=20.0)
    pause = int(10.0 * FS_IN / CHUNK)
    before, after = fills[pause - 400:pause], fills[pause + 4:]
    assert underruns == 0
    assert after.max() > 10  # the pause did fill the ring
    assert abs(np.median(fills[-200:]) - target) < 0.5  # back at the target
    # and the way back does not dip much below the low points the ring had before
    assert after.min() >= before.min() - 0.5, (after.min(), before.min())


@pytest.mark.parametrize("pause_s", [0.035, 0.1, 0.3, 1.0])
def test_a_longer_pause_is_skipped_back_to_the_target(pause_s):
    # What piled up while the card stood still would play late for as long as it was
    # kept: the callback skips back to the target at once. The fill average from before
    # the jump must not go on draining the ring.
    fills, underruns, target = _play(pause_at_s=10.0, pause_s=pause_s, seconds=20.0)
    pause = int(10.0 * FS_IN / CHUNK)
    before = fills[pause - 400:pause]
    after = fills[pause + int(pause_s * FS_IN / CHUNK) + 2:]
    assert underruns == 0
    assert after.max() < before.max() + 1.0  # nothing late kept
    assert after.min() >= before.min() - 0.5, (after.min(), before.min())
    assert abs(np.median(fills[-200:]) - target) < 0.5


def _drifting(drift: float, seconds: float):
    """An amplifier whose crystal runs `drift` fast: its 5 ms chunks come that much more
    often. Returns the fill before each chunk (ms), the underruns and the target (ms)."""
    path = AudioPath(FS_IN, fs_out=FS_OUT, blocksize=BLOCK)
    card = VirtualCard(path.ring, FS_OUT, BLOCK, 0.0, lambda *a: None)
    x = np.zeros(CHUNK, np.float32)
    fills = []
    for k in range(int(seconds * FS_IN / CHUNK)):
        card.run_until((k + 1) * CHUNK / (FS_IN * (1 + drift)))
        fills.append(path.ring.queued / FS_OUT * 1000)
        path.push(x, k * CHUNK)
    return np.array(fills), path.ring.underruns, path.renderer.control.target_s * 1000


@pytest.mark.parametrize("drift", [-0.005, 0.005])
def test_a_crystal_half_a_percent_off_settles_on_the_target(drift):
    fills, underruns, target = _drifting(drift, 30.0)
    assert underruns == 0
    assert abs(fills[-2000:].mean() - target) < 0.5  # the integral took up the offset


@pytest.mark.parametrize("drift", [-0.015, 0.015])
def test_a_clock_far_off_is_still_followed_without_underruns(drift):
    fills, underruns, target = _drifting(drift, 30.0)
    assert underruns == 0
    assert abs(fills[-2000:].mean() - target) < 6.0  # held by the proportional term


def test_a_backlog_in_the_first_chunk_does_not_set_the_delay():
    """What queued up while the sound was being set up comes as one long first chunk: it
    is skipped, and the target follows the device's usual 5 ms chunks (it once took half
    of the first chunk: 200 ms queued gave a 106 ms delay for minutes)."""
    path = AudioPath(FS_IN, fs_out=FS_OUT, blocksize=BLOCK)
    card = VirtualCard(path.ring, FS_OUT, BLOCK, 0.0, lambda *a: None)
    backlog = int(0.2 * FS_IN)
    path.push(np.zeros(backlog, np.float32), 0)
    fills = []
    for k in range(int(3.0 * FS_IN / CHUNK)):
        card.run_until((k + 1) * CHUNK / FS_IN)
        fills.append(path.ring.queued / FS_OUT * 1000)
        path.push(np.zeros(CHUNK, np.float32), backlog + k * CHUNK)
    assert path.renderer.control.target_s < 0.008
    assert np.median(fills[int(1.0 * FS_IN / CHUNK):]) < 8.0


def _stalls(stalls_at: list[float], seconds: float, stall_s: float = 0.05):
    """5 ms chunks, except that the reader stalls for `stall_s` at each of `stalls_at`
    and then hands over what came meanwhile at once. Returns (times, fill before each
    chunk in ms, target in ms after each chunk, underruns)."""
    path = AudioPath(FS_IN, fs_out=FS_OUT, blocksize=BLOCK)
    card = VirtualCard(path.ring, FS_OUT, BLOCK, 0.0, lambda *a: None)
    x = np.zeros(CHUNK, np.float32)
    times, fills, targets = [], [], []
    for k in range(int(seconds * FS_IN / CHUNK)):
        t = (k + 1) * CHUNK / FS_IN
        due = next((s + stall_s for s in stalls_at if s <= t < s + stall_s), t)
        card.run_until(max(t, due))
        times.append(t)
        fills.append(path.ring.queued / FS_OUT * 1000)
        path.push(x, k * CHUNK)
        targets.append(path.renderer.control.target_s * 1000)
    return (np.array(times), np.array(fills), np.array(targets), path.ring.underruns)


def test_one_stall_costs_one_underrun_and_not_the_delay():
    times, fills, targets, underruns = _stalls([10.0], 16.0)
    before = (times > 8.0) & (times < 10.0)
    after = times > 11.0  # a second after the stall
    assert underruns == 1
    assert targets[after].max() <= targets[before].max() + 0.5
    assert fills[after].max() <= fills[before].max() + 0.5  # nothing late kept


def test_hiccups_now_and_then_cost_a_gap_each_and_never_the_delay():
    """A loaded machine's stalls, twice a minute: each is a faded gap; the delay stays."""
    times, fills, targets, underruns = _stalls([10.0, 30.0, 50.0], 56.0)
    assert underruns == 3
    before = (times > 8.0) & (times < 10.0)
    assert targets[times > 31.0].max() <= targets[before].max() + 0.5


def test_stalls_that_come_every_few_seconds_raise_the_target():
    """Three within ten seconds are the device's way: the target covers the next."""
    times, fills, targets, underruns = _stalls([10.0, 13.0, 16.0, 19.0], 24.0)
    assert underruns == 3  # the third made the target cover the fourth
    assert targets[times > 17.0].min() > 40.0


def test_stalls_that_keep_coming_keep_the_target_up():
    """A device whose way is a stall every few seconds: three gaps, then every stall
    covered for as long as they keep coming, though they come further apart than the
    windows remember (4 s) and the raise alone lasts (10 s from the third gap)."""
    stalls = [10.0, 13.0, 16.0] + [16.0 + 6.0 * k for k in range(1, 8)]  # to 58 s
    times, fills, targets, underruns = _stalls(stalls, 61.0)
    assert underruns == 3
    assert targets[times > 17.0].min() > 40.0


def test_a_cluster_of_hiccups_raises_the_delay_for_a_while_only():
    """Three stalls within ten seconds on a loaded machine, then none: the raise ends
    ten seconds after the last (it held for a minute before)."""
    times, fills, targets, underruns = _stalls([10.0, 13.0, 16.0], 40.0)
    assert underruns == 3
    before = (times > 8.0) & (times < 10.0)
    assert targets[(times > 17.0) & (times < 25.0)].min() > 40.0  # raised meanwhile
    assert targets[times > 31.0].max() <= targets[before].max() + 0.5
    assert np.median(fills[times > 31.0]) <= np.median(fills[before]) + 1.0


def test_relearning_forgets_a_start_that_held_everything_up():
    """The app's first frames hold the GIL: what the fill control learnt then (here, two
    long underruns) is forgotten once the screen is up."""
    from dsp.audio.fill import FillControl

    c = FillControl(BLOCK / FS_OUT)
    for _ in range(3):
        c.update(0.0, 0.005, -0.08, starved=True)
    assert c.target_s > 0.05
    c.relearn()
    for _ in range(400):  # 2 s of 5 ms chunks, the ring as full as the target
        c.update(c.target_s or 0.004, 0.005, 0.002, starved=False)
    assert c.target_s < 0.01


def _one_stall(stall_s: float, whole: bool, seconds: float = 12.0, at_s: float = 10.0):
    """5 ms chunks; at `at_s` the reader stalls `stall_s` and the card runs dry, then what
    came meanwhile arrives: as one long chunk (`whole`: the amplifier's link held it) or
    as the usual chunks one after the other (a reader thread that fell behind). Returns
    (times, fill before each chunk in ms, the underruns, samples of the backlog not played
    as counted by the path)."""
    path = AudioPath(FS_IN, fs_out=FS_OUT, blocksize=BLOCK)
    card = VirtualCard(path.ring, FS_OUT, BLOCK, 0.0, lambda *a: None)
    x = np.random.default_rng(1).normal(0, 20, int(seconds * FS_IN)).astype(np.float32)
    times, fills, sent, k = [], [], 0, 0
    while sent + CHUNK <= x.size:
        t = (k + 1) * CHUNK / FS_IN
        k += 1
        if at_s <= t < at_s + stall_s:
            continue  # nothing comes: the chunks of the stall wait
        end = k * CHUNK
        card.run_until(t)
        pieces = [(sent, end)] if whole else [(i, i + CHUNK) for i in range(sent, end, CHUNK)]
        for a, b in pieces:
            times.append(t)
            fills.append(path.ring.queued / FS_OUT * 1000)
            path.push(x[a:b], a)
        sent = end
    return np.array(times), np.array(fills), path.ring.underruns, path.late_dropped


@pytest.mark.parametrize("whole", [True, False])
def test_after_running_dry_a_stalls_backlog_is_skipped_not_played_late(whole):
    """A stall too short for the skip margin (12 ms) still runs the ring dry: the faded gap
    is taken, and the sound resumes at its usual delay. What came late is skipped; played,
    it kept the delay that much longer for a third of a second while the ratio drained it."""
    times, fills, underruns, dropped = _one_stall(0.012, whole)
    before = fills[(times > 8.0) & (times < 10.0)]
    resumed = times[times >= 10.012].min()  # the backlog came then, chunk after chunk
    after = fills[(times > resumed) & (times < 10.6)]
    assert underruns == 1
    assert after.max() <= before.max() + 0.5, (after.max(), before.max())
    if whole:
        assert dropped > 0  # the oldest of the late chunk went, not the newest
