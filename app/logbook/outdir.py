"""Where an export goes: owner-only files (0600) in a folder only its owner can open
(0700) that the export makes itself, complete or not there at all.

- `--out DIR` that does not exist: the export makes it (and any missing folder above it)
  0700.
- `--out DIR` that exists and only its owner (this user) can open: the files go into it.
- `--out DIR` that others can open (a shared or home folder the user chose): its mode is
  left as it is, and the export makes a folder of its own inside it,
  `needlepoint-export-<UTC time>`, 0700.

Every file is written into a hidden staging folder (0700) first and moved into place only
once all are complete, so a failure (a full disk, a read-only medium, a bad record) leaves
nothing behind: no half file, no `.part`, no empty folder the export made. A file system
that keeps no permissions (FAT, exFAT: a memory stick) cannot be made owner-only; the
files are still written, and `exposure()` says so in words for the command or screen to
show.
"""

from __future__ import annotations

import datetime
import errno
import os
import secrets
import shutil
import stat
from collections.abc import Callable, Iterable
from pathlib import Path

from app.logbook.errors import DiskFull, LogbookError
from devices.files import atomic_write, sync_folder

FOLDER_MODE, FILE_MODE = 0o700, 0o600
Writer = Callable[[Path], None]


def write_all(out: str | os.PathLike, files: Iterable[tuple[str, Writer]]) -> list[Path]:
    """Write each (name, writer) into the export folder for `out`; `writer(path)` writes
    one file at `path` (through devices.files.atomic_write or a library given the name).
    Returns the files' final paths. Raises LogbookError (DiskFull on a full disk) with one
    line and nothing left behind."""
    out, files = Path(out), list(files)
    if not files:
        return []  # nothing to write: no folder made either
    try:
        return _write_all(out, files)
    except OSError as e:
        raise _error(e, out) from None


def write_bytes(data: bytes) -> Writer:
    """A writer for content already made in memory (a PDF): owner-only, atomic."""
    def write(path: Path) -> None:
        with atomic_write(path, FILE_MODE, binary=True) as f:
            f.write(data)
    return write


def write_text(text: str, newline: str | None = None) -> Writer:
    def write(path: Path) -> None:
        with atomic_write(path, FILE_MODE, newline=newline) as f:
            f.write(text)
    return write


def exposure(files: list[Path]) -> str:
    """'' when every file is owner-only in an owner-only folder; otherwise one line saying
    that this file system keeps no such permissions (a FAT memory stick) and what follows."""
    if not files:
        return ""
    folder = files[0].parent
    loose = [f for f in [folder, *files] if stat.S_IMODE(f.stat().st_mode) & 0o077]
    if not loose:
        return ""
    modes = sorted({oct(stat.S_IMODE(f.stat().st_mode))[2:] for f in loose})
    return (f"note: the file system at {folder} keeps no owner-only permissions (it shows "
            f"mode {', '.join(modes)}: a FAT or exFAT medium?): anyone who can read this medium "
            "can read these patient records")


def _write_all(out: Path, files: list[tuple[str, Writer]]) -> list[Path]:
    if out.exists() and not out.is_dir():
        raise LogbookError(f"cannot export to {out}: it is a file, not a folder")
    final = out
    if out.is_dir() and not _owner_only(out):
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
        final = out / f"needlepoint-export-{stamp}"
        n = 1
        while final.exists():
            n += 1
            final = out / f"needlepoint-export-{stamp}-{n}"
    made = [] if final.exists() else _make_parents(final.parent)
    into_existing = final.is_dir()
    staging = (final / f".needlepoint-export.{secrets.token_hex(4)}.part" if into_existing
               else final.parent / f".{final.name}.{secrets.token_hex(4)}.part")
    try:
        os.mkdir(staging, FOLDER_MODE)
        os.chmod(staging, FOLDER_MODE)  # the umask cannot loosen it; this undoes a tighter one
        names = []
        for name, writer in files:
            writer(staging / name)
            names.append(name)
        if into_existing:
            for name in names:
                os.replace(staging / name, final / name)
            os.rmdir(staging)
        else:
            os.rename(staging, final)
        sync_folder(final)
        sync_folder(final.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for folder in reversed(made):
            try:
                folder.rmdir()
            except OSError:
                break
        raise
    return [final / name for name in names]


def _owner_only(folder: Path) -> bool:
    st = folder.stat()
    return st.st_uid == os.getuid() and not stat.S_IMODE(st.st_mode) & 0o077


def _make_parents(folder: Path) -> list[Path]:
    """Make the missing folders above the export's own, 0700; return those made, outermost
    first, so a failure can take them away again."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    made = []
    try:
        for f in reversed(missing):
            os.mkdir(f, FOLDER_MODE)
            made.append(f)
    except BaseException:
        for f in reversed(made):
            f.rmdir()
        raise
    return made


def _error(e: OSError, out: Path) -> LogbookError:
    # A short write (Python's "N requested and M written") is the disk filling mid-file.
    short = e.errno is None and "written" in str(e)
    if short or e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return DiskFull(f"the disk is full at {out}: nothing was exported; free some space "
                        "and try again")
    if e.errno == errno.EROFS:
        return LogbookError(f"cannot export to {out}: the medium is read-only; nothing was "
                            "exported")
    if e.errno in (errno.EACCES, errno.EPERM):
        return LogbookError(f"cannot export to {out}: not allowed to write there; nothing "
                            "was exported")
    if e.errno == errno.ENOTDIR:
        return LogbookError(f"cannot export to {out}: part of that path is a file, not a "
                            "folder")
    return LogbookError(f"cannot export to {out}: {e.strerror or e}; nothing was exported")
