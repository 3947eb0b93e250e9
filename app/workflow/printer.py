"""Printing the procedure note: the PDF, already written owner-only (app.logbook.outdir),
sent to the system's printer through CUPS's `lp`, with one line for the screen.

"A printer" here is the destination `lp` itself would print to: CUPS's default (`lpstat
-d`: the clinic's lpoptions, LPDEST or PRINTER, or the server's default); with no default
and exactly one queue (`lpstat -p`), that queue by name. With several and no default we do
not guess which room it prints in: the screen says so and where the file is. No `lp`, or
no queue at all: "No printer set up on this tablet: the note is at PATH". A failing `lp`
gives its first line of error. Each command runs with a timeout of a few seconds, and
`send_later` runs the whole of it off the UI thread; nothing here raises."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

TIMEOUT_S = 5.0
SENDING = "Sending the note to the printer..."


class _Failed(Exception):
    """A command that could not run, did not answer or failed: its one line."""


def send(path: str | os.PathLike, timeout: float = TIMEOUT_S) -> str:
    """Print the file at `path`; one line saying what happened (never raises)."""
    path = Path(path)
    where = f"the note is at {path}"
    if shutil.which("lp") is None:
        return f"No printer set up on this tablet: {where}"
    try:
        dest, queues = destination(timeout)
        if dest is None and queues == []:
            return f"No printer set up on this tablet: {where}"
        if dest is None and queues:
            return (f"No default printer chosen on this tablet ({len(queues)} printers: "
                    f"{', '.join(queues)}): {where}")
        out = _run(["lp", *(["-d", dest] if dest else []), "--", str(path)], timeout)
    except _Failed as e:
        return f"Not printed ({e}): {where}"
    job = re.search(r"request id is (\S+)", out)
    printer = dest or (job.group(1).rsplit("-", 1)[0] if job else "")
    return (f"Sent to printer {printer or '(default)'} "
            f"(job id {job.group(1) if job else 'not given'})")


def send_later(path: str | os.PathLike, done: Callable[[str], None],
               timeout: float = TIMEOUT_S) -> threading.Thread:
    """`send` on a thread of its own; `done(line)` is called from that thread (a screen
    hands it to its main thread, e.g. through Kivy's Clock)."""
    t = threading.Thread(target=lambda: done(send(path, timeout)), name="print",
                         daemon=True)
    t.start()
    return t


def destination(timeout: float = TIMEOUT_S) -> tuple[str | None, list[str] | None]:
    """(the destination to name to lp or None, the queues CUPS lists). The queues are None
    when `lpstat` is not there: then lp is tried with its own default."""
    if shutil.which("lpstat") is None:
        return None, None
    try:
        default = re.search(r"system default destination: (\S+)", _run(["lpstat", "-d"],
                                                                         timeout))
    except _Failed:
        default = None  # "no system default destination" exits 0; a stopped server not
    if default:
        return default.group(1), [default.group(1)]
    try:
        queues = re.findall(r"^printer (\S+)", _run(["lpstat", "-p"], timeout), re.M)
    except _Failed:
        queues = []  # no scheduler, no queue: nothing to print to
    return (queues[0] if len(queues) == 1 else None), queues


def _run(cmd: list[str], timeout: float) -> str:
    """stdout of `cmd` run in the C locale (its words are parsed), or _Failed with its
    first line of error. On a timeout its whole process group is killed, so nothing it
    started keeps the pipes (and this thread) open."""
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    try:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env,
                             start_new_session=True)
    except OSError as e:
        raise _Failed(f"{cmd[0]}: {e.strerror or e}") from None
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        raise _Failed(f"{cmd[0]} did not answer in {timeout:g} s; the job may still "
                      "print") from None
    if p.returncode != 0:
        first = next((line.strip() for line in (err or out).splitlines() if line.strip()),
                     f"exit status {p.returncode}")
        raise _Failed(first)
    return out
