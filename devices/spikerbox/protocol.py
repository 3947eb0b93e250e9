"""The Backyard Brains serial protocol (reference/spikerbox-protocol.md): an incremental
decoder for the byte stream, and encoders for the emulator and tests.

A frame is one sample per channel, two bytes each, high part first; only a frame's first
byte has its top bit set. Message blocks (`FF FF 01 01 80 FF` text `FF FF 01 01 81 FF`)
may come between any two frames. The decoder commits a frame the moment its last byte is
there, never emits part of a frame, and decodes the same whatever the stream's cut into.
Upside Down Labs' Chords packets are recognised too, only so that such a board is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

BLOCK_START = b"\xff\xff\x01\x01\x80\xff"
BLOCK_END = b"\xff\xff\x01\x01\x81\xff"
BLOCK_CAP = 512  # a whole block, markers included, is at most this long
MAX_COUNT = (1 << 14) - 1
MAX_CHANNELS = 32

# Sample value of every big-endian byte pair: both top bits masked off, 7 bits from each.
_PAIR = np.arange(1 << 16)
_VALUE_OF_PAIR = (((_PAIR >> 8) & 0x7F) << 7 | (_PAIR & 0x7F)).astype(np.int16)
del _PAIR
# bytes.translate table: 1 where a byte starts a frame, 0 elsewhere
_TOP_BIT = bytes(1 if b & 0x80 else 0 for b in range(256))
# what the tail of a feed may hold of a marker, longest first
_MARKER_PREFIXES = tuple(sorted({m[:k] for m in (BLOCK_START, BLOCK_END) for k in range(1, 6)},
                                key=len, reverse=True))


def zero_for(bits: int) -> int:
    """The count a board sends for 0 V: half its range (512 at 10 bits, 8192 at 14)."""
    if not 1 <= bits <= 14:
        raise ValueError(f"the protocol carries 1 to 14 bits per sample, not {bits}")
    return 1 << (bits - 1)


@dataclass
class Decoded:
    """What one `feed` produced: raw counts, shape (frames, channels), and the
    (type, value) pairs of every message block completed."""

    frames: np.ndarray
    messages: list[tuple[str, str]] = field(default_factory=list)


class Decoder:
    """Turns the byte stream into frames and messages, keeping what is unfinished (part of
    a frame, of a block or of a block marker) for the next call.

    Counters: `frames_total` frames emitted; `discarded_frames` frames begun and abandoned;
    `discarded_bytes` bytes in neither a frame nor a block; `blocks` message blocks read;
    `bad_blocks` block starts with no end within BLOCK_CAP bytes; `block_bytes` bytes in
    blocks; `bytes_total` bytes fed.
    """

    def __init__(self, channels: int):
        self.frames_total = 0
        self.discarded_frames = 0
        self.discarded_bytes = 0
        self.blocks = 0
        self.bad_blocks = 0
        self.block_bytes = 0
        self.bytes_total = 0
        self._pending = b""
        self._clean = b""  # top-bit pattern of a clean stream, as long as the longest feed
        self.set_channels(channels)

    @property
    def channels(self) -> int:
        return self._channels

    @property
    def pending(self) -> int:
        """Bytes held back, waiting for the rest of their frame or block."""
        return len(self._pending)

    def set_channels(self, channels: int) -> None:
        """Change the frame width (after identification or a `c:` command). Bytes held
        back are read again at the new width."""
        if not 1 <= channels <= MAX_CHANNELS:
            raise ValueError(f"channels must be 1 to {MAX_CHANNELS}, not {channels}")
        self._channels = channels
        self._width = 2 * channels
        self._clean = b""

    def reset(self) -> None:
        """Forget held-back bytes (a reopened port starts a new stream); counters stay."""
        self._pending = b""

    def feed(self, data: bytes) -> Decoded:
        self.bytes_total += len(data)
        buf = self._pending + data if self._pending else bytes(data)
        frames = self._clean_frames(buf)
        if frames is not None:
            return Decoded(frames)
        return self._parse(buf)

    # the common case: nothing but whole frames, perhaps the start of one more ----------
    def _clean_frames(self, buf: bytes) -> np.ndarray | None:
        n = len(buf)
        if len(self._clean) < n:
            self._clean = (b"\x01" + b"\x00" * (self._width - 1)) * (n // self._width + 1)
        if buf.translate(_TOP_BIT) != self._clean[:n]:
            return None
        whole = n // self._width
        counts = np.frombuffer(buf, ">u2", count=whole * self._channels)
        self._pending = buf[whole * self._width:]
        self.frames_total += whole
        return _VALUE_OF_PAIR[counts].reshape(whole, self._channels)

    # everything else: blocks, garbage, lost bytes ---------------------------------------
    def _parse(self, buf: bytes) -> Decoded:
        parts: list[np.ndarray] = []
        messages: list[tuple[str, str]] = []
        pos, n = 0, len(buf)
        while True:
            mark, is_start = _next_marker(buf, pos)
            if mark < 0:
                hold = _held_marker_prefix(buf, pos)
                keep = self._scan(buf, pos, n - hold, parts, closed=hold > 0)
                self._pending = buf[keep:]
                break
            self._scan(buf, pos, mark, parts, closed=True)  # a block cuts any frame short
            if not is_start:  # an end with no start: garbage
                self.discarded_bytes += len(BLOCK_END)
                pos = mark + len(BLOCK_END)
                continue
            end = buf.find(BLOCK_END, mark + len(BLOCK_START), mark + BLOCK_CAP)
            if end >= 0:
                messages.extend(parse_messages(buf[mark + len(BLOCK_START):end]))
                self.blocks += 1
                self.block_bytes += end + len(BLOCK_END) - mark
                pos = end + len(BLOCK_END)
            elif n - mark >= BLOCK_CAP:  # never closed: drop the marker, read on after it
                self.bad_blocks += 1
                self.discarded_bytes += len(BLOCK_START)
                pos = mark + len(BLOCK_START)
            else:
                self._pending = buf[mark:]
                break
        frames = np.concatenate(parts) if parts else self._no_frames()
        return Decoded(frames, messages)

    def _scan(self, buf: bytes, lo: int, hi: int, parts: list, *, closed: bool) -> int:
        """Frames of buf[lo:hi] appended to `parts`. `closed`: what follows hi cannot
        continue a frame. Returns where the unfinished frame starts (hi if none)."""
        if hi <= lo:
            return hi
        region = np.frombuffer(buf, np.uint8, count=hi - lo, offset=lo)
        starts = np.flatnonzero(region >= 0x80)
        if starts.size == 0:
            self.discarded_bytes += hi - lo
            return hi
        gaps = np.diff(starts, append=hi - lo)
        keep = hi
        if not closed and gaps[-1] < self._width:
            keep = lo + int(starts[-1])
            starts, gaps = starts[:-1], gaps[:-1]
        whole = gaps >= self._width
        cut = int(whole.size - np.count_nonzero(whole))
        used = int(np.count_nonzero(whole)) * self._width
        self.discarded_frames += cut
        self.discarded_bytes += (keep - lo) - used
        if used:
            rows = starts[whole][:, None] + np.arange(self._width)
            pairs = np.ascontiguousarray(region[rows]).view(">u2")
            parts.append(_VALUE_OF_PAIR[pairs])
            self.frames_total += pairs.shape[0]
        return keep

    def _no_frames(self) -> np.ndarray:
        return np.zeros((0, self._channels), np.int16)


def _next_marker(buf: bytes, pos: int) -> tuple[int, bool]:
    """Position of the next block start or end at or after pos (-1 if none), and whether
    it is a start."""
    start = buf.find(BLOCK_START, pos)
    end = buf.find(BLOCK_END, pos, start + len(BLOCK_END) - 1 if start >= 0 else len(buf))
    if end >= 0:
        return end, False
    return start, start >= 0


def _held_marker_prefix(buf: bytes, pos: int) -> int:
    """Length of the tail of buf[pos:] that may be the beginning of a marker."""
    for prefix in _MARKER_PREFIXES:
        if len(buf) - pos >= len(prefix) and buf.endswith(prefix):
            return len(prefix)
    return 0


def parse_messages(content: bytes) -> list[tuple[str, str]]:
    """`TYPE:VALUE;TYPE:VALUE;` as (type, value) pairs; a part without ':' has value ''."""
    out = []
    for part in content.decode("ascii", "replace").split(";"):
        part = part.strip()
        if part:
            kind, _, value = part.partition(":")
            out.append((kind.strip(), value.strip()))
    return out


def encode_frames(counts: np.ndarray) -> bytes:
    """Counts (frames, channels), or one channel as a 1-D array, as the board sends them."""
    counts = np.asarray(counts)
    if counts.ndim == 1:
        counts = counts[:, None]
    if counts.ndim != 2 or counts.shape[1] < 1:
        raise ValueError(f"counts must be shaped (frames, channels), not {counts.shape}")
    if counts.size and (counts.min() < 0 or counts.max() > MAX_COUNT):
        raise ValueError(f"counts must be 0 to {MAX_COUNT}")
    values = counts.astype(np.uint16)
    out = np.empty((counts.shape[0], counts.shape[1], 2), np.uint8)
    out[..., 0] = values >> 7
    out[..., 1] = values & 0x7F
    out[:, 0, 0] |= 0x80
    return out.tobytes()


def encode_message(text: str) -> bytes:
    """A message block around `text` (e.g. "HWT:MUSCLESB;")."""
    body = text.encode("ascii")
    block = BLOCK_START + body + BLOCK_END
    if len(block) > BLOCK_CAP:
        raise ValueError(f"a message block is at most {BLOCK_CAP} bytes, this is {len(block)}")
    if any(b & 0x80 for b in body):
        raise ValueError("message text must be 7-bit ASCII")
    return block


# The Chords protocol of Upside Down Labs boards (profiles.CHORDS_RATES): a packet is
# C7 7C, a counter byte, two bytes per channel (high byte first, 8 bits each), 01.
CHORDS_SYNC = b"\xc7\x7c"
CHORDS_END = 0x01
CHORDS_MAX_CHANNELS = 16
CHORDS_RUN = 3  # packets in a row, counters counting, before a stream is taken for Chords


def find_chords(data: bytes) -> int | None:
    """The channel count of Chords packets in `data` (CHORDS_RUN of them in a row, each
    counter one more than the last), or None. Such a run fixes eleven bytes: SpikerBox
    samples do not make one by chance."""
    data = bytes(data)
    pos = data.find(CHORDS_SYNC)
    while pos >= 0:
        for channels in range(1, CHORDS_MAX_CHANNELS + 1):
            size = 2 * channels + 4
            if pos + CHORDS_RUN * size > len(data):
                break
            packets = [data[pos + k * size:pos + (k + 1) * size] for k in range(CHORDS_RUN)]
            if all(p[:2] == CHORDS_SYNC and p[-1] == CHORDS_END for p in packets) and all(
                    (b[2] - a[2]) % 256 == 1 for a, b in zip(packets, packets[1:],
                                                             strict=False)):
                return channels
        pos = data.find(CHORDS_SYNC, pos + 1)
    return None


def encode_chords(counts: np.ndarray, first_counter: int = 0) -> bytes:
    """Counts (packets, channels) as a Chords board sends them (for tests)."""
    counts = np.asarray(counts, np.uint16)
    out = bytearray()
    for k, row in enumerate(counts):
        out += CHORDS_SYNC + bytes([(first_counter + k) % 256])
        out += row.astype(">u2").tobytes() + bytes([CHORDS_END])
    return bytes(out)
