"""A tablet's clinic credentials: `clinic.json` in NEEDLEPOINT_HOME, owner-only (0600,
written atomically: devices.files.atomic_write), holding the tablet's name and the
connection string of its own PostgreSQL role (with its password). Nothing prints it."""

from __future__ import annotations

import json
from pathlib import Path

from app.clinic.errors import ClinicError
from app.logbook import ids
from devices.files import atomic_write, home

NAME = "clinic.json"
PUSHED = "clinic-pushed.json"  # the last push: the server's last entry for this tablet


def path() -> Path:
    return home() / NAME


def write(target: Path, tablet: str, dsn: str, database: str) -> Path:
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with atomic_write(target, 0o600) as f:
        json.dump({"tablet": tablet, "dsn": dsn, "database": database}, f, indent=2)
        f.write("\n")
    return target


def read(target: Path) -> dict:
    try:
        data = json.loads(target.read_text())
        if not (isinstance(data.get("tablet"), str) and isinstance(data.get("dsn"), str)):
            raise ValueError
    except FileNotFoundError:
        raise ClinicError(f"this tablet has not joined a clinic server ({target} is missing: "
                          "needlepoint clinic join)") from None
    except (OSError, ValueError):
        raise ClinicError(f"{target}: not a clinic credentials file") from None
    return data


def record_push(tablet: str, seq: int) -> None:
    """After a push: the server holds this tablet's entries up to `seq`."""
    with atomic_write(home() / PUSHED, 0o600) as f:
        json.dump({"tablet": tablet, "seq": seq, "at": ids.now()}, f)
        f.write("\n")


def last_push(tablet: str) -> dict | None:
    try:
        data = json.loads((home() / PUSHED).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("tablet") == tablet else None
