"""The ring between the reader thread (which renders sound) and the sound card callback.

One writer, one reader, no lock: each side owns one counter (`written`, `read`) and only
publishes it after its copy, and CPython makes a single int assignment atomic. So the
callback never waits for the reader thread, whatever that thread is doing.

The callback's side, `read_into`, only copies and counts, with three exceptions that keep
garbage out of the speaker, each a few in-place multiplications on preallocated ramps:
- ran dry (underrun): what was there is played, then the last sample fades to zero over
  `FADE` samples and the rest is silence; when data returns it fades in;
- too much queued (the card stalled, or the writer burst): the block fades out, the excess
  is skipped, and the next block fades in, so latency snaps back instead of creeping; the
  block that resumes after running dry has a tighter limit (`resume_above`): a stall's
  backlog is skipped at once rather than played late;
- it notes the least slack it found (frames left after its block), which the writer uses
  to size the target fill.
"""

from __future__ import annotations

import numpy as np

FADE = 32  # samples of fade on underrun, resume and skip: 0.7 ms at 48 kHz


class AudioRing:
    def __init__(self, capacity: int, dtype=np.float32):
        self.capacity = int(capacity)
        self.buf = np.zeros(self.capacity, dtype)
        self.written = 0  # writer's counter: frames ever written
        self.read = 0  # reader's counter: frames ever taken (played or skipped)
        # Writer's settings, read by the callback:
        self.skip_above = self.capacity  # frames queued past this after a block: skip
        self.skip_to = 0  # ... down to this
        self.resume_above = self.capacity  # the same, for the block that resumes after
        # running dry: what came late during the stall is not played late
        # Callback's counters, read by the writer:
        self.underruns = 0  # callbacks that found too little
        self.skipped = 0  # frames skipped for latency
        self.overruns = 0  # writes that did not fit (the writer drops their tail)
        self.dropped = 0
        self.low_slack = self.capacity  # least frames left after a block, since reset
        self.missing = 0  # frames the callback found no signal for, ever (run dry; the
        # wait before the first block counts none)
        self.callbacks = 0
        self.starved = True  # nothing played yet: the first data fades in
        self._ran_dry = False  # starved after playing (an underrun), not before the start
        self._fade_in_next = False
        self._last = 0.0
        self._fade_from, self._faded = 0.0, FADE
        self._down = np.linspace(1.0, 0.0, FADE + 1)[1:].astype(dtype)
        self._up = np.linspace(0.0, 1.0, FADE + 1)[1:].astype(dtype)

    @property
    def queued(self) -> int:
        return self.written - self.read

    # -- the writer's side -------------------------------------------------------------
    def write(self, data: np.ndarray) -> int:
        """Append what fits; returns how many frames were taken (the rest is dropped and
        counted: the callback has stopped taking)."""
        free = self.capacity - (self.written - self.read)
        n = min(len(data), free)
        if n < len(data):
            self.overruns += 1
            self.dropped += len(data) - n
        start = self.written % self.capacity
        first = min(n, self.capacity - start)
        self.buf[start:start + first] = data[:first]
        self.buf[: n - first] = data[first:n]
        self.written += n  # published after the copy
        return n

    def take_low_slack(self) -> int:
        """The least slack since the last call, and start a new watch."""
        low, self.low_slack = self.low_slack, self.capacity
        return low

    # -- the callback's side -----------------------------------------------------------
    def read_into(self, out: np.ndarray) -> int:
        """Fill `out` (1-D, the card's block); returns the frames of real signal in it."""
        frames = out.shape[0]
        r = self.read
        avail = self.written - r
        take = min(avail, frames)
        if self.starved and take < frames:
            take = 0  # after running dry, resume only with a whole block in hand
        limit = self.resume_above if self._ran_dry and take else self.skip_above
        start = r % self.capacity
        first = min(take, self.capacity - start)
        out[:first] = self.buf[start:start + first]
        out[first:take] = self.buf[: take - first]
        self.callbacks += 1
        slack = avail - frames
        if slack < self.low_slack and not (self.starved and take == 0):
            self.low_slack = slack  # (waiting to resume is not a shortfall)
        if take < frames:
            if take:
                self._last = out[take - 1]
            if self._ran_dry or not self.starved:  # (before the start nothing is missing)
                self.missing += frames - take
            self._underrun(out, take)  # the fade starts from the last sample played
        else:
            if self.starved or self._fade_in_next:
                k = min(FADE, take)
                out[:k] *= self._up[:k]
                self.starved = self._fade_in_next = self._ran_dry = False
            self._last = out[take - 1]
        r += take
        if avail - take > limit:
            # Too much queued: end this block in a fade and jump to the target.
            k = min(FADE, take)
            out[take - k:take] *= self._down[FADE - k:]
            self._last = 0.0
            skip = avail - take - self.skip_to
            self.skipped += skip
            r += skip
            self._fade_in_next = True
        self.read = r  # published after the copy
        return take

    def _underrun(self, out: np.ndarray, take: int) -> None:
        if not self.starved:
            self.underruns += 1
            self.starved = self._ran_dry = True
            self._fade_from, self._faded = self._last, 0
        # The fade may span callbacks: a block that ran dry near its end goes on fading in
        # the next one, so the ramp is never cut short into a step.
        tail = out[take:]
        k = min(FADE - self._faded, tail.shape[0])
        np.multiply(self._down[self._faded:self._faded + k], self._fade_from, out=tail[:k])
        tail[k:] = 0
        self._faded += k
        self._last = 0.0
