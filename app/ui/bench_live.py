"""The child process of `needlepoint bench live` (app/bench/live.py starts it):

    python -m app.ui.bench_live ui|noui SECONDS SCENARIO

runs the whole Kivy app (`ui`) or the reader thread and the speaker alone (`noui`) on the
scenario for SECONDS, and prints one line `RESULT {json}`. It lives under app/ui because
the `ui` run imports Kivy; the `noui` run never does.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from app.bench.live import BLOCK, FS_OUT, SETTLE_S, Recorder, hook_audio_push, measure, run_plain


def child_main(mode: str, seconds: float, scenario: str) -> None:
    rec = Recorder()
    hook_audio_push(rec)
    run = run_ui if mode == "ui" else run_plain
    session, audio, speaker = run(rec, seconds, scenario)
    result = measure(rec, session, audio, speaker, seconds, mode == "ui", time.monotonic())
    print("RESULT " + json.dumps(result), flush=True)
    os._exit(0)  # PortAudio teardown is not part of the measurement


def run_ui(rec: Recorder, seconds: float, scenario: str):
    """The whole app for `seconds`; returns its session, audio path and speaker (kept
    by the recorder: the app lets go of it on stopping)."""
    from app.ui.env import prepare_kivy

    prepare_kivy(Path(os.environ["NEEDLEPOINT_HOME"]))
    from kivy.config import Config

    Config.set("graphics", "width", "1280")
    Config.set("graphics", "height", "800")
    from kivy.clock import Clock

    from app.ui.main import NeedlepointApp

    class Benched(NeedlepointApp):
        def build(self):
            root = super().build()
            rec.wrap_trace(self.live.ids.trace)
            return root

    app = Benched(scenario, sound=True, remember=False, preset="botulinum")

    def settle(_dt):
        # The app starts its sound once its screen is up: the first second counts from then.
        if app.session is None:
            return None  # (its device opens off the main thread)
        speaker = app.session.audio.speaker
        if speaker is not None and speaker.calls * BLOCK >= SETTLE_S * FS_OUT:
            rec.settled(app.session.audio, speaker)
            return False
        return None

    Clock.schedule_interval(settle, 0.02)
    Clock.schedule_once(lambda _dt: app.stop(), seconds)
    app.run()
    app.session.stop()
    return app.session, app.session.audio, rec.speaker


if __name__ == "__main__":
    child_main(sys.argv[1], float(sys.argv[2]), sys.argv[3])
