"""How full the audio ring should be, and the resampling ratio that keeps it there.

The amplifier and the sound card each run on their own crystal (a SpikerBox runs about
0.5 % fast): fed at the nominal ratio, the ring between them would fill by 5 ms every
second, or run dry. Two loops hold it:

- inner: a PI controller nudges the resampling ratio so that the ring's fill, as it stands
  just before each chunk is written (its low point), averages the target. The integral
  learns the clocks' offset, from large errors only slowly (so a pause of the card, drained
  over a second or two, does not wind it up); the ratio never moves more than
  `MAX_CORRECTION`.
- outer: the target itself is the smallest that survives the way this device delivers its
  chunks. The sound card callback notes the least slack it found (samples left after
  taking its block), window by window (`WINDOW_S`). From it follows the target that window
  needed: the target it had, less the slack, plus `SAFETY_S`. The target is the most any
  of the last `MEMORY_WINDOWS` windows needed: it grows at once and comes down as soon as
  the window that raised it is forgotten, so a smooth device gets a small delay and a
  bursty one a safe one, without settings.
- a stall now and then is not the device's way: a window in which the ring ran dry
  teaches the target nothing, and the underrun is taken as it came (faded silence, then
  the sound resumes at the target, what arrived late skipped by the ring). The delay a
  physician hears does not grow for a machine's hiccups: late sound misleads the needle
  more than a gap of a few ms does. Only stalls that come often (`STARVED_RECUR` within
  `STARVED_WINDOW_S`) are the device's way: the target then covers the worst of their
  shortfalls for `STARVED_MEMORY_S`, and again from each covered stall that comes back
  meanwhile; a machine's cluster of hiccups that does not come back costs its raise for
  that long only.

Everything is in seconds of output audio. No threads here: the caller passes in what the
callback counted.
"""

from __future__ import annotations

import math
from collections import deque

MAX_CORRECTION = 0.02  # +/-2 %: far beyond any crystal's error, below an audible glide
KP = 3.0  # 1/s: ratio change per second of fill error
KI = 3.0  # 1/s^2
INTEGRATE_WITHIN_S = 0.003  # errors this small teach the integral at the full rate
SMOOTH_S = 0.1  # the fill low points are averaged over about this long
SAFETY_S = 0.0015  # the least slack the target aims to leave
WINDOW_S = 0.5  # slack is judged over windows this long
MEMORY_WINDOWS = 8  # the target covers the worst of the last four seconds
STARVED_RECUR = 3  # this many underruns ...
STARVED_WINDOW_S = 10.0  # ... within this long raise the target ...
STARVED_MEMORY_S = 10.0  # ... for this long, and again each time a stall comes back
FIRST_CHUNK_S = 0.01  # the first chunk may be a backlog: it says no more of the device
TARGET_MIN_S = 0.001
TARGET_MAX_S = 0.2


