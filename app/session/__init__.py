"""The live session without a screen: a device through the filters and the analyser to the
display ring, the speaker and the marks. `open_session(uri, ...)` builds one."""

from app.session.live import LiveSession, Mark, Snapshot
from app.session.open import open_session

__all__ = ["LiveSession", "Mark", "Snapshot", "open_session"]
