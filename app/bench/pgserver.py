"""A throwaway PostgreSQL: a real server, no mock, for the tests (tests/pgserver.py,
the session fixture pg_server) and `needlepoint bench sync`, which runs without tests/.

`initdb` into a temporary folder, `postgres` listening on a Unix socket in that folder only
(no TCP: listen_addresses ''), stopped and the folder removed at the end. Debian's
binaries are found on PATH or in /usr/lib/postgresql/<version>/bin. PostgreSQL refuses to
run as root, so as root every server command runs as the `postgres` user (runuser), in a
folder chowned to it. The server is set for speed, not durability (fsync off): nothing in
it outlives the run.

    with PgServer.start() as server:
        psycopg.connect(server.dsn())          # host=<folder> dbname=postgres user=postgres
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

DEBIAN_PACKAGE = "postgresql"
SUPERUSER = "postgres"
# Local connections: the superuser without a password (the tests' admin); every other role
# by its SCRAM password, as a clinic server would ask a tablet.
HBA = f"local all {SUPERUSER} trust\nlocal all all scram-sha-256\n"


class Unavailable(Exception):
    """No PostgreSQL to start here: the reason, for pytest.skip."""


def bindir() -> Path:
    """The folder holding initdb, pg_ctl and postgres of one installed version."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                      key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if versions:
        return Path(versions[-1]).parent
    raise Unavailable(f"PostgreSQL is not installed (Debian package {DEBIAN_PACKAGE}: "
                      f"`make test` installs it)")


OPTIONS = "-k {folder} -c listen_addresses='' -c fsync=off -c full_page_writes=off " \
    "-c synchronous_commit=off"



class PgServer:
    def __init__(self, folder: Path, bin: Path, as_user: str | None):
        self.folder, self.bin, self.as_user = folder, bin, as_user
        self.data = folder / "data"
        self.running = False

    @classmethod
    def start(cls) -> PgServer:
        bin = bindir()
        as_user = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam(SUPERUSER)
            except KeyError:
                raise Unavailable("running as root and there is no `postgres` user to run "
                                  f"PostgreSQL as (Debian package {DEBIAN_PACKAGE} makes it)"
                                  ) from None
            as_user = SUPERUSER
        # short: a Unix socket's path is limited to 107 bytes
        folder = Path(tempfile.mkdtemp(prefix="np-pg-", dir="/tmp"))
        server = cls(folder, bin, as_user)
        try:
            if as_user:
                shutil.chown(folder, as_user, as_user)
            server._run("initdb", "-D", str(server.data), "-U", SUPERUSER, "-E", "UTF8",
                        "--locale=C", "--no-sync", "--auth=trust")
            (server.data / "pg_hba.conf").write_text(HBA)
            server._pg_start()
            # also when pytest ends without its finalizers (an error in another fixture);
            # a second stop does nothing
            atexit.register(server.stop)
        except BaseException:
            server.stop()
            raise
        return server

    def _pg_start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "log"), "-w",
                  "-o", OPTIONS.format(folder=self.folder), "start")
        self.running = True

    def kill(self) -> None:
        """SIGKILL to the postmaster, as a power cut or the OOM killer would: connections
        break mid-statement. Its backends end once they see it gone."""
        pid = int((self.data / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)
        self.running = False

    def restart(self, wait_s: float = 30.0) -> None:
        """Start again on the same data after kill() (crash recovery runs). The killed
        server's backends may hold its shared memory a moment: tried until they are gone."""
        deadline = time.monotonic() + wait_s
        while True:
            try:
                self._pg_start()
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def dsn(self, dbname: str = "postgres", user: str = SUPERUSER) -> str:
        return f"host={self.folder} dbname={dbname} user={user}"

    def stop(self) -> None:
        """Stop the server (immediately: nothing in it is kept) and remove its folder."""
        try:
            if self.running:
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
            elif (self.data / "postmaster.pid").exists():  # a start cut short, or killed
                with contextlib.suppress(RuntimeError):
                    self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w",
                              "stop")
            self.running = False
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def log(self) -> str:
        try:
            return (self.folder / "log").read_text(errors="replace")
        except OSError:
            return ""

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(self.bin / tool), *args]
        if self.as_user:
            cmd = ["runuser", "-u", self.as_user, "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=self.folder)
        if done.returncode:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr.strip()}\n"
                               f"{self.log()}")

    def __enter__(self) -> PgServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
