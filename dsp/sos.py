"""Second-order-section IIR filtering with state carried across chunks, at low cost per call.

`scipy.signal.sosfilt` spends most of a 5 ms chunk's time checking and reshaping its
arguments; the live chain calls it a thousand times a second. This calls SciPy's compiled
kernel directly with arrays already in its layout, and falls back to the public function
if that private entry point ever moves. Results are identical either way (same kernel).
"""

from __future__ import annotations

import numpy as np
from scipy import signal

try:  # SciPy's own compiled loop, as sosfilt calls it (private: hence the fallback)
    from scipy.signal._sosfilt import _sosfilt as _kernel
except ImportError:  # pragma: no cover - depends on the SciPy version
    _kernel = None


class Sos:
    """A cascade of sections filtering `channels` streams; `zi` is (channels, sections, 2)."""

    def __init__(self, sos: np.ndarray, channels: int = 1):
        self.sos = np.ascontiguousarray(sos, dtype=np.float64)
        self.zi = np.zeros((channels, self.sos.shape[0], 2))

    def prime(self, first: np.ndarray) -> None:
        """Start as if each channel had always been at `first` (no step at a DC offset)."""
        steady = signal.sosfilt_zi(self.sos)
        self.zi = np.ascontiguousarray(steady[None, :, :] * np.asarray(first, float)[:, None,
                                                                                      None])

    def process(self, x: np.ndarray) -> np.ndarray:
        """x: (n,) for one channel or (n, channels); the same shape, float64, comes back."""
        one = x.ndim == 1
        data = np.array(x[None, :] if one else x.T, dtype=np.float64, order="C")
        if data.shape[1]:
            if _kernel is not None:
                _kernel(self.sos, data, self.zi)  # filters data and updates zi in place
            else:
                data, zi = signal.sosfilt(self.sos, data, axis=-1,
                                          zi=self.zi.transpose(1, 0, 2))
                self.zi = np.ascontiguousarray(zi.transpose(1, 0, 2))
        return data[0] if one else data.T
