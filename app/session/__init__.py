"""The live session without a screen: a device through the filters and the analyser to the
display ring, the speaker and the marks. `open_session(uri, ...)` builds one.

The session's modules (the filters, the analyser, scipy with them) are imported the first
time one of these names is asked for: a command that only reads the words of
`app.session.activity` or `presets` does not pay for them."""

_NAMES = {"LiveSession": "app.session.live", "Mark": "app.session.live",
          "Snapshot": "app.session.live", "open_session": "app.session.open"}

__all__ = ["LiveSession", "Mark", "Snapshot", "open_session"]


def __getattr__(name: str):
    if name in _NAMES:
        import importlib

        value = getattr(importlib.import_module(_NAMES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'app.session' has no attribute {name!r}")
