"""Which device the live screen is on, and getting it there without a substitute.

A device is opened off the main thread (a serial board takes up to a second to answer);
the outcome comes back to the main thread through `post`. Until the device opens, and after
it stops with an error, the live screen is in a plain not-connected state and the same
device is tried again every RETRY_S: no other source ever takes its place. The remembered
device (settings.device) changes only when a device the user chose opened (`on_chosen`):
never on a retry of a remembered one, never on a failure.

No Kivy here: the app passes its Clock in as `post` and `later`. Also the words the screens
say about a device (its source label on the trace, its isolation beside the picker).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from app.logbook.provenance import label
from app.session.live import source_kind
from devices import DeviceInfo, Isolation

RETRY_S = 3.0

CONNECTING = "connecting"  # the first attempt at a device, not yet answered
LIVE = "live"
NOT_CONNECTED = "not connected"  # it has not opened since it was chosen
DISCONNECTED = "disconnected"  # it was live, then stopped with an error


def source_label(info: DeviceInfo) -> str:
    """What the trace says the signal is, when it is not a patient's, in the records' own
    words ("SIMULATED - not a patient", "REPLAY: rec.edf"). An amplifier has none."""
    kind = source_kind(info)
    return "" if kind == "amplifier" else label(kind, info.uri, calibrated=None)


def isolation_note(info: DeviceInfo) -> str:
    """Whether the device may touch a patient, in a few words for the picker."""
    iso = info.isolation
    if iso is Isolation.NOT_APPLICABLE:
        words = ("no electrode: simulated, not a patient" if info.kind == "simulator"
                 else "no electrode: a recording")
    elif iso.patient_rated:
        words = f"isolated for patient connection, type {iso.value}"
    elif iso is Isolation.UNKNOWN:
        words = "isolation NOT declared (Settings: sound card preamp)"
    else:
        words = "NOT isolated for patient connection: training and research only"
    if info.uv_per_count is not None and not info.calibrated:
        words += "; uncalibrated: shown in counts"
    return words


class Connection:
    """The live device's state: CONNECTING, LIVE, NOT_CONNECTED or DISCONNECTED, with the
    URI it is about (`uri`), the session when live, and why not otherwise (`reason`).

    `open_fn(uri)` returns an opened, unstarted session or raises; it runs on a worker
    thread, one attempt at a time. `post(fn)` calls fn on the main thread soon (it is
    called from the worker); `later(seconds, fn)` calls fn on the main thread after a
    while. `on_change(old)` is called on the main thread whenever anything here changed,
    with the session that is no longer live (the caller closes it) or None.
    `on_chosen(uri)`: a device the user chose has opened (remember it)."""

    def __init__(self, open_fn: Callable, post: Callable, later: Callable,
                 on_change: Callable, on_chosen: Callable, retry_s: float = RETRY_S):
        self.open_fn, self.post, self.later = open_fn, post, later
        self.on_change, self.on_chosen = on_change, on_chosen
        self.retry_s = retry_s
        self.state = CONNECTING
        self.uri = ""  # the device the live screen is for
        self.chosen = False  # whether the user chose it (remembered once it opens)
        self.session = None
        self.reason = ""  # why it is not live
        self.failures = 0  # failed attempts at `uri` in a row
        self.message = ""  # what came of the user's last pick, for the pickers
        self.trying: str | None = None  # the URI being opened now
        self.next_try: float | None = None  # time.monotonic() of the next retry
        self._target = 0  # changes with `uri`: older attempts and retries are stale
        self._queued: str | None = None  # a pick waiting for the attempt in flight
        self._picked: str | None = None  # the user's last pick, until it is settled
        self._closed = False

    # what the user and the app ask -----------------------------------------------------
    def start(self, uri: str, chosen: bool, wait_s: float = 0.0) -> None:
        """The device the app starts on: `chosen` when the user named it (gui --device),
        not when it is the remembered one. The caller may wait up to `wait_s` for the
        outcome (the app does, before its first frame, so that a device that opens at once
        is heard from the start); a slower one comes later, as any attempt does."""
        self._retarget(uri, chosen)
        self.state = CONNECTING
        attempt = self._attempt(uri)
        if wait_s > 0 and attempt.ready.wait(wait_s):
            self._deliver(attempt)
        else:
            self.on_change(None)

    def pick(self, uri: str) -> None:
        """The user chose `uri`. While another device is live it stays so unless `uri`
        opens; with none live, `uri` is at once the device the screen waits for."""
        uri = uri.strip()
        if not uri or self._closed:
            return
        if self.state == LIVE and uri == self.uri:
            self.message = f"{uri} is the live device."
        else:
            if self.state != LIVE:
                if uri != self.uri:
                    self.state = CONNECTING
                self._retarget(uri, True)
            self._picked = uri
            self.message = f"Opening {uri}..."
            if self.trying is not None:
                self._queued = uri  # one attempt at a time: this one next
            else:
                self._attempt(uri)
        self.on_change(None)

    def retry_now(self) -> None:
        if self.state != LIVE and self.trying is None and not self._closed:
            self._attempt(self.uri)
            self.on_change(None)

    def check(self) -> None:
        """A few times a second on the main thread: a live session whose device stopped
        with an error leaves the screen (nothing is drawn from it) and is tried again."""
        if self.state != LIVE or self.session is None:
            return
        snap = self.session.snapshot()
        if snap.status != "error":
            return
        old, self.session = self.session, None
        self.state = DISCONNECTED
        self.reason = snap.last_error or "the device stopped"
        self.failures = 0
        self._schedule_retry()
        self.on_change(old)

    def close(self) -> None:
        """The app is stopping: no more attempts; a session opened meanwhile is let go."""
        self._closed = True

    def retry_in(self, now: float | None = None) -> float | None:
        if self.next_try is None:
            return None
        return max(self.next_try - (time.monotonic() if now is None else now), 0.0)

    # the attempts ----------------------------------------------------------------------
    def _retarget(self, uri: str, chosen: bool) -> None:
        if uri != self.uri:
            self._target += 1
            self.failures = 0
        self.uri, self.chosen = uri, chosen
        self.reason = ""

    def _attempt(self, uri: str) -> _Attempt:
        self.trying = uri
        self.next_try = None
        attempt = _Attempt(uri, self._target)
        threading.Thread(target=self._open, args=(attempt,), name="device-open",
                         daemon=True).start()
        return attempt

    def _open(self, attempt: _Attempt) -> None:
        """Worker thread: open, and hand the outcome to the main thread."""
        try:
            attempt.session = self.open_fn(attempt.uri)
        except Exception as e:  # any failure to open is shown to the user, with its words
            attempt.reason = str(e) or type(e).__name__
        attempt.ready.set()
        self.post(lambda: self._deliver(attempt))

    def _deliver(self, attempt: _Attempt) -> None:
        if not attempt.delivered:  # (once: the start may have taken it already)
            attempt.delivered = True
            self._done(attempt.uri, attempt.target, attempt.session, attempt.reason)

    def _done(self, uri: str, target: int, session, reason: str) -> None:
        """Main thread: what an attempt came to."""
        self.trying = None
        queued, self._queued = self._queued, None
        old = None
        picked = uri == self._picked
        if self._closed or target != self._target:
            if session is not None:  # stale: the screen moved on to another device
                _let_go(session)
        elif session is not None:
            # The device waited for, or one picked while another was live.
            chosen = self.chosen or uri != self.uri
            self._retarget(uri, chosen)
            old, self.session = self.session, session
            self.state, self.reason, self.failures = LIVE, "", 0
            if picked:
                self.message, self._picked = f"{uri} opened: it is the live device.", None
            if chosen:
                self.on_chosen(uri)
        elif uri != self.uri:
            # Picked while another device was live, which stays.
            self.message = f"{uri} did not open: {reason}"
            if self.state == LIVE:
                self.message += f" Still on {self.uri}."
            self._picked = None
        else:
            self.reason = reason
            self.failures += 1
            if self.state != DISCONNECTED:
                self.state = NOT_CONNECTED
            if picked:
                self.message = f"{uri} did not open: {reason}"
            self._schedule_retry()
        if queued is not None and not self._closed:
            self.pick(queued)
        self.on_change(old)

    def _schedule_retry(self) -> None:
        if self._closed:
            return
        target = self._target
        self.next_try = time.monotonic() + self.retry_s
        self.later(self.retry_s, lambda: self._retry(target))

    def _retry(self, target: int) -> None:
        if (target != self._target or self.state == LIVE or self.trying is not None
                or self._closed):
            return
        self._attempt(self.uri)
        self.on_change(None)


class _Attempt:
    """One open, from the worker to the main thread."""

    def __init__(self, uri: str, target: int):
        self.uri, self.target = uri, target
        self.session = None
        self.reason = ""
        self.ready = threading.Event()
        self.delivered = False


def _let_go(session) -> None:
    """Close a session nobody will use, off the main thread (a serial port's close can
    wait on its reader)."""
    threading.Thread(target=session.close, name="device-close", daemon=True).start()
