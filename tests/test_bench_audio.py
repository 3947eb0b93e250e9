"""`needlepoint bench audio` on a short simulated run: the figures are the design's (a
simulated clock, not this machine's), so they may be checked."""

from __future__ import annotations

import json

import numpy as np

from app.bench.audio import FS_IN, arrivals, bench_audio
from app.commands import cli


def test_arrivals_are_a_fast_clock_read_every_few_ms():
    arr = arrivals(30.0, np.random.default_rng(0))
    gaps = np.diff(arr.times)
    assert 0.0035 < np.median(gaps) < 0.0045 and np.all(gaps >= 0)
    rate = (arr.ends[-1] - arr.ends[0]) / (arr.times[-1] - arr.times[0])
    assert abs(rate / FS_IN - 1.005) < 0.0005  # the amplifier's clock is 0.5 % fast


def test_short_run_meets_the_design_targets():
    rep = bench_audio(30.0)
    by_block = {r["blocksize"]: r for r in rep["runs"]}
    assert set(by_block) == {64, 128, 256}
    r = by_block[128]
    assert r["underruns_after_1s"] == 0 and r["overruns"] == 0 and r["skipped_samples"] == 0
    assert r["delay_ms"]["p99"] < 12.0  # 10 ms over ten minutes; the first seconds settle
    assert abs(r["ratio_correction_ppm"] + 5000) < 1500  # it learnt the 0.5 % drift
    # A longer block can only add delay.
    assert by_block[64]["delay_ms"]["p50"] < by_block[256]["delay_ms"]["p50"]
    assert rep["click"]["ticks"] > 10 and rep["click"]["lateness_ms"]["p50"] < 40


def test_cli_prints_json_and_refuses_silly_lengths(capsys):
    assert cli.main(["bench", "audio", "--json", "--seconds", "6"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["bench"] == "audio" and len(rep["runs"]) == 3
    assert cli.main(["bench", "audio", "--seconds", "0"]) == 2
    assert "--seconds" in capsys.readouterr().err
