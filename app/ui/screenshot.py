"""The offscreen render behind `needlepoint screenshot`: the app in a window of the given
size, the screen arranged, the signal run for a while, then the window saved as a PNG.
The device is the app's own business: one that cannot be opened is pictured as the app
shows it (not connected), and the remembered settings are left as they were."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from devices.files import atomic_write


def take(device: str, out: Path, width: int, height: int, seconds: float, *,
         screen: str = "live", preset: str = "spontaneous", trace: str = "sweep",
         demo: bool = False, density: float | None = None,
         widgets: Path | None = None) -> str:
    """Returns what the live screen was on when pictured: "live" with the source's label,
    or the not-connected state and its reason. With `widgets`, the visible buttons',
    labels' and sliders' texts and rectangles go there as JSON (app.ui.layout)."""
    from app.ui.display import prepare_display
    from app.ui.env import prepare_kivy
    from devices.files import home

    prepare_kivy(home())
    os.environ.setdefault("KIVY_WINDOW_ICON", "")
    _, source = prepare_display(density=density, size=(width, height))
    from kivy.clock import Clock

    from app.ui.main import NeedlepointApp

    # A picture needs no speaker, and must not become the tablet's remembered settings.
    app = NeedlepointApp(device, sound=False, preset=preset, remember=False)

    signed_in = _demo_logbook() if demo else None

    def arrange(_dt):
        app.root.get_screen("live").ids.trace.mode = "sweep" if trace == "frozen" else trace
        if signed_in is not None and app.access is not None:
            app.access.sign_in(signed_in, DEMO_PIN)
            app._signed_in()
        # patient: the demo patient's timeline and charts; detail: its procedure's
        # injections with their EMG snippets (both on the history screen, --demo only).
        # entry: a new procedure for the demo patient, last time's plan offered, one
        # injection filled as last time and another muscle chosen (--demo only).
        app.root.current = ("history" if screen in ("patient", "detail") else
                            "procedure" if screen == "entry" else screen)
        if screen == "entry" and app.lb is not None:
            _demo_entry(app, signed_in)
        if screen in ("patient", "detail") and app.lb is not None:
            history = app.root.get_screen("history")
            proc = app.lb.procedures(limit=1)[0]
            history.open_patient(proc["patient_id"])
            if screen == "detail":
                history.open_procedure(proc["id"])
                first = app.lb.procedure(proc["id"])["injections"][0]
                history.open_snippet(first["id"])

    def freeze(_dt):
        # Frozen with two cursors a few divisions apart, as a physician measures.
        t = app.root.get_screen("live").ids.trace
        t.frozen = True
        t.place_cursor(t.width * 0.3, t.height * 0.5)
        t.place_cursor(t.width * 0.45, t.height * 0.5)

    def shoot(_dt, waited: float = 0.0):
        from kivy.core.window import Window
        from kivy.metrics import Metrics

        from app.ui.connect import CONNECTING

        if ((_in_transition(app.root) or app.connection.state == CONNECTING
             or Clock.frames_displayed < FRAMES_FIRST) and waited < TRANSITION_WAIT_S):
            # On a loaded machine a screen's slide outlasts the set time: a picture taken
            # then holds two screens over each other; the first frames (software GL, every
            # label's texture made at once) may not be drawn yet: the picture was black;
            # and the device, opened off the main thread, may not have answered: the
            # picture is of the screen once it has (live or not connected).
            Clock.schedule_once(lambda dt: shoot(dt, waited + 0.1), 0.1)
            return

        with tempfile.TemporaryDirectory(prefix="needlepoint-shot-") as tmp:
            # Window.screenshot names its own file (shot0001.png, the first number free):
            # it draws into a scratch folder, and the picture goes to `out` from there.
            made = Window.screenshot(str(Path(tmp) / "shot.png"))
            # Readable by all (less the umask), as before: a picture for the docs, of the
            # simulator or the demo's made-up patient (only --demo signs in).
            with atomic_write(out, 0o644, binary=True) as f:
                f.write(Path(made).read_bytes())
        if widgets is not None:
            from app.ui.layout import visible_widgets

            listed = {"size": [Window.width, Window.height], "density": Metrics.density,
                      "density_source": source, "screen": app.root.current,
                      "widgets": visible_widgets(app.root)}
            with atomic_write(widgets, 0o644) as f:
                json.dump(listed, f, indent=1)
        conn = app.connection
        if conn.state == "live":
            label = app.root.get_screen("live").ids.trace.source_label
            shown.append(f"live{': ' + label if label else ''}")
        else:
            shown.append(f"{conn.state}: {conn.reason}" if conn.reason else conn.state)
        app.stop()

    Clock.schedule_once(arrange, 0)
    if trace == "frozen":
        Clock.schedule_once(freeze, max(seconds - 0.5, 0.1))
    shown: list[str] = []
    Clock.schedule_once(shoot, seconds)
    app.run()
    return shown[0] if shown else "not pictured"


def _demo_entry(app, doc_id: str) -> None:
    """Today's procedure for the demo patient, on the entry step: a BOTOX vial, the first
    injection filled from last time's plan, the second with a muscle chosen."""
    import datetime

    screen = app.root.get_screen("procedure")
    flow = screen.flow
    flow.patient = app.lb.patient(app.lb.procedures(limit=1)[0]["patient_id"])
    flow.start({"kind": "botulinum", "indication": "cervical dystonia",
                "physician_id": doc_id, "pain_before": "5", "timeout_identity": 1,
                "timeout_consent": 1, "timeout_side": 1}, doc_id)
    made = datetime.datetime.now().astimezone() - datetime.timedelta(minutes=10)
    flow.add_vial({"product": "onabotulinumtoxinA", "vial_units": "100", "diluent_ml": "2",
                   "lot": "C7731", "expiry": "2030-06",
                   "reconstituted_at": made.strftime("%H:%M")}, doc_id)
    flow.fill_from_plan(flow.new_entry(doc_id), flow.plan[0], doc_id)
    second = flow.new_entry(doc_id)
    flow.set_field(second, "muscle", "trapezius_upper", doc_id)
    screen.show("entry")
    entry = screen.ids.steps.get_screen("entry")
    entry.open(second)
    entry.pick_region("cervical")


