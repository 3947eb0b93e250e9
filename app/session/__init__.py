"""The live session without a screen: a device through the filters and the analyser to the
display ring, the speaker and the marks. `open_session(uri, ...)` builds one.

The names below are loaded on first use: the light modules of this package (presets,
activity words) are imported by every command, and need not bring in the signal chain.
"""

from __future__ import annotations

import importlib

_WHERE = {"open_session": "app.session.open", "LiveSession": "app.session.live",
          "Mark": "app.session.live", "Snapshot": "app.session.live"}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'app.session' has no attribute {name!r}")
