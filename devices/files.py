"""Where Needlepoint keeps its local files: NEEDLEPOINT_HOME, else
~/.local/share/needlepoint (`make run` sets var/ in the checkout)."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    return Path(os.environ.get("NEEDLEPOINT_HOME", Path.home() / ".local/share/needlepoint"))
