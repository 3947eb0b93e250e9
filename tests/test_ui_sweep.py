"""The trace's geometry without Kivy (app/ui/sweep.py): columns, runs, triggers, review,
cursors and the pinch gesture, checked exactly."""

from __future__ import annotations

import numpy as np
import pytest

from app.session.live import Ring
from app.ui.sweep import (
    COUNT_SENSITIVITIES,
    SENSITIVITIES,
    SWEEPS,
    ColumnStore,
    Cursor,
    LineIndices,
    Pacer,
    Pinch,
    TriggerSweeps,
    cascade_gaps,
    cascade_rows,
    clamp_back,
    cursor_text,
    gap_columns,
    pull,
    review_columns,
    snap,
    step_value,
    sweep_gaps,
    sweep_runs,
    window_gaps,
)
from dsp.decimate import MinMaxDecimator

FS = 20000.0


def chunks(n: int, rng: np.random.Generator):
    i = 0
    while i < n:
        k = int(rng.integers(0, 700))
        yield i, min(n, i + k)
        i += k


def test_chunking_of_ring_reads_does_not_change_the_columns():
    rng = np.random.default_rng(1)
    x = rng.normal(0, 20, (30000, 2)).astype(np.float32)
    spc = FS * 0.1 / 1280  # 10 ms/div across 1280 px: 1.5625 samples per column
    whole = ColumnStore(spc, 2, 1280 * 3, start=0)
    whole.push(x)
    parts = ColumnStore(spc, 2, 1280 * 3, start=0)
    for a, b in chunks(len(x), rng):
        parts.push(x[a:b])
    assert whole.columns == parts.columns == int(len(x) / spc + 1e-9)
    g1 = whole.columns
    for a, b in zip(whole.get(g1 - 3000, g1), parts.get(g1 - 3000, g1), strict=True):
        assert np.array_equal(a, b)
    lo, hi = whole.get(g1 - 10, g1)  # column j is the min/max of its own samples
    for i, j in enumerate(range(g1 - 10, g1)):
        s = x[int(np.floor(j * spc + 1e-6)):int(np.floor((j + 1) * spc + 1e-6))]
        assert np.array_equal(lo[i], s.min(axis=0)) and np.array_equal(hi[i], s.max(axis=0))
    assert parts.end == int(np.floor(g1 * spc + 1e-6))


def test_store_keeps_only_its_capacity_of_columns():
    st = ColumnStore(2.0, 1, 100, start=500)
    x = np.arange(1000, dtype=np.float32)
    g0, n = st.push(x)
    assert (g0, n) == (0, 500) and st.columns == 500 and st.end == 1500
    lo, hi = st.get(400, 500)
    assert np.array_equal(lo[:, 0], x[800:1000:2]) and np.array_equal(hi[:, 0], x[801:1000:2])


def test_sweep_wraps_with_an_erase_gap_ahead_of_the_write_point():
    w, gap = 1280, gap_columns(1280)
    assert 4 <= gap <= 40
    assert sweep_runs(0, w, gap) == []
    assert sweep_runs(300, w, gap) == [(0, 300)]
    assert sweep_runs(w - gap, w, gap) == [(0, w - gap)]
    # after a wrap: the new sweep from 0 to the write point, the old one after the gap
    runs = sweep_runs(w + 300, w, gap)
    assert runs == [(300 + gap, w), (0, 300)]
    assert sum(b - a for a, b in runs) == w - gap
    for cols in range(0, 4 * w, 97):
        drawn = sum(b - a for a, b in sweep_runs(cols, w, gap))
        assert drawn == min(cols, w - gap)


def test_line_indices_stay_within_two_vertices_per_column_and_never_join_runs():
    w = 1280
    li = LineIndices(w)
    idx = li.runs([(700, w), (0, 300)])
    assert idx.dtype == np.uint16 and idx.max() < 2 * w
    pairs = idx.reshape(-1, 2)
    cols = pairs // 2
    assert np.all(np.abs(cols[:, 1] - cols[:, 0]) <= 1)  # no segment jumps across the wrap
    assert len(pairs) == (w - 700) * 2 - 1 + 300 * 2 - 1
    assert len(li.runs([])) == 0
    with pytest.raises(ValueError):
        LineIndices(40000)  # 80 000 vertices do not fit one Mesh


