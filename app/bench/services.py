"""The services the whole-path benchmarks run against: a JACK server (the sound card, at
real pace) and an X display. Each is started only when none is there, and says so."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

FS_OUT = 48000
BLOCK = 128
START_S = 10.0


def _exit_on_term(*_) -> None:
    raise SystemExit(143)


def jack_running(env: dict) -> bool:
    """A JACK server answers for this environment's JACK_DEFAULT_SERVER (none is started
    to find out)."""
    if shutil.which("jack_lsp") is None:
        return False
    try:
        done = subprocess.run(["jack_lsp"], capture_output=True, text=True, timeout=5,
                              env={**env, "JACK_NO_START_SERVER": "1"})
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0 and "system:playback_1" in done.stdout


class Jack:
    """A JACK dummy server at FS_OUT Hz and BLOCK frames a period, realtime where the
    system allows it (else without, and `how` says so); or the server already running,
    left alone. `env` is the environment a client must run with; `xruns()` counts the
    server's own xruns (only for a server started here)."""

    def __init__(self):
        self.env = {**os.environ, "JACK_NO_AUDIO_RESERVATION": "1",
                    "JACK_NO_START_SERVER": "1"}
        self.proc: subprocess.Popen | None = None
        self.log = None
        self.how = ""
        self._term = None  # the SIGTERM handler before this one, put back on exit

    def __enter__(self) -> Jack:
        # A server started here runs in a session of its own: SIGTERM (timeout, a CI
        # runner) must unwind this process so that __exit__ stops it, not orphan it.
        self._term = signal.signal(signal.SIGTERM, _exit_on_term)
        if jack_running(self.env):
            self.how = "the JACK server already running (its settings are its own)"
            return self
        if shutil.which("jackd") is None:
            raise RuntimeError("no JACK server runs and jackd is not installed "
                               "(apt-get install jackd2)")
        self.env["JACK_DEFAULT_SERVER"] = f"needlepoint-bench-{os.getpid()}"
        for realtime in (["-R", "-P", "70"], ["-r"]):
            if self._start(realtime):
                self.how = (f"jackd started here: dummy backend, {FS_OUT} Hz, {BLOCK} "
                            "frames a period, "
                            + ("realtime (-R -P 70)" if realtime[0] == "-R"
                               else "NOT realtime (refused here)"))
                return self
        raise RuntimeError("jackd did not start: " + self._tail())

    def _start(self, realtime: list[str]) -> bool:
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (read by xruns(), closed on exit)
        self.proc = subprocess.Popen(
            ["jackd", "-n", self.env["JACK_DEFAULT_SERVER"], *realtime, "-d", "dummy",
             "-r", str(FS_OUT), "-p", str(BLOCK)], stdout=self.log,
            stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            if jack_running(self.env):
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.1)
        self._stop()
        return False

    def xruns(self) -> dict[str, int]:
        """The server's xruns so far, by the client that was late ("driver" for the
        server's own timer)."""
        if self.log is None:
            return {}
        self.log.seek(0)
        found: dict[str, int] = {}
        for line in self.log.read().decode(errors="replace").splitlines():
            if "XRun" in line:
                m = re.search(r"client = (\S+)", line)
                who = m.group(1) if m else "driver"
                found[who] = found.get(who, 0) + 1
        return found

    def _tail(self) -> str:
        if self.log is None:
            return ""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-400:]

    def _stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def __exit__(self, *exc) -> None:
        self._stop()
        if self._term is not None:
            signal.signal(signal.SIGTERM, self._term)
        if self.log is not None:
            self.log.close()


class Xvfb:
    """An X display for a window: the one in `env` if there is one, else an Xvfb started
    here (and DISPLAY set in `env`)."""

    def __init__(self, env: dict, size: str = "1280x800"):
        self.env = env
        self.size = size
        self.proc = None

    def __enter__(self) -> Xvfb:
        if self.env.get("DISPLAY"):
            return self
        if shutil.which("Xvfb") is None:
            raise RuntimeError("no display and no Xvfb (apt-get install xvfb)")
        n = next(i for i in range(170, 200) if not Path(f"/tmp/.X{i}-lock").exists()
                 and not Path(f"/tmp/.X11-unix/X{i}").exists())
        self.proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", f"{self.size}x24",
                                      "-nolisten", "tcp"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_S
        while not Path(f"/tmp/.X11-unix/X{n}").exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("Xvfb did not start")
            time.sleep(0.05)
        self.env["DISPLAY"] = f":{n}"
        return self

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(5)
