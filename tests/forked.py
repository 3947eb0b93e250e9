"""Child processes for the tests that kill one at a moment placed after its start-up: each
forked from one process (the zygote) that has made the child's imports once, then running
the child's code from the top in a process of its own, killed and reaped like any other.
A new Python for each only waited out its start-up (about a second: scipy is imported
through devices); where a kill should fall during start-up, start a new Python instead."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

ZYGOTE = r"""
import json, os, sys

exec(sys.argv[2], {"__name__": "__preload__"})  # the child's imports, made once
child = compile(sys.argv[1], "<child>", "exec")
print("ready", flush=True)
for line in sys.stdin:  # {"fifo", "err", "argv"}: one child
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:
        try:
            os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
            os.dup2(os.open(job["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 2)
            os.dup2(os.open(job["fifo"], os.O_WRONLY), 1)  # the test reads its lines there
            sys.argv = ["-c", *job["argv"]]
            exec(child, {"__name__": "__main__"})
            sys.stdout.flush()
            os._exit(0)
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            os._exit(1)
    print(pid, flush=True)
    print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
"""


class Forked:
    """`start(*argv)` gives a child's pid and its stdout (binary); `reap(pid)` its exit
    code (negative: the signal that killed it) and its stderr. One child at a time."""

    def __init__(self, folder: Path, code: str, preload: str, env: dict | None = None):
        self.folder, self.alive, self.n = folder, set(), 0
        folder.mkdir(parents=True, exist_ok=True)
        env = env or {**os.environ, "PYTHONPATH": str(ROOT)}
        self.zygote = subprocess.Popen([sys.executable, "-c", ZYGOTE, code, preload],
                                       cwd=ROOT, env=env, stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True)
        assert self.zygote.stdout.readline() == "ready\n", "the zygote did not start"

    def start(self, *argv: str):
        self.n += 1
        fifo, err = self.folder / f"out{self.n}", self.folder / f"err{self.n}"
        os.mkfifo(fifo)
        job = {"fifo": str(fifo), "err": str(err), "argv": [str(a) for a in argv]}
        self.zygote.stdin.write(json.dumps(job) + "\n")
        self.zygote.stdin.flush()
        pid = int(self.zygote.stdout.readline())
        self.alive.add(pid)
        return pid, open(fifo, "rb")  # (returns once the child has opened its end)

    def kill(self, pid: int) -> None:
        with contextlib.suppress(ProcessLookupError):  # (one that died: reap says how)
            os.kill(pid, signal.SIGKILL)

    def reap(self, pid: int) -> tuple[int, bytes]:
        code = int(self.zygote.stdout.readline())
        self.alive.discard(pid)
        return code, (self.folder / f"err{self.n}").read_bytes()

    def close(self) -> None:
        """Ends a child left running (a failed check) and the zygote."""
        for pid in self.alive:
            self.kill(pid)
        self.zygote.stdin.close()
        self.zygote.wait(30)

    def __enter__(self) -> Forked:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()
