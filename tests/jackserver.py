"""A private JACK dummy server: a sound card that runs at real pace on a machine with none
(../shared/reference/platform-notes.md). Shared by the sound card and speaker tests."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from types import SimpleNamespace

import pytest

import devices.soundcard as soundcard

TOOLS = ("jackd", "jack_lsp", "jack_connect", "jack_disconnect")


def sounddevice():
    try:
        import sounddevice
    except (OSError, ImportError) as e:
        pytest.skip(f"sounddevice cannot load PortAudio ({e}): apt-get install libportaudio2")
    return sounddevice


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=5)


def ports() -> set[str]:
    return set(run("jack_lsp").stdout.split())


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextlib.contextmanager
def jack_server(fs: int = 48000, period: int = 128, tag: str = "", *, rescan: bool = True):
    """Yields (sd, the server process, its log file) with this process's PortAudio
    re-initialised to see it (unless `rescan` is false: for a server only a child process
    uses, which the test may kill); torn down in the order that keeps PortAudio sane.
    Skips, with its reason, where no server can be had."""
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (apt-get install jackd2): no "
                    "real-paced sound card to test against")
    sd = sounddevice()
    name = f"needlepoint-test-{os.getpid()}{tag}"
    with tempfile.TemporaryFile() as log, pytest.MonkeyPatch.context() as mp:
        mp.setenv("JACK_DEFAULT_SERVER", name)  # read by libjack: PortAudio and the CLI tools
        mp.setenv("JACK_NO_AUDIO_RESERVATION", "1")  # the dummy driver wants no card from D-Bus
        proc = subprocess.Popen(
            ["jackd", "-n", name, "--no-realtime", "-d", "dummy", "-r", str(fs), "-p",
             str(period)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 10
            while "system:capture_1" not in ports():
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    pytest.skip(f"jackd did not start: {log.read().decode()[-500:]}")
                time.sleep(0.1)
            if rescan:
                soundcard.rescan()  # PortAudio enumerated before jackd ran
            yield SimpleNamespace(sd=sd, proc=proc, log=log, name=name)
        finally:
            if rescan:
                sd._terminate()  # leave the server while it still answers
            stop(proc)
            if rescan:
                sd._initialize()  # the rest of the run sees the machine as it is


def xruns(log) -> int:
    log.seek(0)
    return log.read().count(b"XRun")
