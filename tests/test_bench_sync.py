"""`needlepoint bench sync` run tiny (two tablets, a few injections) against the throwaway
PostgreSQL it starts itself: its report's shape and its counts (every tablet holds every row
the server holds; every row logged is there). Its timings are figures, never checked here."""

from __future__ import annotations

import json

from app.commands.cli import main

COUNTS = ("users", "patients", "procedures", "vials", "injections", "snippets", "audit",
          "emg_samples")


def test_a_tiny_clinic_day_converges_and_reports(capsys):
    assert main(["bench", "sync", "--tablets", "2", "--procedures", "3", "--injections",
                 "5", "--logged", "2", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert (r["bench"], r["server"], r["tablets"]) == ("sync", "throwaway", 2)
    assert r["converged"] and r["every_tablet_holds_every_row"] and not r["failures"]
    held = r["server_holds"]
    # the day (3 procedures: 2 on the first tablet, 1 on the second), then 2 injections on
    # the second tablet and 2 on the first while its sync ran (a procedure each)
    assert held["procedures"] == held["patients"] == 5 and held["users"] == 4
    assert held["injections"] == held["snippets"] == held["emg_samples"] == 9
    assert all(held[k] > 0 for k in COUNTS)
    moved = r["moved"]  # while the day converged: each of the two pulls the other's, once
    assert moved["pulled_entries"] == moved["pushed_entries"] > 0
    # (a pulled row counts each time an entry made or changed it; a pushed one once)
    assert moved["pulled_rows"] >= moved["pushed_rows"] > 0
    assert moved["pulled_emg_samples"] == moved["pushed_emg"] == 5
    for name in ("commit_ms_syncing", "commit_ms_idle"):
        assert set(r[name]) == {"p50", "p99", "max", "commits"}
    assert r["commit_ms_syncing"]["commits"] == 2 and r["commit_ms_idle"]["commits"] == 5
    assert 0 <= r["commits_during_a_round"] <= 2
    assert isinstance(r["commit_p99_within_target"], bool) and r["converged_s"] > 0
    assert r["rows_per_s"] > 0 and r["rounds"] >= 2
