"""The Needlepoint Kivy app: the live screen on the chosen device (the simulator by default).

Widgets are touched only on the main thread: the reader thread fills a ring
(app.live.LiveSession) and a Clock event pulls from it each frame.
"""

from __future__ import annotations

from pathlib import Path

from kivy.app import App
from kivy.clock import Clock
from kivy.lang import Builder
from kivy.logger import Logger
from kivy.properties import BooleanProperty, ListProperty, NumericProperty, StringProperty
from kivy.uix.screenmanager import Screen, ScreenManager

from app.audio import AudioPath
from app.live import LiveSession
from app.ui.trace import Trace  # noqa: F401  (registers the class for the .kv file)
from devices import make_device

SENSITIVITIES = [10, 20, 50, 100, 200, 500, 1000, 2000, 5000]  # uV per division
SWEEPS = [1, 2, 5, 10, 20, 50, 100]  # ms per division
NO_SIGNAL_AFTER_S = 0.5

Builder.load_file(str(Path(__file__).with_name("live.kv")))


class LiveScreen(Screen):
    uv_per_div = NumericProperty(50)
    ms_per_div = NumericProperty(20)
    device_text = StringProperty("")
    status_text = StringProperty("")
    status_colour = ListProperty([0.7, 0.8, 0.7, 1])
    scale_text = StringProperty("")
    is_simulator = BooleanProperty(False)
    sound_text = StringProperty("")
    muted = BooleanProperty(False)

    def __init__(self, session: LiveSession, **kw):
        super().__init__(name="live", **kw)
        self.session = session
        self.audio = session.audio
        info = session.info
        self.is_simulator = info.kind == "simulator"
        self.device_text = f"{info.name}  ·  {info.fs / 1000:g} kHz"
        self._update_scale()
        self.bind(uv_per_div=lambda *_: self._update_scale())

    def _update_scale(self) -> None:
        unit = "uV/div" if self.session.info.calibrated else "uV/div (UNCALIBRATED)"
        self.scale_text = f"{self.uv_per_div:g} {unit}"
        if self.audio is not None:  # loudness follows the sensitivity, as on EMG machines
            self.audio.renderer.set_sensitivity(self.uv_per_div)

    def toggle_mute(self) -> None:
        if self.audio is not None:
            self.muted = not self.muted
            self.audio.renderer.set_mode("mute" if self.muted else "raw")

    def step_sensitivity(self, step: int) -> None:
        i = SENSITIVITIES.index(self.uv_per_div) if self.uv_per_div in SENSITIVITIES else 2
        self.uv_per_div = SENSITIVITIES[min(max(i + step, 0), len(SENSITIVITIES) - 1)]

    def step_sweep(self, step: int) -> None:
        i = SWEEPS.index(self.ms_per_div) if self.ms_per_div in SWEEPS else 3
        self.ms_per_div = SWEEPS[min(max(i + step, 0), len(SWEEPS) - 1)]

    def move_needle(self) -> None:
        if hasattr(self.session.device, "move_needle"):
            self.session.device.move_needle()

    def refresh(self, _dt: float) -> None:
        trace = self.ids.trace
        frames = int(trace.window_s * self.session.info.fs)
        samples, _ = self.session.ring.last(frames)
        trace.show(samples[:, 0] if samples.size else samples.reshape(0))
        s = self.session
        if s.status == "error":
            self.status_text, self.status_colour = f"ERROR: {s.last_error}", [1, 0.4, 0.4, 1]
        elif s.signal_age() > NO_SIGNAL_AFTER_S:
            self.status_text, self.status_colour = "NO SIGNAL", [1, 0.75, 0.3, 1]
        else:
            c = s.counters
            lost = f"  ·  {c.lost_frames} frames lost" if c.lost_frames else ""
            self.status_text, self.status_colour = f"{s.status}{lost}", [0.7, 0.8, 0.7, 1]
        self._sound_status()

    def _sound_status(self) -> None:
        audio = self.audio
        if audio is None:
            return
        lost = audio.check_speaker()
        if lost:
            Logger.warning("Needlepoint: %s", lost)  # once: the speaker is then let go
        if audio.speaker is None:
            self.sound_text = "NO SOUND"
        else:
            self.sound_text = f"sound {audio.delay_s() * 1000:.0f} ms"


class NeedlepointApp(App):
    title = "Needlepoint"

    def __init__(self, device_uri: str, sound: bool = True, **kw):
        super().__init__(**kw)
        self.device_uri = device_uri
        self.sound = sound
        self.session: LiveSession | None = None
        self.audio: AudioPath | None = None

    def build(self):
        from kivy.core.window import Window

        Window.clearcolor = (0.05, 0.06, 0.08, 1)
        device = make_device(self.device_uri)
        device.open()  # its rate, for the audio path
        if self.sound:
            self.audio = AudioPath(device.info.fs, sensitivity_uv=50)
            if self.audio.attach_speaker() is None:
                # Said once; the trace, the analyser and the logbook carry on silent.
                Logger.warning("Needlepoint: %s", self.audio.speaker_error)
        self.session = LiveSession(device, audio=self.audio).start()
        sm = ScreenManager()
        live = LiveScreen(self.session)
        sm.add_widget(live)
        Clock.schedule_interval(live.refresh, 1 / 60)
        return sm

    def on_stop(self):
        if self.session is not None:
            self.session.stop()
        if self.audio is not None:
            self.audio.close()
