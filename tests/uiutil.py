"""Run the app in a child process under Xvfb (a real X display) when Xvfb is installed,
else on Kivy's offscreen GL; read back its RESULT line."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def display():
    """Yields the DISPLAY to use ("" for offscreen)."""
    if shutil.which("Xvfb") is None:
        yield ""
        return
    for n in range(140, 160):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            break
    proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", "1280x1280x24", "-nolisten",
                             "tcp"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not Path(f"/tmp/.X11-unix/X{n}").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                yield ""  # Xvfb would not start: offscreen GL still draws
                return
            time.sleep(0.05)
        yield f":{n}"
    finally:
        proc.terminate()
        proc.wait(5)


def start(scenario: str, args: dict, home: Path, disp: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KIVY_NO_ARGS": "1",
           "KIVY_NO_CONSOLELOG": "1", "NEEDLEPOINT_HOME": str(home)}
    env.pop("DISPLAY", None)
    if disp:
        env["DISPLAY"] = disp
    return subprocess.Popen([sys.executable, "-m", "tests.uidriver", scenario,
                             json.dumps({"home": str(home), **args})], env=env, cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def result(proc: subprocess.Popen, timeout: float = 120) -> dict:
    out, err = proc.communicate(timeout=timeout)
    lines = [x for x in out.splitlines() if x.startswith("RESULT ")]
    assert lines, f"the app printed no result:\n{out[-1500:]}\n{err[-3000:]}"
    res = json.loads(lines[-1][7:])
    assert "error" not in res, res["error"] + "\n" + err[-3000:]
    return res


def run(scenario: str, args: dict, home: Path, timeout: float = 120) -> dict:
    with display() as disp:
        return result(start(scenario, args, home, disp), timeout)
