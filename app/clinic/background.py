"""The clinic sync inside the running app (issue 32): a round of push and pull soon after
start (FIRST_S), every SYNC_EVERY_S, and soon after a procedure is signed (`kick`), each
round in a child process of its own: `python -m app.clinic.background LOGBOOK` prints one
JSON line.

Why a child, not a thread: the app's sound path (the device reader and the PortAudio
callback) shares the GIL with every Python thread of the app (docs/audio.md). A push or a
pull is Python work by the thousand rows (JSON, hashes, psycopg's adaptation), and a thread
doing it would take the GIL from the sound in the slices it holds it. The child has its
own interpreter, runs niced (os.nice), and the app's thread only blocks in the kernel on
the child's pipe (no GIL held) and reads its one line. Measured once each (docs/clinic.md): a
round pulling 1000 injections in a thread of the process woke a 2 ms sleep loop up to 29
ms late; the same round in a child, up to 5 ms. Start-up is paid once a round (the
child imports psycopg and the logbook, not Kivy, dsp or devices' drivers).

The child writes what it pulls into the same SQLite logbook the app writes on its main
thread; SQLite serialises the two (WAL: readers never wait; a writer waits its turn up to
the busy timeout), so the pull commits in small transactions (A's app.clinic.pull) and the
app's own commit waits at most one of them. `needlepoint bench sync` measures that wait as
the local commit p99 while a sync runs.

Never more than one child; when the server cannot be reached, the next round comes later
and later (BACKOFF_S, doubling up to BACKOFF_MAX_S) until one gets through, or a kick.
`stop()` (app exit) kills a running child and reaps it: no zombie, and a pull cut off is a
transaction SQLite rolls back. The UI reads `state` (a frozen SyncState, replaced whole) on
a timer of its own: nothing is pushed to the screen from the thread. Every message is one
line, from the clinic package's errors, which never hold a patient's data.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from app.clinic import credentials
from app.logbook import ids, localtime

SYNC_EVERY_S = 60.0
FIRST_S = 5.0  # the first round waits out the app's start (its screens, its first frames)
BACKOFF_S = 15.0  # the first retry after the server was not reachable, then doubled
BACKOFF_MAX_S = 600.0
ROUND_LIMIT_S = 900.0  # a child still running after this is killed (a hung network)
EMG_PER_ROUND = 50  # other tablets' snippets' EMG fetched a round (about 280 KB each)
MORE_S = 5.0  # the next round, when this one left EMG or entries to pull
NICE = 10
ROOT = Path(__file__).resolve().parents[2]  # the checkout or site-packages holding app/


@dataclass(frozen=True)
class SyncState:
    """What the screen shows of the clinic sync; replaced whole after each round."""

    joined: bool = False
    synced_at: str | None = None  # UTC stamp of the last round that got through
    waiting: int | None = None  # audit entries not on the server, as of the last round
    down_since: str | None = None  # UTC stamp of the first round in a row not reaching it
    error: str | None = None  # the last round's failure, one line
    failures: int = 0  # rounds in a row that failed
    rounds: int = 0
    running: bool = False

    def line(self) -> str:
        """'Clinic: synced 09:12 (UTC+01:00) · 0 waiting'; '' when not joined."""
        if not self.joined:
            return ""
        waiting = f"{self.waiting} waiting" if self.waiting is not None else "counting"
        if self.down_since:
            return (f"Clinic: {waiting} · server not reachable since "
                    f"{localtime.time_of_day(self.down_since)}")
        if self.error:
            return f"Clinic: {waiting} · sync failed: {self.error}"
        if self.synced_at:
            return f"Clinic: synced {localtime.time_of_day(self.synced_at)} · {waiting}"
        return "Clinic: syncing..." if self.running else "Clinic: not synced yet"


def joined() -> bool:
    """This tablet has joined a clinic (clinic.json in NEEDLEPOINT_HOME)."""
    return credentials.path().is_file()


class Syncer:
    """Runs a sync round in a child process now and then; `state` says how it went."""

    def __init__(self, db: str | os.PathLike, every_s: float = SYNC_EVERY_S,
                 home: str | os.PathLike | None = None, first_s: float = FIRST_S):
        self.db = Path(db)
        self.every_s = every_s
        self.first_s = first_s
        self.home = home  # the tablet's NEEDLEPOINT_HOME, when not this process's (a bench)
        self.state = SyncState(joined=True)
        self.report: dict | None = None  # the last round's JSON, as the child wrote it
        self.done = threading.Event()  # set after each round (tests wait on it)
        self._wake = threading.Event()
        self._round = threading.Lock()  # one child at a time
        self._guard = threading.Lock()  # _proc and _stopping, between the thread and stop()
        self._proc: subprocess.Popen | None = None
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """The background thread: a round now, then every `every_s` (or later, backing off)."""
        self._thread = threading.Thread(target=self._loop, name="clinic-sync", daemon=True)
        self._thread.start()

    @property
    def child_pid(self) -> int | None:
        """The running round's process id, or None between rounds."""
        proc = self._proc
        return proc.pid if proc is not None else None

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def kick(self) -> None:
        """A round soon (a procedure was signed), whatever the backoff."""
        self._wake.set()

    def next_delay(self) -> float:
        failures = self.state.failures
        if failures:
            return min(BACKOFF_MAX_S, BACKOFF_S * 2 ** (failures - 1))
        pulled = (self.report or {}).get("pulled") or {}
        if pulled.get("emg_samples", 0) >= EMG_PER_ROUND or pulled.get("waiting"):
            return min(self.every_s, MORE_S)  # more is there: a tablet back from a day off
        return self.every_s

    def _loop(self) -> None:
        delay = self.first_s
        while True:
            if self._wake.wait(delay):
                self._wake.clear()
            if self._stopping:
                return
            self.run_once()
            delay = self.next_delay()

    def run_once(self) -> SyncState:
        """One round, in a child process; waits for it. Returns the new state."""
        with self._round:
            with self._guard:
                if self._stopping:
                    return self.state
                self.state = replace(self.state, running=True)
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", "app.clinic.background", str(self.db)],
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                    env=child_env(self.home), cwd=str(ROOT), text=True)
                proc = self._proc
            try:
                out, err = proc.communicate(timeout=ROUND_LIMIT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
                report = failed("the sync took longer than "
                                f"{ROUND_LIMIT_S:g} s and was stopped")
            else:
                report = parse(proc.returncode, out, err)
            with self._guard:
                self._proc = None
            if self._stopping and proc.returncode and proc.returncode < 0:
                report = failed("stopped with the app")
            self.report = report
            self.state = after(self.state, report)
            self.done.set()
            return self.state

    def stop(self, timeout: float = 10.0) -> None:
        """At app exit: no new round; a running child killed and reaped."""
        with self._guard:
            self._stopping = True
            proc = self._proc
        self._wake.set()
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        if self._thread is not None:
            self._thread.join(timeout)
        if proc is not None:
            proc.wait(timeout)


def child_env(home: str | os.PathLike | None = None) -> dict:
    """The app's environment, with app/ importable from the child wherever it starts."""
    env = dict(os.environ)
    if home is not None:
        env["NEEDLEPOINT_HOME"] = str(home)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


def failed(why: str, reachable: bool = True) -> dict:
    return {"ok": False, "reachable": reachable, "error": why, "waiting": None}


def parse(code: int, out: str, err: str) -> dict:
    """The child's one JSON line; a child that died without one is one line too (its
    exception's class only: a traceback's text may hold a value from the logbook)."""
    for line in reversed(out.splitlines()):
        with contextlib.suppress(ValueError):
            report = json.loads(line)
            if isinstance(report, dict) and "ok" in report:
                return report
    last = err.strip().splitlines()[-1] if err.strip() else ""
    kind = last.split(":", 1)[0] if last and " " not in last.split(":", 1)[0] else ""
    return failed(f"the sync process ended without a result (exit {code}"
                  f"{', ' + kind if kind else ''})")


def after(state: SyncState, report: dict) -> SyncState:
    """The state once a round reported."""
    now = ids.now()
    waiting = report.get("waiting")
    waiting = state.waiting if waiting is None else waiting
    if report.get("ok"):
        return SyncState(joined=True, synced_at=report.get("at") or now, waiting=waiting,
                         rounds=state.rounds + 1)
    unreachable = report.get("reachable") is False
    return replace(state, waiting=waiting, error=report.get("error") or "sync failed",
                   down_since=(state.down_since or now) if unreachable else None,
                   failures=state.failures + 1, rounds=state.rounds + 1, running=False)


# -- the child ------------------------------------------------------------------------------
def one_round(db: Path) -> dict:
    """Push, then pull (once app.clinic.pull is there), as this tablet; what is waiting
    after it. Never raises for what a user can meet: the report says it in one line."""
    from app.clinic import sync
    from app.clinic.errors import ClinicError, Unreachable
    from app.logbook import Logbook, LogbookError

    report: dict = {"ok": True, "at": None, "waiting": None}
    try:
        creds = credentials.read(credentials.path())
        with Logbook(db, readonly=True) as lb:
            report["pushed"] = asdict(sync.push(lb, creds))
        pull = pull_module()
        if pull is not None:
            with Logbook(db) as lb:
                report["pulled"] = asdict(pull.pull(lb, creds))
                report["pulled"]["emg_samples"] = pull.pull_emg(lb, creds,
                                                                limit=EMG_PER_ROUND)
        report["at"] = ids.now()
    except Unreachable as e:
        return {**failed(str(e), reachable=False), "waiting": _waiting(db, None)}
    except (ClinicError, LogbookError) as e:
        report = failed(str(e))
    report["waiting"] = _waiting(db, None if not report["ok"] else creds)
    return report


def pull_module():
    """The pull (app/clinic/pull.py), when this Needlepoint has it."""
    try:
        from app.clinic import pull
    except ImportError:
        return None
    return pull if hasattr(pull, "pull") else None


def _waiting(db: Path, creds: dict | None) -> int | None:
    """Audit entries not on the server: asked of it after a round that reached it, else
    counted from this tablet's last recorded push (clinic status's two ways)."""
    from app.clinic import status
    from app.clinic.errors import ClinicError
    from app.logbook import Logbook, LogbookError

    try:
        creds = creds or credentials.read(credentials.path())
        with Logbook(db, readonly=True) as lb:
            return status.status(lb, creds).entries
    except (ClinicError, LogbookError):
        return None


def main(argv: list[str]) -> int:
    with contextlib.suppress(OSError):
        os.nice(NICE)  # the tablet's sound and screen first
    print(json.dumps(one_round(Path(argv[0]))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
