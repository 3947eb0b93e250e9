"""The Procedure screen: set-up, injection entry and close/sign, one step at a time (an
inner screen manager). Marks from the live screen arrive here (`add_mark`): each is saved
at once with its EMG and its entry opens; made while locked, it waits for the next user.
The logic lives in app.workflow; this file only routes between the steps."""

from __future__ import annotations

from pathlib import Path

from kivy.lang import Builder
from kivy.properties import (
    BooleanProperty,
    NumericProperty,
    ObjectProperty,
    StringProperty,
)
from kivy.uix.screenmanager import Screen

import app.ui.close  # noqa: F401
import app.ui.entry  # noqa: F401
import app.ui.setup  # noqa: F401
import app.ui.snippet_view  # noqa: F401  (SnippetView, in procedure.kv)
from app.ui.widgets import switch_now
from app.workflow.procedure import KINDS, ProcedureFlow

Builder.load_file(str(Path(__file__).with_name("procedure.kv")))


class ProcedureScreen(Screen):
    step = StringProperty("setup")
    header = StringProperty("")
    user_text = StringProperty("")
    has_procedure = BooleanProperty(False)
    unassigned_count = NumericProperty(0)  # marks pressed with no procedure open
    unassigned_text = StringProperty("")
    unassigned_message = StringProperty("")
    unassigned_samples = ObjectProperty(None, allownone=True)  # its EMG, drawn beside it

    def __init__(self, flow: ProcedureFlow, access, on_queue=None, on_lock=None,
                 on_signed=None, clinic_joined: bool = False, **kw):
        self.flow = flow
        self.access = access
        self.on_signed = on_signed  # a signature: the clinic sync asked for a round
        self.clinic_joined = clinic_joined  # the dose check says when other rooms were seen
        self.on_queue = on_queue  # told how many marks wait (the lock shows it)
        self.on_lock = on_lock  # the app shows its PIN pad
        self._shown_mark: str | None = None
        self._shown_source = ""
        super().__init__(name="procedure", **kw)
        for name in ("setup", "entry", "close"):
            self.ids.steps.get_screen(name).ctx = self
        access.before_lock.append(self.ids.steps.get_screen("entry").commit_typed)

    def on_pre_enter(self, *_):
        self.refresh()

    def refresh(self) -> None:
        u = self.access.user
        self.user_text = u["name"] if u else ""
        p = self.flow.procedure
        pt = self.flow.patient
        self.has_procedure = p is not None
        self.header = (f"{pt['family_name']}  MRN {pt['mrn']}  ·  "
                       f"{KINDS.get(p['kind'], p['kind'])}: {p.get('indication') or ''}"
                       if p and pt else "New procedure")
        self._show_unassigned()
        current = self.ids.steps.current_screen
        if hasattr(current, "refresh") and current.ctx is not None:
            current.refresh()

    def lock_now(self) -> None:
        """Handing the tablet over: records hide until the next PIN."""
        self.access.lock()
        if self.on_lock is not None:
            self.on_lock()

    def user_id(self) -> str | None:
        return self.access.user["id"] if self.access.user else None

    def show(self, step: str) -> None:
        self.step = step
        switch_now(self.ids.steps, step)
        self.refresh()

    def started(self) -> None:
        self.refresh()

    def new_procedure(self) -> None:
        self.flow.procedure = None
        self.flow.patient = None
        self.flow.vials, self.flow.entries, self.flow.vial_id = [], [], None
        self.ids.steps.get_screen("setup").clear()
        self.ids.steps.get_screen("entry").entry = None
        self.show("setup")

    # -- marks ---------------------------------------------------------------------------
    def add_mark(self, mark) -> str:
        """From the live screen, for every completed mark: never refused, never lost.
        Returns what the live screen says of it: the record's injection number, or why it
        has none yet."""
        entry = self.flow.on_mark(mark, self.user_id())
        if entry is None:
            if self.on_queue is not None:
                self.on_queue(len(self.flow.queued))
            self.refresh()
            if self.flow.procedure is None:
                return "Mark kept, no procedure open (assign it on Procedure)"
            return "Mark kept, waiting for sign-in"
        self._opened(entry)
        return f"Injection {self.flow.entries.index(entry) + 1} marked"

    # -- marks pressed with no procedure open ---------------------------------------------
    def assign_unassigned(self) -> None:
        """The oldest unassigned mark made this procedure's injection (a user's choice)."""
        user, marks = self.user_id(), self.flow.unassigned()
        if user is None or not marks:
            return
        done = self.flow.assign(marks[0]["id"], user)
        if isinstance(done, str):
            self.unassigned_message = done
            return
        self.unassigned_message = ""
        self._opened(done)

    def discard_unassigned(self, reason: str) -> None:
        user, marks = self.user_id(), self.flow.unassigned()
        if user is None or not marks:
            return
        self.unassigned_message = self.flow.discard(marks[0]["id"], reason, user)
        if not self.unassigned_message:
            self.ids.discard_reason.text = ""
        self.refresh()

    def _show_unassigned(self) -> None:
        from app.logbook import localtime
        from app.session.activity import findings

        marks = self.flow.unassigned() if self.access.user else []
        self.unassigned_count = len(marks)
        if not marks:
            self.unassigned_text = ""
            self.unassigned_samples = None
            self._shown_mark = None
            return
        m = marks[0]
        if m["id"] != self._shown_mark:  # its EMG decoded once, not at every refresh
            snip = self.flow.lb.pending_snippet(m["id"])
            self._shown_mark, self._shown_source = m["id"], snip["provenance"]
            self.unassigned_samples = (snip["samples"][:, 0].astype("float32")
                                       * snip["uv_per_count"])
            self.ids.unassigned_emg.injection_index = snip["injection_index"]
        at = localtime.time_of_day(m["pressed_at"], seconds=True)
        words = "; ".join(findings(m.get("findings") or {})[:2])
        more = f" (+{len(marks) - 1} more)" if len(marks) > 1 else ""
        # Where the EMG came from first: what is cut short is never the word SIMULATED.
        self.unassigned_text = (f"{self._shown_source}. Mark pressed at {at} with no "
                                f"procedure open{more}: {words or 'EMG kept'}")

    def signed_in(self) -> None:
        """The next user after the lock: marks made meanwhile are saved and opened."""
        saved = self.flow.flush_queue(self.user_id())
        if saved:
            self._opened(saved[-1])
        self.refresh()

    def _opened(self, entry) -> None:
        panel = self.ids.steps.get_screen("entry")
        panel.open(entry)
        if self.ids.steps.current != "entry":
            switch_now(self.ids.steps, "entry")
            self.step = "entry"
        self.refresh()

    @property
    def rows(self) -> list[dict]:
        """What was marked this session, as text (the live screen's tests read it)."""
        from app.workflow.procedure import summary

        if self.flow.procedure is None or self.flow.queued:
            from app.session.activity import findings

            return [{"text": f"mark {n + 1} waiting for entry: "
                             + "; ".join(findings(m.findings or {}))}
                    for n, m in enumerate(self.flow.queued)]
        return [{"text": r["text"] + "  " + r["findings"]}
                for r in summary(self.flow.cat, self.flow.record())["injections"]]
