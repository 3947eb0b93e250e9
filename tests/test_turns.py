"""The turns count (Willison): the vectorised zigzag gives exactly what the plain
one-extremum-at-a-time loop gave, on any signal cut into any chunks."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp.analysis.measures import TURN_UV, Turns


class _PlainTurns:
    """The rule one local extremum at a time, in plain Python (what Turns did before it
    was vectorised): the reference."""

    def __init__(self):
        self.direction, self.extreme, self.high, self.low = 0, 0.0, None, None

    def push(self, x: np.ndarray) -> list[int]:
        dx = np.diff(x)
        ext = np.flatnonzero(np.sign(dx[1:]) != np.sign(dx[:-1])) + 1
        positions = np.r_[0, ext, x.size - 1]
        turns = []
        direction, extreme, high, low = self.direction, self.extreme, self.high, self.low
        for i, v in zip(positions.tolist(), x[positions].tolist(), strict=True):
            if direction == 0:
                high = v if high is None else max(high, v)
                low = v if low is None else min(low, v)
                if high - v >= TURN_UV:
                    direction, extreme = -1, v
                elif v - low >= TURN_UV:
                    direction, extreme = 1, v
            elif direction * (v - extreme) > 0:
                extreme = v
            elif abs(v - extreme) >= TURN_UV:
                turns.append(i)
                direction, extreme = -direction, v
        self.direction, self.extreme, self.high, self.low = direction, extreme, high, low
        return turns


def _both(x: np.ndarray, cuts: list[int]) -> tuple[list[int], list[int]]:
    new, old, got, want, start = Turns(), _PlainTurns(), [], [], 0
    for end in [*sorted(set(cuts)), len(x)]:
        if end > start:
            got.extend((new.push(x[start:end]) + start).tolist())
            want.extend(i + start for i in old.push(x[start:end]))
            start = end
    return got, want


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), scale=st.sampled_from([5.0, 60.0, 150.0, 400.0]),
       cuts=st.lists(st.integers(1, 3999), max_size=12),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_the_zigzag_matches_the_sample_by_sample_rule(seed, scale, cuts, dtype):
    rng = np.random.default_rng(seed)
    x = np.cumsum(rng.normal(0, scale, 4000)).astype(dtype) * 0.3
    x += rng.normal(0, scale, 4000).astype(dtype)
    got, want = _both(x, cuts)
    assert got == want


def test_exact_threshold_swings_count():
    x = np.array([0, 100, 0, 100, 50, 150, 50.0])
    got, want = _both(x, [3])
    assert got == want and got[:2] == [2, 3]  # swings of exactly 100 uV turn
