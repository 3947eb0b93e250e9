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
def display(numbers=range(140, 160), screen: str = "1280x1280x24"):
    """Yields the DISPLAY to use ("" for offscreen: no Xvfb, no free number among
    `numbers`, or it would not start). Each test module takes its own numbers, so runs on a
    shared machine do not meet."""
    if shutil.which("Xvfb") is None:
        yield ""
        return
    free = [n for n in numbers if not Path(f"/tmp/.X11-unix/X{n}").exists()
            and not Path(f"/tmp/.X{n}-lock").exists()]
    if not free:
        yield ""
        return
    n = free[0]
    proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", screen, "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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


def child_env(home: Path, disp: str | None = None) -> dict:
    """The environment of an app child process: its own home, Kivy quiet and off our
    command line, and the given display or none (offscreen GL)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KIVY_NO_ARGS": "1",
           "KIVY_NO_CONSOLELOG": "1", "NEEDLEPOINT_HOME": str(home)}
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    if disp:
        env["DISPLAY"] = disp
    return env


def start(scenario: str, args: dict, home: Path, disp: str,
          driver: str = "tests.uidriver", clock: str | None = None) -> subprocess.Popen:
    """The app child process; with `clock` ("YYYY-MM-DD HH:MM:SS", local time) its realtime
    clock starts at that moment under libfaketime (Debian's `faketime`) and runs on from
    there, while its monotonic clock (Kivy's Clock, the device and audio threads) stays
    real: what the app stamps is then that day's, its code untold. Debian 12's libfaketime
    0.9.10 needs two things more: its "monotonic fix" of pthread_cond_timedwait off, or
    Python's GIL is handed between threads about ten times slower (a loop sharing it with a
    busy thread: 3,500 turns a second; 32,000 with the fix off, 30,000 without libfaketime),
    and time.sleep done by select in the child (tests/uidriver.py sleep_under_faketime)."""
    env = child_env(home, disp)
    cmd = [sys.executable, "-m", driver, scenario, json.dumps({"home": str(home), **args})]
    if clock:
        env["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"
        env["FAKETIME_FORCE_MONOTONIC_FIX"] = "0"
        cmd = ["faketime", "-m", "-f", f"@{clock}", *cmd]
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


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