def test_cascade_puts_the_newest_sweep_at_the_bottom():
    w, r = 100, 4
    assert cascade_rows(0, w, r) == [(-3, 0), (-2, 0), (-1, 0), (0, 0)]
    assert cascade_rows(250, w, r) == [(-1, 0), (0, w), (1, w), (2, 50)]
    assert cascade_rows(1000, w, r) == [(7, w), (8, w), (9, w), (10, 0)]


def spike_train(n: int, at, amp: float = 300.0, noise: float = 10.0, seed: int = 3):
    """Noise with biphasic spikes (positive first) starting at the given samples."""
    x = np.random.default_rng(seed).normal(0, noise, n).astype(np.float32)
    shape = np.concatenate([np.linspace(0, amp, 6), np.linspace(amp, -amp / 2, 10),
                            np.linspace(-amp / 2, 0, 10)]).astype(np.float32)
    for t in at:
        x[t:t + len(shape)] += shape
    return x


def crossing(x: np.ndarray, thr: float, near: int) -> int:
    i = near
    while not (x[i - 1] < thr <= x[i]):
        i += 1
    return i


def test_triggered_sweeps_line_spikes_up_at_the_trigger_column():
    at = [3000, 7300, 11111, 16000, 16300, 22222]  # 16300 falls in 16000's hold-off
    x = spike_train(30000, at)
    eng = TriggerSweeps(FS, 1280, sweep_s=0.02, delay_s=0.002, threshold_uv=150.0)
    sweeps = eng.push(x[:, None], 0)
    assert [s.trigger for s in sweeps] == [crossing(x, 150.0, t) for t in at if t != 16300]
    tc = eng.trigger_column
    assert tc == 128  # 2 ms of a 20 ms sweep: sample 40 of 400, at 0.3125 samples a column
    peaks = []
    for s in sweeps:
        assert s.start == s.trigger - 40 and s.lo.shape == (1280, 1)
        assert s.lo[tc, 0] == s.hi[tc, 0] == x[s.trigger]  # the crossing sample itself
        peaks.append(int(np.argmax(s.hi[:300, 0])))  # (16000's sweep holds 16300 too)
    assert max(peaks) - min(peaks) <= 2 * 1280 / 400  # spikes aligned within 2 samples


def test_triggered_sweeps_do_not_depend_on_chunking_and_fall_for_negative_thresholds():
    x = -spike_train(40000, [2000, 9000, 20000, 31000], seed=5)  # negative first
    one = TriggerSweeps(FS, 800, 0.05, 0.005, -150.0).push(x, 0)
    eng = TriggerSweeps(FS, 800, 0.05, 0.005, -150.0)
    parts = []
    for a, b in chunks(len(x), np.random.default_rng(2)):
        parts += eng.push(x[a:b], a)
    assert len(one) == 4 and [s.trigger for s in one] == [s.trigger for s in parts]
    assert eng.trigger_column == 80  # 5 ms of 50 ms: sample 100 at 1.25 samples a column
    for s, p in zip(one, parts, strict=True):
        assert x[s.trigger - 1] > -150.0 >= x[s.trigger]
        assert s.lo[80, 0] <= x[s.trigger] <= s.hi[80, 0]
        assert np.array_equal(s.lo, p.lo) and np.array_equal(s.hi, p.hi)


def test_pull_reads_exactly_the_new_frames():
    ring = Ring(1000, 2)
    x = np.arange(3000, dtype=np.float32).reshape(-1, 2)
    ring.write(x[:300])
    data, first = pull(ring, 0)
    assert first == 0 and np.array_equal(data, x[:300])
    ring.write(x[300:350])
    data, first = pull(ring, 300)
    assert first == 300 and np.array_equal(data, x[300:350])
    data, first = pull(ring, 350)
    assert first == 350 and len(data) == 0
    ring.write(x[350:1500])  # the reader fell behind more than the ring holds
    data, first = pull(ring, 350)
    assert first == 500 and np.array_equal(data, x[500:1500])


def test_review_is_the_window_ending_back_before_the_snapshot_end():
    x = np.random.default_rng(4).normal(0, 30, (60000, 2)).astype(np.float32)
    first = 1_000_000  # absolute index of the snapshot's first frame
    end = first + 60000 - 12345
    lo, hi, s = review_columns(x, first, end, 2000.0, 1280)
    assert s == end - 2000 and lo.shape == (1280, 2)
    ref = MinMaxDecimator(2000 / 1280, 2).push(x[s - first:end - first])
    assert np.array_equal(lo, ref[0]) and np.array_equal(hi, ref[1])
    assert clamp_back(99.0, 3.0, 0.1) == pytest.approx(2.9) and clamp_back(-1, 3, 0.1) == 0


