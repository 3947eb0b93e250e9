"""A tablet's clinic credentials: `clinic.json` in NEEDLEPOINT_HOME, owner-only (0600,
written atomically: devices.files.atomic_write), holding the tablet's name and the
connection string of its own PostgreSQL role (with its password). Nothing prints it."""

from __future__ import annotations

import json
from pathlib import Path

from app.clinic.errors import ClinicError
from devices.files import atomic_write, home

NAME = "clinic.json"


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
