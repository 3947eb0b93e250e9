"""Where Needlepoint keeps its local files: NEEDLEPOINT_HOME, else
~/.local/share/needlepoint (`make run` sets var/ in the checkout); and the one way it writes
a file: atomically, so that a full disk, a crash or a kill never leaves half a file under
the final name, nor loses the file that was there."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO


def home() -> Path:
    return Path(os.environ.get("NEEDLEPOINT_HOME", Path.home() / ".local/share/needlepoint"))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, mode: int = 0o600) -> Iterator[Path]:
    """A temporary file beside `path` for a writer that wants a file name (SQLite's backup,
    edfio or fpdf2 given a name): it exists, empty, with permissions `mode` before the body
    writes to it, so nothing is ever readable by more people than `mode` allows (SQLite
    gives its journal the database's mode too). When the body ends it is flushed to disk
    and renamed over `path`; if the body raises, it is removed and `path` is left as it was.

    `mode` is the permissions of the new file as os.open takes them (the umask can only
    take bits away). Each caller picks it: patient data (exports, backups) is 0o600.
    """
    path = Path(path)
    # Same folder: a rename within one file system is atomic. Hidden, and named after
    # the target, so a leftover from a power cut says what it was.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode))
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)  # the data is on disk before the name points at it
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    sync_folder(path.parent)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: int = 0o600, *, binary: bool = False,
                 newline: str | None = None, encoding: str = "utf-8") -> Iterator[IO]:
    """A file object to write `path` through (text in `encoding`, or bytes with `binary`),
    written into a temporary beside it and renamed over it once complete: see atomic_path,
    which this is, for `mode` and what happens on failure."""
    with atomic_path(path, mode) as tmp:
        if binary:
            with open(tmp, "wb") as f:
                yield f
        else:
            with open(tmp, "w", encoding=encoding, newline=newline) as f:
                yield f


def sync_folder(folder: Path) -> None:
    """Make the rename itself durable. Some file systems cannot sync a folder; the file is
    complete under its name either way, so that is no failure."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