def test_cursors_snap_and_report_differences():
    assert snap(-80.0, 120.0, 100.0) == 120.0 and snap(-80.0, 120.0, -10.0) == -80.0
    a = Cursor(10.5, 0.0, 5.0, -80.0, 0)
    b = Cursor(60.5, 0.0, 7.4, 100.0, 0)
    assert cursor_text([]) == ""
    assert cursor_text([a]) == "C1 5.0 ms  -80 uV"
    assert cursor_text([a, b]) == "\u0394 2.40 ms  \u0394 180 uV"
    # An uncalibrated amplifier: its counts (here 9.77 uV each), not guessed microvolts.
    assert cursor_text([a], "counts", 9.77) == "C1 5.0 ms  -8 counts"
    assert cursor_text([a, b], "counts", 9.77) == "\u0394 2.40 ms  \u0394 18 counts"
    assert step_value(COUNT_SENSITIVITIES, 50 / 9.77, 0) == 5


def test_a_gap_is_placed_where_it_fell_while_in_view():
    gaps = [(1050, 1.5)]  # ring index, seconds lost
    # Sweep of 100 columns of 10 samples from sample 0, erase gap 4: after 150 columns the
    # newest 96 (54..149) are drawn; the gap is column 105, at x 5.
    assert sweep_gaps(gaps, 0, 10.0, 150, 100, 4) == [(5, 1.5)]
    assert sweep_gaps(gaps, 0, 10.0, 210, 100, 4) == []  # written over
    assert sweep_gaps(gaps, 0, 10.0, 105, 100, 4) == []  # not yet drawn
    # Cascade of 3 rows: after 250 columns the rows show sweeps 0, 1 and 2 (half written);
    # column 105 is sweep 1, the middle row, x 5.
    assert cascade_gaps(gaps, 0, 10.0, 250, 100, 3) == [(5, 1, 1.5)]
    # One window (a triggered sweep, the review strip) from sample 1000.
    assert window_gaps(gaps, 1000, 10.0, 100) == [(5, 1.5)]
    assert window_gaps(gaps, 2060, 10.0, 100) == []


def test_steps_are_clamped_to_the_lists():
    assert step_value(SENSITIVITIES, 50, -1) == 20 and step_value(SENSITIVITIES, 10, -1) == 10
    assert step_value(SENSITIVITIES, 5000, +3) == 5000 and step_value(SWEEPS, 10, +1) == 20
    assert step_value(SWEEPS, 12.0, 0) == 10  # an odd value snaps to the nearest


def test_pinch_vertical_is_sensitivity_horizontal_is_sweep():
    p = Pinch()
    p.start((400, 200), (400, 280))
    assert p.move((401, 195), (399, 285)) == []  # too small to choose an axis
    steps = []
    for k in range(1, 11):
        steps += p.move((400 + k, 200 - 12 * k), (400 - k, 280 + 12 * k))
    assert p.axis == "sensitivity" and steps and all(s == ("sensitivity", -1) for s in steps)
    assert len(steps) == int(np.log(320 / 80) / np.log(1.35))
    p.end()
    p.start((200, 300), (600, 310))
    steps = []
    for k in range(1, 11):
        steps += p.move((200 + 15 * k, 300), (600 - 15 * k, 310))
    assert p.axis == "sweep" and steps and all(s == ("sweep", +1) for s in steps)


def _draw_times(frame_s: float, max_fps: float, seconds: float = 2.0) -> np.ndarray:
    pacer = Pacer()
    times = np.arange(0.0, seconds, frame_s)
    return times[[pacer.due(t, max_fps) for t in times]]


@pytest.mark.parametrize("frame_ms, fps, expected_ms", [
    (30.0, 30, 30.0),  # software GL's frames: every one draws (not every other, 60 ms)
    (1000 / 60, 30, 2000 / 60),  # 60 Hz frames: every other
    (10.0, 30, 30.0),  # fast frames: the nearest to the 33 ms period
    (30.0, 0, 30.0),  # no cap: every frame
])
def test_the_trace_draws_at_the_frame_nearest_its_period(frame_ms, fps, expected_ms):
    gaps = np.diff(_draw_times(frame_ms / 1000, fps)) * 1000
    assert np.allclose(gaps, expected_ms, atol=0.01)
    if fps:
        assert 1000 / gaps.mean() <= fps * 1.15  # still a cap on the drawing rate
