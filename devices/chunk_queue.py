"""The bounded queue between a device's own reader thread and `Device.read`.

The device's thread never waits on the session's: past `limit_s` of queued signal the oldest
chunks go (counted in `dropped`; the jump in `first_index` shows the hole downstream). An
error the thread meets is handed to the next `get` that finds the queue empty, so the
signal that came before it is still read.
"""

from __future__ import annotations

import collections
import threading

from devices.base import Chunk
from devices.errors import DeviceError


class ChunkQueue:
    def __init__(self, limit_s: float):
        self.limit_s = limit_s
        self.dropped = 0  # chunks dropped because the reader fell behind
        self._chunks: collections.deque[Chunk] = collections.deque()
        self._frames = 0
        self._error: DeviceError | None = None
        self._cond = threading.Condition()

    def put(self, chunk: Chunk, fs: float) -> None:
        """Queue a chunk of a stream at `fs` (a board says its rate only once open)."""
        limit = int(self.limit_s * fs)
        with self._cond:
            self._chunks.append(chunk)
            self._frames += chunk.frames
            while self._frames > limit and len(self._chunks) > 1:
                self._frames -= self._chunks.popleft().frames
                self.dropped += 1
            self._cond.notify()

    def fail(self, error: DeviceError) -> None:
        with self._cond:
            self._error = error
            self._cond.notify()

    def restart(self) -> None:
        """Forget a past error (the device starts again)."""
        with self._cond:
            self._error = None

    def get(self, timeout: float | None) -> Chunk | None:
        """The oldest chunk, waiting up to `timeout`; None if none came; the thread's error
        once every chunk before it was read."""
        with self._cond:
            if not self._chunks:
                self._cond.wait(timeout)
            if not self._chunks:
                if self._error is not None:
                    raise self._error
                return None
            chunk = self._chunks.popleft()
            self._frames -= chunk.frames
            return chunk
