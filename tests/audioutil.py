"""Helpers for the audio tests: the app's audio path driven by a simulated sound card."""

from __future__ import annotations

import numpy as np

from app.session.audio import AudioPath, VirtualCard
from dsp.filters import FilterChain

FS_OUT = 48000.0


class Rendered:
    """What the card played, and for each sample the input position it stands for."""

    def __init__(self, path: AudioPath, blocks: list, positions: np.ndarray):
        self.path = path
        self.out = np.concatenate(blocks) if blocks else np.zeros(0, np.float32)
        self.pos = positions


def play(x_uv: np.ndarray, fs: float, *, chunk_s: float = 0.004, blocksize: int = 128,
         path: AudioPath | None = None, between=None, filtered: bool = True,
         **settings) -> Rendered:
    """Feed `x_uv` (1-D) through a fresh AudioPath in chunks, as the reader thread does,
    with the card clocked by the amplifier's samples. `between(i, path)` runs before chunk
    i (to change settings mid-stream). `filtered=False` skips the display filters."""
    path = path or AudioPath(fs, fs_out=FS_OUT, blocksize=blocksize, **settings)
    x = FilterChain(fs).process(x_uv.astype(np.float32)) if filtered else x_uv
    step = max(int(round(chunk_s * fs)), 1)
    blocks: list[np.ndarray] = []
    written_pos = np.full(int(len(x) / fs * FS_OUT * 1.2) + 200000, np.nan)
    played_pos: list[np.ndarray] = []

    def sink(block, taken, t, first_read):
        blocks.append(block.copy())
        p = np.full(len(block), np.nan)
        p[:taken] = written_pos[first_read:first_read + taken]
        played_pos.append(p)

    card = VirtualCard(path.ring, FS_OUT, blocksize, 0.0, sink)
    for n, i in enumerate(range(0, len(x), step)):
        if between is not None:
            between(n, path)
        end = min(i + step, len(x))
        card.run_until(end / fs)
        w0 = path.ring.written
        pos = path.push(x[i:end], i)
        written_pos[w0:w0 + len(pos)] = pos
    card.run_until(len(x) / fs)
    return Rendered(path, blocks, np.concatenate(played_pos) if played_pos else np.zeros(0))


def sine(hz: float, seconds: float, fs: float, amp_uv: float) -> np.ndarray:
    return amp_uv * np.sin(2 * np.pi * hz * np.arange(int(seconds * fs)) / fs)
