"""The app with no sound output: it says so once, shows NO SOUND, and the trace, the
analyser and the session carry on. Runs the real Kivy app (offscreen GL without a display)
in a child process, as `needlepoint screenshot` does."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.uiutil import child_env

# In each script: wait for what is looked at, not for a time (a loaded machine starts the
# app in seconds), up to a minute.
WHEN = """
import time as _t
def when(ready, then, limit_s=60.0):
    from kivy.clock import Clock
    deadline = _t.monotonic() + limit_s
    def poll(_dt):
        if ready() or _t.monotonic() > deadline:
            then()
            return False
    Clock.schedule_interval(poll, 0.05)
"""

SCRIPT = WHEN + """
import json, logging, sys
from pathlib import Path
from app.ui.env import prepare_kivy
prepare_kivy(Path(sys.argv[1]))
import devices.speaker
devices.speaker.outputs = lambda: []  # a tablet with no sound output
from kivy.clock import Clock
from kivy.logger import Logger
said = []
class Catch(logging.Handler):
    def emit(self, record):
        if "no sound output" in record.getMessage():
            said.append(record.getMessage())
Logger.addHandler(Catch())
from app.ui.main import NeedlepointApp
app = NeedlepointApp("sim:denervated")
result = {}
def look():
    live = app.root.get_screen("live")
    result.update(sound=live.sound_text, chunks=app.session.counters.chunks,
                  status=app.session.status, said=said)
    app.stop()
when(lambda: app.session is not None and app.session.counters.chunks > 20
     and app.root.get_screen("live").sound_text, look)
app.run()
print("RESULT " + json.dumps(result))
"""


def _run(script: str, home) -> dict:
    """The app script in a child process (offscreen GL), and the JSON it printed."""
    done = subprocess.run([sys.executable, "-c", script, str(home / "kivy")],
                          env=child_env(home), capture_output=True, text=True, timeout=120,
                          cwd=home)
    line = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    assert line, done.stderr[-2000:]
    return json.loads(line[0][7:])


def test_no_output_device_is_said_once_and_the_app_carries_on(tmp_path):
    result = _run(SCRIPT, tmp_path)
    assert result["sound"] == "NO SOUND"
    assert len(result["said"]) == 1 and "--out" in result["said"][0]
    assert result["chunks"] > 20 and result["status"] == "streaming"


DAMAGED = WHEN + """
import json, sys
from pathlib import Path
from app.ui.env import prepare_kivy
prepare_kivy(Path(sys.argv[1]))
from kivy.clock import Clock
from app.ui.main import NeedlepointApp
app = NeedlepointApp("sim:denervated", sound=False, remember=False)
result = {}
def look():
    app.root.current = "history"
    result.update(screens=app.root.screen_names, chunks=app.session.counters.chunks,
                  message=app.root.get_screen("history").message)
    app.live.mark_injection()
    app.stop()
when(lambda: app.session is not None and app.session.counters.chunks > 20, look)
app.run()
print("RESULT " + json.dumps(result))
"""


def test_a_damaged_logbook_leaves_the_live_screen_working(tmp_path):
    (tmp_path / "logbook.db").write_bytes(b"this is not a database " * 100)
    result = _run(DAMAGED, tmp_path)
    assert result["chunks"] > 20 and "live" in result["screens"]
    assert "unavailable" in result["message"] and "not a Needlepoint logbook" in result["message"]
    assert (tmp_path / "logbook.db").read_bytes().startswith(b"this is not")  # untouched


FIRST = WHEN + """
import json, sys, time
from pathlib import Path
from app.ui.env import prepare_kivy
prepare_kivy(Path(sys.argv[1]))
import app.session.audio as audio
seen = {}
attach = audio.AudioPath.attach_speaker
def timed(self, *a, **k):
    seen.setdefault("sound", time.monotonic())
    return attach(self, *a, **k)
audio.AudioPath.attach_speaker = timed
from kivy.clock import Clock
from kivy.core.window import Window
Window.bind(on_flip=lambda *_: seen.setdefault("frame", time.monotonic()))
from app.ui.main import NeedlepointApp
app = NeedlepointApp("sim:denervated")
when(lambda: "sound" in seen and "frame" in seen, app.stop)
app.run()
print("RESULT " + json.dumps(seen))
"""


def test_the_sound_starts_before_the_first_frame_is_drawn(tmp_path):
    """The physician hears the needle as soon as there is anything to hear: the speaker is
    opened once the screens are built, before the first frame (it used to wait for two)."""
    seen = _run(FIRST, tmp_path)
    assert seen["sound"] < seen["frame"]