class FillControl:
    def __init__(self, block_s: float):
        self.block_s = block_s
        self.target_s = 0.0  # set by the first chunk
        self.fill_s: float | None = None
        self.integral = 0.0
        self.correction = 0.0
        self._window_left = WINDOW_S
        self._window_slack = math.inf
        self._needed: deque = deque(maxlen=MEMORY_WINDOWS)  # target each window needed
        self._settling = True  # the first window after a (re)start shows the start, not
        # the device
        self._window_starved = False
        self.clock_s = 0.0  # stream time: the chunks' lengths added up
        self._starved_at: deque = deque(maxlen=STARVED_RECUR)  # stream times of underruns
        self._starved_needs: deque = deque(maxlen=STARVED_RECUR)  # and what each needed
        self._starved_need = 0.0  # the target recurring underruns asked for ...
        self._starved_until = 0.0  # ... until this stream time
        self._starved_mid = 0.0  # a window's need above this: the stall came back

    def scale(self) -> float:
        """The ratio to resample the next chunk at, relative to nominal."""
        return 1.0 + self.correction

    def restart(self) -> None:
        """The stream had a hole (the amplifier paused): not the target's fault. Average
        the fill afresh from the refill; keep what was learnt of the clocks."""
        self.fill_s = None
        self._settling = True

    def relearn(self) -> None:
        """Forget what was learnt of the device's pace (a start that held everything up:
        not the pace to come); the next chunk sets a first target afresh. The clocks'
        offset is kept."""
        self.target_s = 0.0
        self.fill_s = None
        self._needed.clear()
        self._settling = True
        self._starved_at.clear()
        self._starved_needs.clear()
        self._starved_need, self._starved_until = 0.0, 0.0

    def update(self, fill_s: float, dt: float, slack_s: float, starved: bool) -> None:
        """After each chunk: the fill just before it was written, the chunk's length, the
        least slack the callback saw since the last update, and whether it ran dry."""
        self.clock_s += dt
        if not self.target_s:
            # Until the device shows how it delivers: a block, half a chunk and the safety.
            # A first chunk that holds what queued up while the sound was being set up is
            # a backlog, not the device's pace.
            first = min(dt, FIRST_CHUNK_S)
            self.target_s = min(self.block_s + first / 2 + SAFETY_S, TARGET_MAX_S)
        if starved:
            self._starved(slack_s)
            self.fill_s = None  # the fill average starts afresh from the refill
            return
        if self.fill_s is None:
            self.fill_s = fill_s
        else:
            a = min(dt / SMOOTH_S, 1.0)
            self.fill_s += a * (fill_s - self.fill_s)
        error = self.fill_s - self.target_s
        # The integral learns fully from small errors only, a tenth as fast from large
        # ones, and not at all while the ratio is at its limit: a card that paused leaves
        # the ring far over its target, and draining that would wind the integral up,
        # which then drives the fill through the target into an underrun seconds later
        # (docs/audio.md). A clock far off still settles, slowly.
        if abs(KP * error + KI * self.integral) >= MAX_CORRECTION:
            rate = 0.0
        else:
            rate = 1.0 if abs(error) <= INTEGRATE_WITHIN_S else 0.1
        self.integral = _clamp(self.integral + rate * error * dt, MAX_CORRECTION / KI)
        self.correction = _clamp(-(KP * error + KI * self.integral), MAX_CORRECTION)
        self._judge(slack_s, dt)

    def _starved(self, slack_s: float) -> None:
        """The ring ran dry: its chunks came later than the target allowed for."""
        self._window_starved = True
        self._starved_at.append(self.clock_s)
        self._starved_needs.append(self.target_s - min(slack_s, 0.0) + SAFETY_S)
        if (len(self._starved_at) < STARVED_RECUR
                or self.clock_s - self._starved_at[0] > STARVED_WINDOW_S):
            return
        self._starved_need = max(self._starved_needs)
        # A window needing more than halfway from the target before the raise to the
        # raise itself shows the stall came back.
        self._starved_mid = (min(self.target_s, self._starved_need) + self._starved_need) / 2
        self._starved_until = self.clock_s + STARVED_MEMORY_S
        self.target_s = max(self.target_s, min(self._starved_need, TARGET_MAX_S))

    def _judge(self, slack_s: float, dt: float) -> None:
        self._window_slack = min(self._window_slack, slack_s)
        self._window_left -= dt
        if self._window_left > 0:
            return
        slack, self._window_slack, self._window_left = self._window_slack, math.inf, WINDOW_S
        starved, self._window_starved = self._window_starved, False
        if self._settling:
            self._settling = False
            return
        if not starved:  # a window that ran dry says how late a stall was, not the pace
            need = self.target_s - slack + SAFETY_S
            self._needed.append(need)
            if self.clock_s < self._starved_until and need > self._starved_mid:
                # The stall came back and the raised target covered it: still the
                # device's way, so the raise holds on. A machine's cluster of hiccups
                # does not come back, and its raise ends STARVED_MEMORY_S after it.
                self._starved_until = self.clock_s + STARVED_MEMORY_S
        target = max(self._needed, default=self.target_s)
        if self.clock_s < self._starved_until:
            target = max(target, self._starved_need)
        self.target_s = min(max(target, TARGET_MIN_S), TARGET_MAX_S)


def _clamp(v: float, limit: float) -> float:
    return max(-limit, min(limit, v))
