"""`needlepoint bench`: the dsp benchmark runs end to end and reports every figure; the
benchmarks not built yet say so. No timing assertions: this machine is shared and noisy."""

import contextlib
import io
import json
import math

import pytest

from app.commands import cli

CASES = ("chain_5ms", "sosfilt_5ms", "chain_1s", "sosfilt_1s")


@pytest.fixture(scope="module")
def report():
    """One short run through the command line, shared by the tests of its report (capsys is
    per test, so stdout is caught here directly)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = cli.main(["bench", "dsp", "--json", "--seconds", "2", "--repeats", "2"])
    assert rc == 0
    return json.loads(out.getvalue())


def positive(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v > 0


def test_json_through_main_with_capsys(capsys):
    assert cli.main(["bench", "dsp", "--json", "--seconds", "0.5", "--repeats", "1"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["bench"] == "dsp" and rep["signal_s"] == 0.5 and rep["repeats"] == 1


def test_report_has_every_case_with_positive_finite_numbers(report):
    assert report["fs"] == 20000.0 and report["signal_s"] == 2.0
    assert set(report["cases"]) == set(CASES)
    for name in CASES:
        c = report["cases"][name]
        for key in ("chunk_ms", "signal_s", "cpu_s", "thread_cpu_s", "wall_s",
                    "x_real_time", "core_percent"):
            assert positive(c[key]), (name, key, c[key])
        assert set(c["latency_ms"]) == {"p50", "p99", "max"}
        assert all(positive(v) for v in c["latency_ms"].values()), (name, c["latency_ms"])
        assert c["latency_ms"]["p50"] <= c["latency_ms"]["p99"] <= c["latency_ms"]["max"]
        assert len(c["cpu_s_repeats"]) == report["repeats"] == 2
        assert min(c["cpu_s_repeats"]) == pytest.approx(c["cpu_s"], abs=1e-3)
        assert c["helper_threads_cpu_s"] >= 0
    assert report["cases"]["chain_5ms"]["chunk_samples"] == 100
    assert report["cases"]["chain_5ms"]["chunks"] == 400
    assert report["cases"]["chain_1s"]["chunk_samples"] == 20000
    for name in ("chain_5ms", "chain_1s"):
        c = report["cases"][name]
        assert positive(c["x_sosfilt"])
        assert set(c["stages_wall_s"]) == {"filters", "analyser", "decimation", "measures"}
        assert all(positive(v) for v in c["stages_wall_s"].values())


def test_delay_and_targets(report):
    d = report["delay"]
    assert math.isfinite(d["filter_group_delay_ms"]) and d["filter_group_delay_ms"] >= 0
    assert d["lookahead_ms"] == 25.0
    assert d["events"] > 0  # the denervated simulator fibrillates from the first second
    assert all(positive(v) for v in d["decision_ms"].values())
    # decided no earlier than the look-ahead after the peak
    assert d["decision_ms"]["p50"] >= d["lookahead_ms"] - 1e-6
    t = report["targets"]
    assert t["chain_5ms"]["x_real_time_min"] == 20 and t["chain_1s"]["x_real_time_min"] == 100
    for name, target in t.items():
        assert target["x_real_time"] == report["cases"][name]["x_real_time"]
        assert target["pass"] == (target["x_real_time"] >= target["x_real_time_min"])
    assert report["pass"] == all(v["pass"] for v in t.values())


def test_table_without_json(capsys):
    assert cli.main(["bench", "dsp", "--seconds", "0.5", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    for word in ("chain", "sosfilt", "x real time", "look-ahead", "overall"):
        assert word in out


@pytest.mark.parametrize("argv", [["--seconds", "0"], ["--seconds", "nan"],
                                  ["--repeats", "0"], ["--budget", "-1"]])
def test_bad_arguments_exit_2(argv, capsys):
    assert cli.main(["bench", "dsp", *argv]) == 2
    assert "needlepoint:" in capsys.readouterr().err


def test_serial_bench_reports_decoder_ratio_and_reader_delay(capsys):
    assert cli.main(["bench", "serial", "--json", "--seconds", "1"]) == 0
    rep = json.loads(capsys.readouterr().out)
    d, r = rep["decoder"], rep["reader"]
    assert d["frames"] == 10_000 and positive(d["ratio"]) and positive(d["bytes_per_s"])
    assert r["chunks"] > 100
    assert all(positive(r[k]) for k in ("p50_ms", "p99_ms", "max_ms"))
    assert r["p50_ms"] <= r["p99_ms"] <= r["max_ms"]