DEMO_PIN = "1234"  # app.logbook.demo's physician
TRANSITION_WAIT_S = 10.0
FRAMES_FIRST = 3  # frames drawn before a picture is taken


def _in_transition(root) -> bool:
    from kivy.uix.screenmanager import ScreenManager

    return any(isinstance(w, ScreenManager) and w.transition.is_active for w in root.walk())


def _demo_logbook() -> str:
    """A fresh home holding the demo patient's earlier visits and today's demo procedure
    (one injection amended after signing); returns the demo physician's id."""
    from app.logbook import Logbook, demo

    home = tempfile.mkdtemp(prefix="needlepoint-screenshot-")
    os.environ["NEEDLEPOINT_HOME"] = home  # read when the app opens its logbook
    lb = Logbook(Path(home) / "logbook.db")
    try:
        doc, nurse = demo.users(lb)
        pt = demo.patient(lb, nurse["id"])
        demo.history(lb, pt["id"])  # earlier visits, so the patient page has a history
        today = demo.procedure(lb, patient_id=pt["id"])
        demo.amendment(lb, today["id"])  # so the detail shows an amendment's lines
        for scale, value in (("twstrs_severity", 18), ("twstrs_disability", 12),
                             ("twstrs_pain", 8)):  # at today's visit, cervical dystonia
            lb.add_observation(today["id"], {"scale": scale, "timepoint": "before",
                                             "value": value}, doc["id"])
        return doc["id"]
    finally:
        lb.close()
