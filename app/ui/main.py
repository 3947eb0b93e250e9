"""The Needlepoint Kivy app: Live, Procedure, History and Settings screens on the chosen
device (the last one used, else the simulator).

The device is opened off the main thread (app.ui.connect.Connection). One that cannot be
opened, or stops, puts the live screen in a plain not-connected state, tried again every
few seconds, with a device picker: never the simulator or anything else in its place. The
remembered device changes only when the user chose one (gui --device, a picker) and it
opened.

Widgets are touched only on the main thread: the reader thread fills a ring
(app.session.live.LiveSession, built by app.session.open.open_session) and a Clock event
pulls from it each frame. The foot pedal's key (the settings' pedal_key, page down unless
changed) marks an injection from any screen, whatever has focus; space and enter mark
too, unless someone is typing in a field (app.ui.pedal).

Records (procedure, history, settings) are behind a PIN and lock after the settings' idle
time; the lock covers only those screens: the live screen, its sound and marking never
stop, and marks made while locked wait for the next user (app.ui.signin, app.workflow).
"""

from __future__ import annotations

import time

from kivy.app import App
from kivy.clock import Clock
from kivy.logger import Logger
from kivy.properties import StringProperty
from kivy.uix.screenmanager import NoTransition, ScreenManager
from kivy.uix.textinput import TextInput

import app.ui.widgets  # noqa: F401  (registers NavBar, Meter and the button styles)
from app import settings as settings_store
from app.logbook import Logbook, pins
from app.logbook.errors import LogbookError
from app.session.audio import AudioPath
from app.session.live import LiveSession
from app.session.open import open_session
from app.ui.connect import Connection
from app.ui.env import gl_strings
from app.ui.history import HistoryScreen
from app.ui.live import LiveScreen
from app.ui.pedal import KEYBOARD_MARK_KEYS, PEDAL_KEYS, pedal_code
from app.ui.procedure import ProcedureScreen
from app.ui.settings_screen import SettingsScreen
from app.ui.signin import LockView
from app.ui.trace import Trace  # noqa: F401  (registers the class for the .kv files)
from app.ui.unavailable import RecordsUnavailable
from app.workflow.access import Access
from app.workflow.procedure import ProcedureFlow

FRAME_S = 1 / 60
LOCKED_SCREENS = {"procedure", "history", "settings"}  # the live screen is never locked
IDLE_CHECK_S = 1.0
SOUND_SETTLED_FLIPS = 2  # the first frames drawn are the start's, not the app's pace
STATUS_EVERY_S = 1.0
CLINIC_EVERY_S = 1.0  # the clinic sync's line read from the syncer's state
CHECK_S = 0.25  # how soon a device that stopped leaves the screen
# The start waits this long for the first device before drawing (a simulator opens in a few
# ms, a serial board in up to a second); a slower one joins the screen when it opens.
FIRST_OPEN_WAIT_S = 1.5


def _post(fn) -> None:
    """Call fn on the main thread at the next frame (from any thread)."""
    Clock.schedule_once(lambda _dt: fn(), 0)


def _later(seconds: float, fn) -> None:
    Clock.schedule_once(lambda _dt: fn(), seconds)


