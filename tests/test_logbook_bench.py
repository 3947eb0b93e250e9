"""`needlepoint bench logbook` at a small size: it runs end to end through the command line
and reports every figure (no timing assertions: this machine is shared)."""

from __future__ import annotations

import json
import math

from app.commands import cli


def test_bench_logbook_small_reports_every_figure(capsys, tmp_path):
    rc = cli.main(["bench", "logbook", "--json", "--procedures", "20", "--injections", "150",
                   "--snippets", "3", "--loads", "5", "--commits", "6",
                   "--dir", str(tmp_path)])
    assert rc == 0
    rep = json.loads(capsys.readouterr().out)
    assert (rep["procedures"], rep["injections"], rep["snippets"]) == (20, 150, 3)
    assert rep["durability"] == {"journal_mode": "wal", "synchronous": "FULL",
                                 "synchronous_pragma": 2}
    assert rep["verify"]["ok"]
    s = rep["snippet"]
    assert s["raw_bytes"] == 7 * 20000 * 2 and 0 < s["stored_bytes_mean"] < s["raw_bytes"]
    for key in ("history_load_ms", "commit_with_snippet_ms"):
        for p in ("p50", "p99", "max"):
            assert math.isfinite(rep[key][p]) and rep[key][p] > 0, (key, p)
    assert rep["commit_with_snippet_ms"]["commits"] == 6
    assert rep["history_load_ms"]["injections_per_history_mean"] > 0


def test_bench_logbook_refuses_bad_sizes(capsys):
    assert cli.main(["bench", "logbook", "--snippets", "10", "--injections", "5"]) == 2
    assert "--snippets" in capsys.readouterr().err
