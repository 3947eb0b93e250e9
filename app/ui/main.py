"""The Needlepoint Kivy app: Live, Procedure, History and Settings screens on the chosen
device (the last one used, else the simulator).

Widgets are touched only on the main thread: the reader thread fills a ring
(app.session.live.LiveSession, built by app.session.open.open_session) and a Clock event
pulls from it each frame. The keys a USB foot pedal sends (space, enter, page down) mark an
injection from any screen, unless someone is typing in a field.

Records (procedure, history, settings) are behind a PIN and lock after the settings' idle
time; the lock covers only those screens: the live screen, its sound and marking never
stop, and marks made while locked wait for the next user (app.ui.signin, app.workflow).
"""

from __future__ import annotations

import time

from kivy.app import App
from kivy.clock import Clock
from kivy.logger import Logger
from kivy.uix.screenmanager import NoTransition, ScreenManager
from kivy.uix.textinput import TextInput

import app.ui.widgets  # noqa: F401  (registers NavBar, Meter and the button styles)
from app import settings as settings_store
from app.logbook import Logbook
from app.logbook.errors import LogbookError
from app.session.audio import AudioPath
from app.session.live import LiveSession
from app.session.open import open_session
from app.ui.env import gl_strings
from app.ui.history import HistoryScreen
from app.ui.live import LiveScreen
from app.ui.procedure import ProcedureScreen
from app.ui.settings_screen import SettingsScreen
from app.ui.signin import LockView
from app.ui.trace import Trace  # noqa: F401  (registers the class for the .kv files)
from app.ui.unavailable import RecordsUnavailable
from app.workflow.access import Access
from app.workflow.procedure import ProcedureFlow
from devices import DEFAULT_URI, DeviceError

PEDAL_KEYS = {32, 13, 271, 281}  # space, enter, keypad enter, page down
FRAME_S = 1 / 60
LOCKED_SCREENS = {"procedure", "history", "settings"}  # the live screen is never locked
IDLE_CHECK_S = 1.0
SOUND_SETTLED_FLIPS = 2  # the first frames drawn are the start's, not the app's pace
STATUS_EVERY_S = 1.0


class NeedlepointApp(App):
    title = "Needlepoint"

    def __init__(self, device_uri: str | None = None, sound: bool = True,
                 preset: str | None = None, remember: bool = True, status: bool = False,
                 **kw):
        super().__init__(**kw)
        self.status = status  # a line on the terminal each second (gui --status)
        self.remember = remember  # a screenshot run leaves the settings as they were
        self.settings = settings_store.load()
        self.device_uri = device_uri or self.settings.device
        self.sound = sound
        self.preset = preset or self.settings.preset
        self.session: LiveSession | None = None
        self.audio: AudioPath | None = None
        self.live: LiveScreen | None = None
        self.lb: Logbook | None = None
        self.access: Access | None = None
        self.lock: LockView | None = None

    def build(self):
        from kivy.core.window import Window

        Window.clearcolor = (0.05, 0.06, 0.08, 1)
        self.session = self._open_session().start()
        self.audio = self.session.audio
        sm = ScreenManager(transition=NoTransition())
        try:
            self.lb = Logbook()  # opened on the main thread: only the UI's thread writes
        except LogbookError as e:
            # The records are out of reach; the live screen must not be (no patient data
            # in the reason: it names the file and what is wrong with it).
            Logger.error("Needlepoint: logbook unavailable: %s", e)
            self.live = LiveScreen(self.session)
            sm.add_widget(self.live)
            sm.add_widget(RecordsUnavailable("procedure", str(e)))
            sm.add_widget(RecordsUnavailable("history", str(e)))
        else:
            self.access = Access(self.lb, lock_after_s=self.settings.lock_after_s)
            procedure = ProcedureScreen(ProcedureFlow(self.lb), self.access,
                                        on_queue=self._queued, on_lock=self._show_lock)
            self.procedure = procedure
            self.live = LiveScreen(self.session, on_mark=procedure.add_mark)
            sm.add_widget(self.live)
            sm.add_widget(procedure)
            sm.add_widget(HistoryScreen(self.lb, self.access))
            self.lock = LockView(self.access, on_signed_in=self._signed_in,
                                 on_live=lambda: setattr(sm, "current", "live"))
            sm.bind(current=self._guard)
            Window.bind(on_touch_down=self._activity)
            Clock.schedule_interval(self._idle, IDLE_CHECK_S)
        sm.add_widget(SettingsScreen(self.settings))
        self.live.ids.trace.negative_up = self.settings.negative_up
        self.live.volume = self.settings.volume
        self.live.apply_preset(self.preset)
        Clock.schedule_interval(self.live.refresh, FRAME_S)
        Window.bind(on_key_down=self._key)
        self._start_sound()
        if self.status:
            self._started = time.monotonic()
            gl = gl_strings()
            print(f"GL {gl.get('renderer', gl.get('error'))} {gl.get('version', '')}",
                  flush=True)
            Clock.schedule_interval(self._print_status, STATUS_EVERY_S)
        return sm

    def _print_status(self, _dt) -> None:
        if self.audio is not None:
            print(self.audio.status_line(self.session.snapshot().status,
                                         time.monotonic() - self._started), flush=True)

    def _open_session(self) -> LiveSession:
        """A session on the chosen device, opened (its rate sets up the audio path); if the
        last used one cannot be had now, the simulator, and the reason is logged. The
        sound waits until the screens are built (_start_sound)."""
        uri = self._declared(self.device_uri)

        def opened(uri: str) -> LiveSession:
            return open_session(uri, sound=self.sound, volume=self.settings.volume,
                                mains_hz=self.settings.mains_hz or None,
                                wait_for_speaker=True)

        try:
            session = opened(uri)
        except DeviceError as e:
            if uri == DEFAULT_URI:
                raise
            Logger.warning("Needlepoint: %s; starting on the simulator instead", e)
            uri = DEFAULT_URI
            session = opened(uri)
        self.settings.device = uri
        if self.remember:
            settings_store.save(self.settings)
        return session

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
        if key in PEDAL_KEYS and not self._typing():
            self.live.mark_injection()
            return True
        return False

    def _typing(self) -> bool:
        return any(isinstance(w, TextInput) and w.focus for w in self.root.walk())

    def on_start(self):
        from kivy.core.window import Window

        if self.audio is not None and self.audio.speaker is not None:
            # The first frames (every label's texture made at once) hold the GIL for long
            # stretches; the fill control forgets what it learnt from them once the
            # screen is up.
            self._flips = 0
            Window.bind(on_flip=self._screen_drawn)

    def _screen_drawn(self, *_):
        from kivy.core.window import Window

        self._flips += 1
        if self._flips >= SOUND_SETTLED_FLIPS:
            Window.unbind(on_flip=self._screen_drawn)
            self.audio.relearn()

    def _start_sound(self) -> None:
        """The sound starts with the screens built, before the first frame is drawn:
        building them holds the GIL for 100 ms and more at a time, which a card already
        playing would spend running dry."""
        if self.audio is None:
            return
        if self.audio.attach_speaker(self.settings.output or None) is None:
            # Said once; the trace, the analyser and the logbook carry on silent.
            Logger.warning("Needlepoint: %s", self.audio.speaker_error)

    def on_stop(self):
        if self.lb is not None:  # (on_stop may come twice: close once)
            lb, self.lb = self.lb, None
            lb.close()
        if self.session is not None:
            self.session.close()  # the reader, the device and the sound card
        if self.live is not None and self.remember:
            self.settings.preset = self.live.preset_name
            self.settings.volume = self.live.volume
            settings_store.save(self.settings)
