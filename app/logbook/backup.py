"""`backup` and `restore` through SQLite's online backup API: a consistent copy even while
the app is writing, never a file copy of a database in the middle of a transaction.

A restore first verifies the file it is given (integrity, audit chain, trail against
tables) and refuses one that fails; it keeps the logbook it replaces beside it
(`logbook.db.before-restore-<UTC time>`), so a restore loses nothing either.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from sqlite_utils import Database

from app.logbook import ids
from app.logbook.errors import DiskFull, LogbookError, NotALogbook
from app.logbook.files import SQLITE_HEADER, connect_readonly, read_only
from app.logbook.store import Logbook
from app.logbook.verify import verify_db
from devices.files import atomic_path


def backup(db_path: str | os.PathLike, out: str | os.PathLike) -> dict:
    """Copy the logbook at db_path into a new file `out` (owner-only); verify the copy."""
    out = Path(out)
    if out.exists():
        raise LogbookError(f"{out} already exists: choose a new name for the backup")
    # Read-only: a backup never changes the logbook (an older one is copied as it is;
    # restore brings it forward), and a logbook on read-only media can still be copied.
    with Logbook(db_path, readonly=True, any_schema=True) as lb:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            # Every patient's record: owner-only, as the logbook. Built under a temporary
            # name, so a failed backup leaves no file that looks like one.
            with atomic_path(out, 0o600) as tmp:
                dest = sqlite3.connect(tmp)
                try:
                    lb.db.conn.backup(dest)
                    # A backup is one self-contained file: no -wal beside it to lose.
                    dest.execute("PRAGMA journal_mode = DELETE")
                finally:
                    dest.close()
        except (sqlite3.OperationalError, OSError) as e:
            if "full" in str(e).lower() or getattr(e, "errno", None) == errno.ENOSPC:
                raise DiskFull(f"the disk holding {out} is full: no backup was made") from None
            if isinstance(e, OSError) and e.errno == errno.EROFS:
                raise LogbookError(f"cannot back up to {out}: the medium is read-only; no "
                                   "backup was made") from None
            raise LogbookError(f"backup to {out} failed: {getattr(e, 'strerror', None) or e}"
                               "; no backup was made") from None
    report = check_file(out)
    if not report["ok"]:
        raise LogbookError(f"the backup {out} does not verify: {report['problems'][0]}")
    return {"backup": str(out), "bytes": out.stat().st_size, **report}


def check_file(path: str | os.PathLike) -> dict:
    """verify() on a file opened read-only: nothing in it changes, not even its schema."""
    path = Path(path)
    if not path.is_file():
        raise LogbookError(f"no file at {path}")
    with open(path, "rb") as f:
        if f.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
            return {"ok": False, "problems": [f"{path} is not an SQLite database"]}
    try:
        conn = connect_readonly(path)
    except sqlite3.DatabaseError as e:
        return {"ok": False, "problems": [f"{path} cannot be read: {e}"]}
    try:
        return verify_db(Database(conn))
    except sqlite3.DatabaseError as e:
        return {"ok": False, "problems": [f"{path} cannot be read: {e}"]}
    finally:
        conn.close()


def restore(backup_file: str | os.PathLike, db_path: str | os.PathLike) -> dict:
    """Replace the logbook at db_path with a verified backup, keeping the old one aside."""
    report = check_file(backup_file)
    if not report["ok"]:
        raise NotALogbook(f"refused: {backup_file} fails verify ({report['problems'][0]}); "
                          "nothing was changed")
    db_path = Path(db_path)
    if read_only(db_path):
        raise LogbookError(f"cannot restore into {db_path}: it is on read-only media (or "
                           "not writable); nothing was changed")
    kept = None
    if db_path.exists():
        kept = Path(f"{db_path}.before-restore-{ids.now().replace(':', '')}")
        try:
            backup(db_path, kept)
        except LogbookError:
            # The logbook being replaced cannot be read (the usual reason to restore): move
            # the file and its log aside as they are, and restore into a new file.
            kept.unlink(missing_ok=True)
            for suffix in ("", "-wal", "-shm"):
                if Path(f"{db_path}{suffix}").exists():
                    os.replace(f"{db_path}{suffix}", f"{kept}{suffix}")
            _create_private(db_path)
    else:
        _create_private(db_path)
    src = sqlite3.connect(f"file:{Path(backup_file)}?mode=ro", uri=True)
    dest = sqlite3.connect(db_path)
    try:
        src.backup(dest)
    except sqlite3.OperationalError as e:
        raise LogbookError(f"restore into {db_path} failed: {e}"
                           + (f"; the previous logbook is kept as {kept}" if kept else "")
                           ) from None
    finally:
        dest.close()
        src.close()
    with Logbook(db_path, create=False) as lb:  # brings an older backup up to date
        after = lb.verify()
    return {"restored": str(db_path), "from": str(backup_file),
            "previous_kept_as": str(kept) if kept else None, **after}


def _create_private(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    os.close(fd)
