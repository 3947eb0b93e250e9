"""Crash safety: a separate process logs injections (with snippets and dose warnings) as
fast as it can and reports each one once `log_injection` has returned; it is killed with
SIGKILL at a random moment, 60 times, on the same logbook: a quarter during start-up, the
rest while logging, placed by the writer's own progress rather than the machine's clock.
After every kill the logbook opens, `verify` passes (integrity, audit chain, trail against
tables, snippet hashes), and every injection the process reported committed is there with
its snippet.

A start-up kill is of a new Python process (`python -c WRITER`: interpreter, imports,
opening the logbook). A kill while logging falls after the writer has reported injections,
so its Python start-up is only waited out: those writers are forked from one process that
has made the same imports once (tests/forked.py), each then running WRITER from the top in
a process of its own, killed and reaped as the others (about a second less each)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from app.logbook import Logbook
from tests.forked import Forked

ROOT = Path(__file__).resolve().parents[1]
KILLS = 60

WRITER = r"""
import sys
import numpy as np
from app.logbook import Logbook, ids

path, seed = sys.argv[1], int(sys.argv[2])
lb = Logbook(path)
staff = {u["role"]: u for u in lb.users()}
if "physician" not in staff:
    staff["physician"] = lb.add_user({"name": "Dr Crash", "role": "physician", "pin": "1111"})
if "nurse" not in staff:
    staff["nurse"] = lb.add_user({"name": "N Crash", "role": "nurse", "pin": "2222"},
                                 by=staff["physician"]["id"])
nurse = staff["nurse"]["id"]
patient = lb.find_patient("CRASH-1") or lb.add_patient(
    {"mrn": "CRASH-1", "family_name": "Crash", "weight_kg": 70}, by=nurse)
proc = lb.start_procedure({"patient_id": patient["id"], "kind": "botulinum"}, by=nurse)
vial = lb.add_vial(proc["id"], {"product": "onabotulinumtoxinA", "vial_units": 200,
                                "diluent_ml": 4, "reconstituted_at": ids.now()}, by=nurse)
print("ready", flush=True)
rng = np.random.default_rng(seed)
while True:
    x = rng.integers(-3000, 3000, size=int(rng.integers(200, 20000)), dtype=np.int16)
    inj = lb.log_injection(proc["id"], {"vial_id": vial["id"], "units": 30,
                                        "muscle": "biceps_brachii", "side": "left"}, nurse,
                           snippet={"samples": x, "uv_per_count": 0.5, "fs": 10000.0,
                                    "injection_index": int(x.size // 2),
                                    "source_uri": "sim:denervated", "source_kind": "simulator",
                                    "calibrated": True})
    print(inj["id"], flush=True)
"""
PRELOAD = "import numpy\nfrom app.logbook import Logbook, ids"  # WRITER's imports


def test_sigkill_at_random_moments_loses_no_committed_injection(tmp_path):
    path = tmp_path / "crash.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with Forked(tmp_path / "io", WRITER, PRELOAD, env) as forked:
        committed, before_ready = _kill(path, env, forked, random.Random(20261124))
    print(f"{KILLS} kills, {before_ready} before the writer was ready, "
          f"{len(committed)} committed injections all present")
    assert len(committed) > 100  # the kills did land while injections were being logged


def _kill(path: Path, env: dict, forked: Forked, rng: random.Random) -> tuple[list, int]:
    """The 60 kills, each checked; gives the injections reported committed and how many
    kills fell before the writer was ready."""
    committed: list[str] = []
    before_ready = 0
    for k in range(KILLS):
        lines = []
        if k % 4 == 0:
            # During start-up and opening (schema creation on the first run), on the
            # machine's clock: wherever that falls.
            proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(k)],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    cwd=ROOT, env=env)
            time.sleep(rng.uniform(0.05, 0.6))
            proc.send_signal(signal.SIGKILL)
            out, err = proc.communicate(timeout=30)
            code = proc.returncode
        else:
            # While logging, placed by the writer's own progress (so a loaded machine
            # slows it, never moves it): after 0-10 reported injections, mid-write.
            pid, stdout = forked.start(path, k)
            with stdout:
                want = 1 + rng.randint(0, 10)
                while len(lines) < want:
                    line = stdout.readline()
                    if not line:
                        break
                    lines.append(line.decode())
                time.sleep(rng.uniform(0, 0.01))
                forked.kill(pid)
                out = stdout.read()  # to the end: the writer is gone
            code, err = forked.reap(pid)
        assert code == -signal.SIGKILL, err.decode()[-2000:]
        # (a line cut by the kill has no newline)
        lines = [x.rstrip("\n") for x in lines] + out.decode().split("\n")[:-1]
        if "ready" not in lines:
            before_ready += 1
        committed += [line for line in lines if line != "ready"]
        with Logbook(path) as lb:
            rep = lb.verify()
            assert rep["ok"], (k, rep["problems"])
            found = {r[0] for r in lb.db.execute(
                "SELECT i.id FROM injections i JOIN snippets s ON s.injection_id = i.id")}
        missing = set(committed) - found
        assert not missing, f"kill {k}: {len(missing)} reported injections are missing"
    return committed, before_ready
