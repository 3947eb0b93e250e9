"""The live guidance screen: the trace, what the analyser hears in words, the proximity and
end-plate noise meters, task presets, sound controls, the status bar, and Mark injection.

Logic only; the layout is live.kv. Everything here runs on the main thread: `refresh` is
called by the Clock each frame and pulls from the session through its public reads (the
display ring, `snapshot()`, `take_marks()`); it never reads the device or runs the
analyser.

With no device live (`set_session(None)`: connecting, not connected, disconnected) the
trace and the activity panel leave the screen for a plain state saying so, with the URI,
the reason, the next attempt and a device picker: nothing is drawn, played or named then.
A simulator or a replay is labelled on the trace itself; an uncalibrated amplifier is shown
in its counts, and the analyser names nothing for it (app.session.activity).
"""

from __future__ import annotations

import time
from pathlib import Path

from kivy.lang import Builder
from kivy.logger import Logger
from kivy.metrics import dp
from kivy.properties import (
    BooleanProperty,
    ListProperty,
    NumericProperty,
    ObjectProperty,
    StringProperty,
)

import app.ui.picker  # noqa: F401  (registers DevicePicker for live.kv)
from app.session.activity import NEEDS_CALIBRATION, calibration_hint, findings, proximity
from app.session.live import LiveSession, Snapshot
from app.session.presets import preset
from app.ui.connect import CONNECTING, DISCONNECTED, LIVE, Connection, source_label
from app.ui.widgets import OrientedScreen
from devices import Isolation

NO_SIGNAL_AFTER_S = 0.5
PANEL_EVERY_S = 0.25  # words and meters: several times a second, without flicker
GAP_NOTICE_S = 5.0  # how long the trace says signal was lost (the gap's mark stays)
OK_COLOUR = [0.7, 0.8, 0.7, 1]
WARN_COLOUR = [1, 0.75, 0.3, 1]
ALARM_COLOUR = [1, 0.45, 0.4, 1]
EPN_FULL_PER_S = 300.0  # end-plate noise meter: miniature potentials per second at full
# The trace redraws at most this often: software GL's cost is per frame drawn, and it takes
# the CPU the sound needs (docs/live-screen.md). 30 Hz is as smooth as a sweep needs.
TRACE_FPS = 30
# The panel's region, set by the screen's size alone so that no control moves with what it
# says: in landscape a column this share of the width, in portrait a band this share of
# the height (in dp, between the bounds).
SIDE_SHARE, SIDE_MIN_DP, SIDE_MAX_DP = 0.3, 290.0, 440.0
FINDINGS_SHARE, FINDINGS_MIN_DP, FINDINGS_MAX_DP = 0.2, 110.0, 300.0
# The trace's scales, Sweep, Freeze and Mark need this much width in one row (at the widest
# controls); narrower, they take two rows.
ONE_ROW_DP = 940.0

Builder.load_file(str(Path(__file__).with_name("live.kv")))


OFFLINE_TITLES = {CONNECTING: "Connecting...", DISCONNECTED: "Amplifier disconnected"}
NOT_CONNECTED_TITLE = "Amplifier not connected"


