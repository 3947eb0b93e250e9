"""Chunks of any size gathered into whole blocks: several measures are judged per fixed
block (so their result does not depend on how a device cuts its stream)."""

from __future__ import annotations

import numpy as np


class Blocks:
    def __init__(self, size: int):
        self.size = max(int(size), 1)
        self._parts: list[np.ndarray] = []
        self.held = 0  # samples waiting for their block to fill

    def push(self, x: np.ndarray) -> np.ndarray:
        """The samples of every block completed by x (a multiple of `size`, maybe none),
        in order; the rest is held for the next call."""
        self._parts.append(x)
        self.held += x.size
        if self.held < self.size:
            return x[:0]
        data = np.concatenate(self._parts)
        cut = data.size - data.size % self.size
        rest = data[cut:]
        self._parts, self.held = ([rest] if rest.size else []), rest.size
        return data[:cut]
