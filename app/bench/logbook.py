"""`needlepoint bench logbook`: the logbook at clinic scale.

Builds a throwaway logbook of --procedures procedures and --injections injections spread
over patients (about ten sessions each, three months apart), --snippets of them with real
EMG snippets (7 s of simulated needle EMG at 20 kHz, int16), then times:

- loading one patient's whole history (`Logbook.patient_history`), for random patients;
- logging one injection with its 7 s snippet through `Logbook.log_injection`, dose rules
  included, each in its own transaction committed with the durability the app runs with
  (WAL, synchronous=FULL: fsync on every commit), in sessions of ten injections that are
  signed off between sessions as the clinic does (the sign-off, which also checkpoints the
  WAL, is not timed);

and reports the stored bytes per snippet, the file size and how long `verify` takes over the
whole file. The rows are bulk-loaded (one transaction per thousand, audited like any other
row, dose rules skipped), since the build is set-up, not the thing measured. Distinct
snippets are rendered once (the simulator costs ~65 ms per 7 s) and reused, each stored as
its own row. Figures are reported, not asserted; one run on a shared machine is evidence,
not a test.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import tempfile
import time
from pathlib import Path

import numpy as np

TARGETS_MS = {"history_p50": 100.0, "commit_p99": 20.0}
MUSCLES = ("sternocleidomastoid", "splenius_capitis", "trapezius_upper", "levator_scapulae",
           "semispinalis_capitis", "scalenus_medius", "biceps_brachii", "soleus")


def add_parser(kinds) -> None:
    q = kinds.add_parser(
        "logbook", help="the logbook at clinic scale: history load and commit latency",
        description="Build a throwaway logbook (default 10 000 procedures, 100 000 "
        "injections, 2 000 with 7 s EMG snippets) and time one patient's history load and "
        "committing an injection with its snippet (WAL, synchronous=FULL).")
    q.add_argument("--json", action="store_true", help="print one JSON object")
    q.add_argument("--procedures", type=int, default=10_000, metavar="N")
    q.add_argument("--injections", type=int, default=100_000, metavar="N")
    q.add_argument("--snippets", type=int, default=2_000, metavar="N")
    q.add_argument("--loads", type=int, default=200, metavar="N",
                   help="patient histories to time (default 200)")
    q.add_argument("--commits", type=int, default=200, metavar="N",
                   help="injections with snippets to commit and time (default 200)")
    q.add_argument("--dir", metavar="DIR", help="build the logbook here (default: a "
                   "temporary folder, removed afterwards)")
    q.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from app.commands.errors import UsageError

    for name in ("procedures", "injections", "loads", "commits"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name} must be at least 1")
    if not 0 <= args.snippets <= args.injections:
        raise UsageError("--snippets must be between 0 and --injections")
    if args.dir:
        Path(args.dir).mkdir(parents=True, exist_ok=True)
        report = bench(Path(args.dir) / "bench-logbook.db", args)
    else:
        with tempfile.TemporaryDirectory(prefix="needlepoint-bench-") as tmp:
            report = bench(Path(tmp) / "bench-logbook.db", args)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def bench(path: Path, args) -> dict:
    from app.logbook import Logbook
    from app.logbook.store import SYNCHRONOUS

    if path.exists():
        from app.commands.errors import UsageError

        raise UsageError(f"{path} exists: the bench builds a new logbook")
    t0 = time.perf_counter()
    pool = _snippet_pool(min(args.snippets, 16) or 1)
    with Logbook(path) as lb:
        built = bulk_load(lb, args.procedures, args.injections, args.snippets, pool)
        build_s = time.perf_counter() - t0
        stored = [r[0] for r in lb.db.execute("SELECT length(samples) FROM snippets")]
        rng = random.Random(2)
        patients = built["patients"]
        loads, sizes = [], []
        for pid in rng.sample(patients, min(args.loads, len(patients))):
            t = time.perf_counter()
            hist = lb.patient_history(pid)
            loads.append(time.perf_counter() - t)
            sizes.append(sum(len(p["injections"]) for p in hist["procedures"]))
        commits = _commits(lb, rng, patients, pool, args.commits)
        sync = lb.db.execute("PRAGMA synchronous").fetchone()[0]
        journal = lb.db.execute("PRAGMA journal_mode").fetchone()[0]
        t = time.perf_counter()
        verified = lb.verify()
        verify_s = time.perf_counter() - t
    size = path.stat().st_size + _size(Path(f"{path}-wal"))
    hist_ms, commit_ms = _pct(loads), _pct(commits)
    snippet = pool[0]
    return {
        "bench": "logbook",
        "procedures": args.procedures, "injections": args.injections,
        "snippets": args.snippets, "patients": len(patients),
        "durability": {"journal_mode": journal, "synchronous": SYNCHRONOUS,
                       "synchronous_pragma": sync},
        "snippet": {"seconds": snippet["samples"].shape[0] / snippet["fs"],
                    "fs": snippet["fs"], "channels": 1, "raw_bytes": snippet["samples"].nbytes,
                    "stored_bytes_mean": round(float(np.mean(stored)), 1) if stored else None,
                    "stored_bytes_min": min(stored) if stored else None,
                    "stored_bytes_max": max(stored) if stored else None,
                    "distinct_rendered": len(pool)},
        "history_load_ms": {**hist_ms, "loads": len(loads),
                            "injections_per_history_mean": round(float(np.mean(sizes)), 1)},
        "commit_with_snippet_ms": {**commit_ms, "commits": len(commits)},
        "targets": {
            "history_p50_under_100ms": bool(hist_ms["p50"] < TARGETS_MS["history_p50"]),
            "commit_p99_under_20ms": bool(commit_ms["p99"] < TARGETS_MS["commit_p99"])},
        "verify": {"ok": verified["ok"], "seconds": round(verify_s, 2),
                   "audit_entries": verified.get("audit_entries")},
        "file_bytes": size,
        "build_s": round(build_s, 1),
        "machine": {"cpus": os.cpu_count(), "load_avg_1_5_15": [round(v, 2) for v in
                                                                os.getloadavg()]},
    }


def _snippet_pool(n: int) -> list[dict]:
    from app.logbook.demo import simulated_snippet

    scenarios = ("denervated", "endplate", "voluntary", "dystonia")
    return [simulated_snippet(seed=k + 1, scenario=scenarios[k % len(scenarios)])
            for k in range(n)]


def bulk_load(lb, n_proc: int, n_inj: int, n_snip: int, pool: list[dict]) -> dict:
    """Patients with about ten sessions each, three months apart, injections spread evenly,
    snippets on an evenly spread subset; audited rows, one transaction per thousand."""
    from app.logbook import demo, ids, snippets

    doc, nurse = demo.users(lb)
    n_pat = max(1, n_proc // 10)
    patients = []
    with lb.transaction():
        for k in range(n_pat):
            patients.append(lb.add_patient({"mrn": f"BENCH-{k:06d}", "family_name": "Bench",
                                            "birth_date": "1960-01-01", "weight_kg": 70.0},
                                           by=nurse["id"])["id"])
    start = datetime.datetime(2020, 1, 6, 9, tzinfo=datetime.UTC)
    per_proc = [n_inj // n_proc + (1 if p < n_inj % n_proc else 0) for p in range(n_proc)]
    with_snippet = set(np.linspace(0, n_inj - 1, n_snip).astype(int).tolist()
                       if n_snip else [])
    encoded = [(snippets.encode(s["samples"][:, None]), s) for s in pool]
    done = 0
    for first in range(0, n_proc, 1000):
        with lb.transaction():
            for p in range(first, min(first + 1000, n_proc)):
                at = start + datetime.timedelta(days=91 * (p // n_pat), minutes=p % n_pat)
                proc = lb.start_procedure({"patient_id": patients[p % n_pat],
                                           "kind": "botulinum", "started_at": at,
                                           "physician_id": doc["id"], "nurse_id": nurse["id"],
                                           "pain_before": 5}, by=nurse["id"])
                vial = lb.add_vial(proc["id"], {"product": "onabotulinumtoxinA",
                                                "vial_units": 200, "diluent_ml": 4.0,
                                                "lot": "B1", "expiry": "2099-01",
                                                "reconstituted_at": at}, by=nurse["id"])
                for s in range(per_proc[p]):
                    row = {"id": ids.new_id(), "procedure_id": proc["id"],
                           "vial_id": vial["id"], "seq": s + 1,
                           "at": ids.stamp(at + datetime.timedelta(minutes=s)),
                           "muscle": MUSCLES[s % len(MUSCLES)], "side": "left", "site": 1,
                           "units": 10.0, "volume_ml": 0.2, "guidance": "emg", "voided": 0,
                           "emg_findings": '{"muap":true}', "created_at": ids.now(),
                           "created_by": nurse["id"]}
                    lb._insert("injections", row, nurse["id"])
                    if done in with_snippet:
                        (blob, sha), snip = encoded[done % len(encoded)]
                        lb._insert("snippets", {
                            "id": ids.new_id(), "injection_id": row["id"], "fs": snip["fs"],
                            "channels": 1, "frames": int(snip["samples"].shape[0]),
                            "uv_per_count": snip["uv_per_count"],
                            "injection_index": snip["injection_index"],
                            "encoding": snippets.ENCODING, "samples": blob, "sha256": sha,
                            "created_at": ids.now()}, nurse["id"])
                    done += 1
                lb.sign_off(proc["id"], doc["id"])
    return {"patients": patients, "doc": doc, "nurse": nurse}


def _commits(lb, rng: random.Random, patients: list[str], pool: list[dict], n: int
             ) -> list[float]:
    """Time log_injection (rules, audit, snippet, one FULL-sync commit each) in new sessions
    of random patients, so each check reads a real history."""
    from app.logbook import demo

    doc, nurse = demo.users(lb)
    out = []
    proc = vial = None
    for k in range(n):
        if k % 10 == 0:  # a new session every ten injections, like a clinic day
            if proc is not None:  # the last one is signed, as in the clinic (and checkpointed)
                lb.sign_off(proc["id"], doc["id"])
            now = datetime.datetime.now(datetime.UTC)
            proc = lb.start_procedure({"patient_id": rng.choice(patients), "kind": "botulinum",
                                       "started_at": now}, by=nurse["id"])
            vial = lb.add_vial(proc["id"], {"product": "onabotulinumtoxinA", "vial_units": 200,
                                            "diluent_ml": 4.0, "lot": "B2",
                                            "expiry": "2099-01", "reconstituted_at": now},
                               by=nurse["id"])
        snip = pool[k % len(pool)]
        t = time.perf_counter()
        lb.log_injection(proc["id"], {"vial_id": vial["id"], "units": 10,
                                      "muscle": MUSCLES[k % len(MUSCLES)], "side": "right",
                                      "guidance": "emg"}, nurse["id"], snippet=snip)
        out.append(time.perf_counter() - t)
    return out


def _pct(seconds: list[float]) -> dict:
    v = np.asarray(seconds) * 1000
    p50, p99 = np.percentile(v, [50, 99])
    return {"p50": round(float(p50), 3), "p99": round(float(p99), 3),
            "max": round(float(v.max()), 3)}


def _size(p: Path) -> int:
    return p.stat().st_size if p.exists() else 0


def format_report(r: dict) -> str:
    s, h, c = r["snippet"], r["history_load_ms"], r["commit_with_snippet_ms"]
    t = r["targets"]
    return "\n".join([
        f"needlepoint bench logbook: {r['procedures']} procedures, {r['injections']} "
        f"injections, {r['snippets']} snippets, {r['patients']} patients "
        f"(built in {r['build_s']:g} s; file {r['file_bytes'] / 1e6:.0f} MB)",
        f"durability: journal {r['durability']['journal_mode']}, synchronous "
        f"{r['durability']['synchronous']}",
        f"snippet: {s['seconds']:g} s at {s['fs']:g} Hz, {s['raw_bytes']} bytes raw, "
        f"{s['stored_bytes_mean']:.0f} bytes stored on average "
        f"({s['stored_bytes_min']}..{s['stored_bytes_max']})",
        f"patient history load: p50 {h['p50']:.2f} ms, p99 {h['p99']:.2f} ms, max "
        f"{h['max']:.2f} ms over {h['loads']} patients (~{h['injections_per_history_mean']:g} "
        f"injections each); target p50 < 100 ms: "
        f"{'PASS' if t['history_p50_under_100ms'] else 'FAIL'}",
        f"commit one injection with its snippet: p50 {c['p50']:.2f} ms, p99 {c['p99']:.2f} "
        f"ms, max {c['max']:.2f} ms over {c['commits']}; target p99 < 20 ms: "
        f"{'PASS' if t['commit_p99_under_20ms'] else 'FAIL'}",
        f"verify over the whole file: {'ok' if r['verify']['ok'] else 'FAILED'} in "
        f"{r['verify']['seconds']:g} s ({r['verify']['audit_entries']} audit entries)",
        f"load average {r['machine']['load_avg_1_5_15']} on {r['machine']['cpus']} CPUs",
    ])