class LiveScreen(OrientedScreen):
    session = ObjectProperty(None, allownone=True)
    connected = BooleanProperty(False)  # a device is live: the trace and panel are shown
    offline_title = StringProperty("Connecting...")
    offline_uri = StringProperty("")
    offline_reason = StringProperty("")
    offline_retry = StringProperty("")
    calibrated = BooleanProperty(True)  # False: counts, and no analyser words
    calibrate_text = StringProperty("")
    preset_name = StringProperty("spontaneous")
    device_text = StringProperty("")
    status_text = StringProperty("")
    status_colour = ListProperty(OK_COLOUR)
    sound_text = StringProperty("")
    sound_colour = ListProperty(OK_COLOUR)
    banner_text = StringProperty("")  # the not-isolated warning: persistent
    findings_text = StringProperty("")
    rms_text = StringProperty("")
    turns_text = StringProperty("")
    proximity_value = NumericProperty(0.0)
    proximity_text = StringProperty("")
    epn_value = NumericProperty(0.0)
    epn_text = StringProperty("")
    show_epn = BooleanProperty(False)
    audio_mode = StringProperty("raw")
    muted = BooleanProperty(False)
    volume = NumericProperty(0.6)
    is_simulator = BooleanProperty(False)
    sim_effort = NumericProperty(0.0)  # the training sliders start where the simulator is
    effort_auto = BooleanProperty(False)  # the scenario's own effort profile, until touched
    sim_depth = NumericProperty(0.8)
    mark_text = StringProperty("")
    marks_done = NumericProperty(0)
    side_w = NumericProperty(dp(SIDE_MIN_DP))  # landscape: the panel's and Mark's width
    findings_h = NumericProperty(dp(FINDINGS_MIN_DP))  # portrait: the panel's height
    one_row = BooleanProperty(True)  # the bottom controls in one row (wide landscape)
    audio = None  # the session's AudioPath (the volume slider may speak before __init__)

    def __init__(self, session: LiveSession | None = None, on_mark=None, **kw):
        super().__init__(name="live", **kw)
        self.audio = None
        self.on_mark = on_mark  # called with each completed Mark (the quick entry panel)
        self.connection: Connection | None = None
        self._panel_due = 0.0
        self._gaps_seen = (0, 0)  # the session's gaps and lost frames already drawn
        self._written = 0  # the display ring's count at the last frame
        self._notice_until = 0.0
        # Held here: `ids` are weak, and the area off the screen has no other owner.
        self._areas = {True: self.ids.live_area.__self__,
                       False: self.ids.offline_area.__self__}
        self.ids.trace.max_fps = TRACE_FPS
        self.set_session(session)

    # -- the device ---------------------------------------------------------------------
    def set_session(self, session: LiveSession | None) -> None:
        """Put a live session on the screen, or none: then the not-connected state."""
        self.session = session
        self.audio = session.audio if session is not None else None
        trace = self.ids.trace
        self.findings_text = self.rms_text = self.turns_text = ""
        self.proximity_value, self.proximity_text = 0.0, ""
        self.epn_value, self.epn_text = 0.0, ""
        self.banner_text = ""
        trace.banner = trace.notice = ""
        if session is None:
            self.connected = self.is_simulator = False
            trace.source_label = ""
            self.status_text, self.status_colour = "", OK_COLOUR
            self._show_area()
            return
        info = session.info
        self.is_simulator = info.kind == "simulator"
        controls = getattr(session.device, "controls", None)
        if controls is not None:
            self.sim_depth = controls.proximity
            self.effort_auto = controls.effort is None
            self.sim_effort = controls.effort or 0.0
        scale = "calibrated" if info.calibrated else "UNCALIBRATED"
        self.device_text = f"{info.name}  ·  {info.fs / 1000:g} kHz  ·  {scale}"
        if not info.isolation.patient_rated and info.isolation is not Isolation.NOT_APPLICABLE:
            self.banner_text = (info.details.get("warning") or
                                f"{info.name} is NOT isolated for patient connection: "
                                "training and research only.")
        # The samples are microvolts by a guessed step when uncalibrated: shown in counts.
        self.calibrated = info.calibrated or not info.uv_per_count
        trace.set_unit(*(("uV", 1.0) if self.calibrated else ("counts", info.uv_per_count)))
        self.calibrate_text = "" if self.calibrated else calibration_hint(info.uri)
        trace.source_label = source_label(info)
        self._gaps_seen, self._written = (0, 0), 0
        self._panel_due = 0.0
        self.connected = True
        self._show_area()
        if self.audio is not None:  # what the controls say now, on the new sound path
            self.audio.set_sensitivity(trace.uv_per_div)
            self.set_audio_mode(self.audio_mode)
            if self.muted:
                self.audio.set_mode("mute")
            self.set_volume(self.volume)

    def show_connection(self, conn: Connection) -> None:
        """The connection's state, for the not-connected area and the pickers."""
        self.connection = conn
        picker = self.ids.picker
        picker.message = conn.message
        picker.live_uri = conn.uri if conn.state == LIVE else ""
        if conn.state == LIVE:
            return
        self.offline_title = OFFLINE_TITLES.get(conn.state, NOT_CONNECTED_TITLE)
        self.offline_uri = conn.uri
        self.offline_reason = conn.reason
        self.device_text = f"Not connected  ·  {conn.uri}"
        self._retry_words()
        picker.refresh()

    def _retry_words(self) -> None:
        conn = self.connection
        if conn is None or conn.state == LIVE:
            return
        wait = conn.retry_in()
        if conn.trying is not None:
            self.offline_retry = f"Trying {conn.trying}..."
        elif wait is not None:
            self.offline_retry = (f"Trying again in {wait:.0f} s (every {conn.retry_s:g} s; "
                                  f"{conn.failures} attempt{'s' if conn.failures != 1 else ''}"
                                  " so far)")
        else:
            self.offline_retry = ""

    def retry_now(self) -> None:
        if self.connection is not None:
            self.connection.retry_now()

    def _show_area(self) -> None:
        """The trace and panel when connected, else the not-connected area: one of the two
        in the screen's middle, never both."""
        middle = self.ids.middle
        show, hide = self._areas[self.connected], self._areas[not self.connected]
        if hide.parent is not None:
            hide.parent.remove_widget(hide)
        if show.parent is None:
            middle.add_widget(show)

    def on_size(self, *args):
        super().on_size(*args)
        self.side_w = dp(max(SIDE_MIN_DP, min(SIDE_MAX_DP, SIDE_SHARE * self.width / dp(1))))
        self.findings_h = dp(max(FINDINGS_MIN_DP,
                                 min(FINDINGS_MAX_DP, FINDINGS_SHARE * self.height / dp(1))))
        self.one_row = self.width >= self.height and self.width / dp(1) >= ONE_ROW_DP

    def on_landscape(self, _screen, landscape: bool) -> None:
        """The status bar's sound and stream health sit beside the device in landscape, on
        a row of their own in portrait (all three do not fit in 800 px); the task, sound
        and volume controls sit under the panel in landscape, under the middle in
        portrait."""
        row = self.ids.status_top if landscape else self.ids.status_bottom
        for label in (self.ids.sound_label, self.ids.status_label):
            _move(label, row)
        _move(self.ids.sound_controls,
              self.ids.side_controls if landscape else self.ids.portrait_controls)

    # -- presets and controls ---------------------------------------------------------
    def apply_preset(self, name: str) -> None:
        p = preset(name)
        self.preset_name = p.name
        trace = self.ids.trace
        trace.set_sensitivity_uv(p.sensitivity_uv)
        trace.ms_per_div = p.sweep_ms
        self.show_epn = name == "trigger_point"
        self.set_audio_mode(p.audio_mode)

    def on_sensitivity(self, uv_per_div: float) -> None:
        """The trace's sensitivity changed (buttons, pinch): loudness follows, as on EMG
        machines."""
        if self.audio is not None:
            self.audio.set_sensitivity(uv_per_div)

    def set_audio_mode(self, mode: str) -> None:
        self.audio_mode = mode
        self.muted = False
        if self.audio is not None:
            self.audio.set_mode(mode)

    def toggle_mute(self) -> None:
        self.muted = not self.muted
        if self.audio is not None:
            self.audio.set_mode("mute" if self.muted else self.audio_mode)

    def set_volume(self, value: float) -> None:
        self.volume = value
        if self.audio is not None:
            try:
                self.audio.set_volume(value)
            except ValueError as e:  # a slider cannot go there; a script might
                Logger.warning("Needlepoint: %s", e)

    # -- training (simulator only) ------------------------------------------------------
    def move_needle(self) -> None:
        if self.session is not None and hasattr(self.session.device, "move_needle"):
            self.session.device.move_needle()

    def set_effort(self, value: float) -> None:
        if value == self.sim_effort and self.effort_auto:
            return  # the slider taking its first place: the profile goes on
        self.effort_auto = False
        self.sim_effort = value
        if self.session is not None and hasattr(self.session.device, "set_effort"):
            self.session.device.set_effort(value)

    def set_depth(self, value: float) -> None:
        self.sim_depth = value
        if self.session is not None and hasattr(self.session.device, "set_proximity"):
            self.session.device.set_proximity(value)

    # -- mark injection ---------------------------------------------------------------
    def mark_injection(self) -> None:
        if self.session is None:
            self.mark_text = "Not marked: no amplifier is connected, so there is no EMG to keep"
            return
        self.session.mark_injection()
        if self.audio is not None:
            self.audio.alert("mark")  # a chime, unlike any EMG sound
        self.mark_text = "Marked: keeping 2 s more EMG..."

    # -- each frame -------------------------------------------------------------------
    def refresh(self, _dt: float) -> None:
        now = time.monotonic()
        if self.session is None:
            if now >= self._panel_due:
                self._panel_due = now + PANEL_EVERY_S
                self._retry_words()
                self._sound()
            return
        trace = self.ids.trace
        ring = self.session.display
        trace.update(ring, self.session.info.fs)
        written = ring.written  # (read before the snapshot: see _gaps)
        s = self.session.snapshot()
        self._gaps(s, written)
        m = s.measures
        if s.status == "error":
            trace.banner = "DEVICE ERROR"
        elif s.signal_age > NO_SIGNAL_AFTER_S:
            trace.banner = "NO SIGNAL"
        elif m.get("lead_off"):
            trace.banner = f"LEAD OFF: {m['lead_off']}"
        else:
            trace.banner = ""
        if now >= self._panel_due:
            self._panel_due = now + PANEL_EVERY_S
            self._status(s, m)
            self._panel(m)
            self._sound()
        self._new_marks()

    def _gaps(self, s: Snapshot, written: int) -> None:
        """Samples the device lost (a pulled cable, a reader that fell behind) are counted
        by the session, and the ring joins what came either side: the trace marks where.
        A gap counted now lies after the ring's count at the last frame, read before that
        frame's snapshot; after a cable pull nothing came between, so it is exact there."""
        c = s.counters
        gaps, lost = self._gaps_seen
        trace = self.ids.trace
        if c.gaps > gaps:
            seconds = (c.lost_frames - lost) / self.session.info.fs
            trace.mark_gap(self._written, seconds)
            self._gaps_seen = (c.gaps, c.lost_frames)
            # A fast sweep writes over the mark within a second: said for a while too.
            trace.notice = f"Signal lost for {seconds:.1f} s: the gap is marked on the trace"
            self._notice_until = time.monotonic() + GAP_NOTICE_S
        elif trace.notice and time.monotonic() > self._notice_until:
            trace.notice = ""
        self._written = written

    def _status(self, s: Snapshot, m) -> None:
        parts, colour = [s.status], OK_COLOUR
        if s.status == "error":
            parts, colour = [f"ERROR: {s.last_error}"], ALARM_COLOUR
        elif s.signal_age > NO_SIGNAL_AFTER_S:
            parts, colour = ["NO SIGNAL: reconnecting"], WARN_COLOUR
        c = s.counters
        if c.lost_frames or c.lost_chunks:
            parts.append(f"{c.lost_frames} frames dropped")
            colour = WARN_COLOUR
        if m.get("clipping"):
            parts.append("CLIPPING")
            colour = WARN_COLOUR
        self.status_text, self.status_colour = "  ·  ".join(parts), colour

    def _panel(self, m) -> None:
        if not m:
            return
        self.findings_text = "\n".join(findings(m, self.calibrated))
        self.proximity_value, self.proximity_text = proximity(m, self.calibrated)
        if not self.calibrated:
            # The RMS in the amplifier's counts; turns (swings of 100 uV) and end-plate
            # noise (potentials under 100 uV) need a true scale.
            counts = m["rms_uv"] / self.ids.trace.uv_per_unit
            self.rms_text = f"{counts:.1f} counts" if counts < 10 else f"{counts:.0f} counts"
            self.turns_text = "-"
            self.epn_value, self.epn_text = 0.0, NEEDS_CALIBRATION
            return
        self.rms_text = f"{m['rms_uv']:.0f} uV"
        self.turns_text = f"{m['turns_per_s']:.0f} /s"
        rate = m.get("end_plate_noise_per_s") or 0.0
        self.epn_value = min(rate / EPN_FULL_PER_S, 1.0)
        self.epn_text = (f"{rate:.0f} /s" + ("  end-plate noise" if m.get("end_plate_noise")
                                            else ""))

    def _sound(self) -> None:
        audio = self.audio
        if audio is None:
            self.sound_text, self.sound_colour = "sound off", OK_COLOUR
            return
        lost = audio.check_speaker()
        if lost:
            Logger.warning("Needlepoint: %s", lost)  # once: the speaker is then let go
        if audio.speaker is not None:
            self.sound_text = f"sound {audio.delay_s() * 1000:.0f} ms"
            self.sound_colour = OK_COLOUR
        elif audio.waiting and not audio.speaker_error:  # the app's first frames
            self.sound_text, self.sound_colour = "sound starting", OK_COLOUR
        else:
            self.sound_text, self.sound_colour = "NO SOUND", WARN_COLOUR

    def drain(self, session: LiveSession) -> None:
        """A session leaving the screen: the marks it completed are handed on first."""
        self._new_marks(session)

    def _new_marks(self, session: LiveSession | None = None) -> None:
        """Every mark completed since the last frame, each handed on once, however many."""
        session = session or self.session
        if session is None:
            return
        for mark in session.take_marks():
            self.marks_done += 1
            seconds = len(mark.samples) / mark.fs
            # The record's own words: "Injection 3", or why the mark has no number yet.
            said = self.on_mark(mark) if self.on_mark is not None else None
            self.mark_text = f"{said or 'Mark'}: {seconds:.1f} s of EMG kept"


def _move(widget, parent) -> None:
    if widget.parent is not parent:
        widget.parent.remove_widget(widget)
        parent.add_widget(widget)