class NeedlepointApp(App):
    title = "Needlepoint"
    clinic_text = StringProperty("")  # the clinic sync's state; '' when not joined

    def __init__(self, device_uri: str | None = None, sound: bool = True,
                 preset: str | None = None, remember: bool = True, status: bool = False,
                 syncer=None, **kw):
        super().__init__(**kw)
        self.syncer = syncer  # app.clinic.background.Syncer, or None: not joined
        self._clinic_said: str | None = None
        self.status = status  # a line on the terminal each second (gui --status)
        self.remember = remember  # a screenshot run leaves the settings as they were
        self.settings = settings_store.load()
        # Named on the command line: the user's choice, remembered once it opens. The
        # remembered one is tried as it is.
        self.chosen_device = device_uri is not None
        self.device_uri = device_uri or self.settings.device
        self.sound = sound
        self.preset = preset or self.settings.preset
        self.session: LiveSession | None = None
        self.audio: AudioPath | None = None
        self.live: LiveScreen | None = None
        self.lb: Logbook | None = None
        self.access: Access | None = None
        self.lock: LockView | None = None
        self.connection: Connection | None = None
        self.settings_screen: SettingsScreen | None = None
        self._said = ("", "")
        self._flips = 0
        try:
            self.pedal = pedal_code(self.settings.pedal_key)
        except ValueError as e:
            Logger.warning("Needlepoint: %s; the pedal is %s", e, PEDAL_KEYS[0])
            self.pedal = pedal_code(PEDAL_KEYS[0])

    def build(self):
        from kivy.core.window import Window

        Window.clearcolor = (0.05, 0.06, 0.08, 1)
        # A text field typed on the tablet's on-screen keyboard is lifted above it, never
        # left under it (numbers and PINs have keypads of their own under the field).
        Window.softinput_mode = "below_target"
        self.connection = Connection(self._open, _post, _later, self._connection_changed,
                                     self._chosen)
        sm = ScreenManager(transition=NoTransition())
        try:
            self.lb = Logbook()  # opened on the main thread: only the UI's thread writes
        except LogbookError as e:
            # The records are out of reach; the live screen must not be (no patient data
            # in the reason: it names the file and what is wrong with it).
            Logger.error("Needlepoint: logbook unavailable: %s", e)
            self.live = LiveScreen()
            sm.add_widget(self.live)
            sm.add_widget(RecordsUnavailable("procedure", str(e)))
            sm.add_widget(RecordsUnavailable("history", str(e)))
        else:
            pins.set_min_length(self.settings.pin_min_length)
            self.access = Access(self.lb, lock_after_s=self.settings.lock_after_s,
                                 post=_post)
            procedure = ProcedureScreen(ProcedureFlow(self.lb), self.access,
                                        on_queue=self._queued, on_lock=self._show_lock,
                                        on_signed=self._signed,
                                        clinic_joined=self.syncer is not None)
            self.procedure = procedure
            self.live = LiveScreen(on_mark=procedure.add_mark)
            sm.add_widget(self.live)
            sm.add_widget(procedure)
            sm.add_widget(HistoryScreen(self.lb, self.access))
            self.lock = LockView(self.access, on_signed_in=self._signed_in,
                                 on_live=lambda: setattr(sm, "current", "live"))
            sm.bind(current=self._guard)
            Window.bind(on_touch_down=self._activity)
            Clock.schedule_interval(self._idle, IDLE_CHECK_S)
            if self.syncer is not None:
                self.syncer.start()
                self._show_clinic(0)
                Clock.schedule_interval(self._show_clinic, CLINIC_EVERY_S)
        self.settings_screen = SettingsScreen(self.settings)
        sm.add_widget(self.settings_screen)
        self.live.ids.trace.negative_up = self.settings.negative_up
        self.live.volume = self.settings.volume
        self.live.apply_preset(self.preset)
        Clock.schedule_interval(self.live.refresh, FRAME_S)
        Clock.schedule_interval(lambda _dt: self.connection.check(), CHECK_S)
        Window.bind(on_key_down=self._key)
        # Before the first frame: a device that opens at once is heard from the start.
        self.connection.start(self.device_uri, chosen=self.chosen_device,
                              wait_s=FIRST_OPEN_WAIT_S)
        if self.status:
            self._started = time.monotonic()
            gl = gl_strings()
            print(f"GL {gl.get('renderer', gl.get('error'))} {gl.get('version', '')}",
                  flush=True)
            Clock.schedule_interval(self._print_status, STATUS_EVERY_S)
        return sm

    def _print_status(self, _dt) -> None:
        seconds = time.monotonic() - self._started
        if self.audio is not None:
            print(self.audio.status_line(self.session.snapshot().status, seconds), flush=True)
        elif self.connection.state != "live":
            print(f"  {seconds:6.1f} s  {self.connection.state}: {self.connection.uri}: "
                  f"{self.connection.reason}", flush=True)

    # -- the device --------------------------------------------------------------------------
    def pick_device(self, uri: str) -> None:
        """A picker's choice: it becomes the live and the remembered device if it opens."""
        self.connection.pick(uri)

    def _open(self, uri: str) -> LiveSession:
        """Runs on the connection's worker thread: the device opened in a session (its
        rate sets up the audio path), not yet started. The sound waits for a speaker
        (_start_sound)."""
        volume = self.live.volume if self.live is not None else self.settings.volume
        return open_session(self._declared(uri), sound=self.sound, volume=volume,
                            mains_hz=self.settings.mains_hz or None, wait_for_speaker=True)

    def _chosen(self, uri: str) -> None:
        """A device the user chose opened: the app starts on it next time (a screenshot
        run remembers nothing)."""
        if self.remember:
            self.settings.device = uri
            settings_store.save(self.settings)

    def _connection_changed(self, old: LiveSession | None) -> None:
        """Main thread, whenever the connection changed: let go of the session no longer
        live (its last marks handed on first), put the new one on the screen."""
        conn = self.connection
        if old is not None:
            if self.live is not None:
                self.live.drain(old)
            old.close()  # the reader, the device and the sound card
        new = conn.session
        if new is not self.session:
            self.session = new
            self.audio = new.audio if new is not None else None
            if self.live is not None:
                self.live.set_session(new)
            if new is not None:
                new.start()
                self._start_sound()
        if self.live is not None:
            self.live.show_connection(conn)
        if self.settings_screen is not None:
            self.settings_screen.show_connection(conn)
        said = (conn.state, conn.reason)
        if conn.state in ("not connected", "disconnected") and said != self._said:
            Logger.warning("Needlepoint: %s %s: %s (trying again every %g s; nothing else "
                           "is shown in its place)", conn.state, conn.uri, conn.reason,
                           conn.retry_s)
        self._said = said

    def _declared(self, uri: str) -> str:
        """A sound card input gets the isolation the clinic declared for it, unless the URI
        says one."""
        declared = self.settings.soundcard_isolation.get("default")
        if uri.startswith("soundcard:") and declared and "isolation=" not in uri:
            return uri + ("&" if "?" in uri else "?") + f"isolation={declared}"
        return uri

    # -- the lock: records only ------------------------------------------------------------
    def _guard(self, sm, current: str) -> None:
        if current in LOCKED_SCREENS and self.access.locked:
            self._show_lock()

    def _show_lock(self) -> None:
        self.lock.refresh(len(self.procedure.flow.queued))
        if self.lock.parent is None:
            self.lock.open(animation=False)

    def _signed_in(self) -> None:
        self.procedure.signed_in()
        screen = self.root.current_screen
        if hasattr(screen, "on_pre_enter"):
            screen.on_pre_enter()

    # -- the clinic sync ---------------------------------------------------------------------
    def _show_clinic(self, _dt) -> None:
        """Pulled from the syncer's state on the main thread: its thread never touches a
        widget. A new failure is logged once (the clinic's messages hold no patient data)."""
        state = self.syncer.state
        self.clinic_text = state.line()
        if state.error and state.error != self._clinic_said:
            Logger.warning("Needlepoint: clinic sync: %s (tried again in %g s)", state.error,
                           self.syncer.next_delay())
        self._clinic_said = state.error

    def _signed(self) -> None:
        if self.syncer is not None:
            self.syncer.kick()

    def _queued(self, n: int) -> None:
        if self.lock.parent is not None:
            self.lock.refresh(n)

    def _activity(self, *_args) -> None:
        self.access.activity()

    def _idle(self, _dt) -> None:
        if self.access.tick() and self.root.current in LOCKED_SCREENS:
            self._show_lock()

    def _key(self, _window, key, *_args) -> bool:
        if self.access is not None:
            self.access.activity()
        # The pedal's key first, and consumed: a focused text field never sees it.
        if key == self.pedal or (key in KEYBOARD_MARK_KEYS and not self._typing()):
            self.live.mark_injection()
            return True
        return False

    def _typing(self) -> bool:
        """A text field has focus: on a screen, or in a view over them (the lock's PIN)."""
        from kivy.core.window import Window

        return any(isinstance(w, TextInput) and w.focus
                   for top in Window.children for w in top.walk())

    def _screen_drawn(self, *_):
        from kivy.core.window import Window

        self._flips += 1
        if self._flips >= SOUND_SETTLED_FLIPS:
            Window.unbind(on_flip=self._screen_drawn)
            if self.audio is not None:
                self.audio.relearn()

    def _start_sound(self) -> None:
        """The sound starts once the session is on a built screen: building the screens
        holds the GIL for 100 ms and more at a time, which a card already playing would
        spend running dry. The first frames drawn after it (every label's texture made at
        once) hold it for long stretches too: the fill control forgets what it learnt
        from them once two frames are up."""
        from kivy.core.window import Window

        if self.audio is None:
            return
        if self.audio.attach_speaker(self.settings.output or None) is None:
            # Said once; the trace, the analyser and the logbook carry on silent.
            Logger.warning("Needlepoint: %s", self.audio.speaker_error)
            return
        self._flips = 0
        Window.unbind(on_flip=self._screen_drawn)
        Window.bind(on_flip=self._screen_drawn)

    def on_stop(self):
        if self.syncer is not None:  # its child killed and reaped (a second stop: nothing)
            self.syncer.stop()
        if self.connection is not None:
            self.connection.close()
        if self.lb is not None:  # (on_stop may come twice: close once)
            lb, self.lb = self.lb, None
            lb.close()
        if self.session is not None:
            self.session.close()  # the reader, the device and the sound card
        if self.live is not None and self.remember:
            self.settings.preset = self.live.preset_name
            self.settings.volume = self.live.volume
            settings_store.save(self.settings)
