"""The fill control after a card that stopped for a while: the ring fills up meanwhile and
is brought back to its target, without overshooting into an underrun. (Measured on a JACK
server: a 35 ms pause of the callbacks wound the integral up to its limit, and the ring ran
dry two seconds later; the integral is there to learn the clocks' offset, not pauses.)"""

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


def test_a_paused_card_is_caught_up_without_an_underrun():
    fills, underruns, target = _play(pause_at_s=10.0, pause_s=0.035, seconds=16.0)
    pause = int(10.0 * FS_IN / CHUNK)
    before, after = fills[pause - 400:pause], fills[pause + 40:]
    assert underruns == 0
    assert after.max() > 30  # the pause did fill the ring
    assert abs(np.median(fills[-200:]) - target) < 0.5  # back at the target
    # and the way back does not dip much below the low points the ring had before
    assert after.min() >= before.min() - 0.5, (after.min(), before.min())


@pytest.mark.parametrize("pause_s", [0.1, 0.3, 1.0])
def test_a_long_pause_is_skipped_and_the_fill_control_starts_afresh(pause_s):
    # Beyond the skip threshold the callback jumps back to the target; the fill average
    # from before the jump must not go on draining the ring.
    fills, underruns, target = _play(pause_at_s=10.0, pause_s=pause_s, seconds=16.0)
    assert underruns == 0
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
