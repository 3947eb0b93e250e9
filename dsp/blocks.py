"""Chunks of any size gathered into whole blocks: several measures are judged per fixed
block (so their result does not depend on how a device cuts its stream). A gatherer must
see the stream from its first sample, so `first` is an index in that stream."""

from __future__ import annotations

import numpy as np


class Blocks:
    def __init__(self, size: int):
        self.size = max(int(size), 1)
        self._parts: list[np.ndarray] = []
        self.held = 0  # samples waiting for their block to fill
        self.first = 0  # stream index of the first sample of what push() last returned
        self._returned = 0  # samples returned so far

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
        self.first, self._returned = self._returned, self._returned + cut
        return data[:cut]
