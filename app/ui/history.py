"""The History screen: patients (search as you type) or every procedure, newest first, in
recycled lists that stay smooth at 10 000 procedures; a patient's timeline with totals and
per-muscle charts over time; a procedure's detail with each injection's EMG snippet drawn
and playable, and the note exported. Queries are app.workflow.history's."""

from __future__ import annotations

import time
from pathlib import Path

from kivy.app import App
from kivy.clock import Clock
from kivy.core.text import Label as CoreLabel
from kivy.factory import Factory
from kivy.graphics import Color, Rectangle
from kivy.lang import Builder
from kivy.metrics import dp, sp
from kivy.properties import BooleanProperty, ListProperty, ObjectProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.widget import Widget

import app.ui.forms  # noqa: F401
from app.logbook import duplicates, localtime, wording
from app.ui import theme
from app.ui.charts import ChartCard, MuscleChart  # noqa: F401  (for history.kv)
from app.ui.snippet_view import SnippetView  # noqa: F401
from app.ui.widgets import OrientedScreen, switch_now
from app.workflow import history as queries
from app.workflow import outcomes
from app.workflow.playback import Player
from app.workflow.procedure import KINDS

Builder.load_file(str(Path(__file__).with_name("history.kv")))

CURSOR_EVERY_S = 1 / 30
AWAY = "EMG on the clinic server"  # a pulled snippet whose samples have not come yet


def _n(v) -> str:
    return "-" if v is None else str(v)


# Row words are rendered a few at a time: a jump down a 10 000-row list brings a screenful
# of new rows at once, and rendering them all in one frame would stall it. Rendered words
# are kept (by text) so scrolling back costs nothing.
TEXTURES_KEPT = 600
RENDER_BUDGET_S = 0.002
_TEXTURES: dict[str, object] = {}
_PENDING: dict = {}
_render_event = None


def _render_soon() -> None:
    global _render_event
    if _render_event is None:
        _render_event = Clock.schedule_once(_render_some, 0)


def _render_some(_dt) -> None:
    global _render_event
    _render_event = None
    start = time.perf_counter()
    while _PENDING and time.perf_counter() - start < RENDER_BUDGET_S:
        row = next(iter(_PENDING))
        del _PENDING[row]
        row.render()
    if _PENDING:
        _render_soon()


class HistRow(ButtonBehavior, Widget):
    """One row of a recycled list; the screen decides what a tap opens. Drawn as its text's
    own texture (as wide as the words, not the row) over a thin rule: on software GL every
    blended pixel of every row costs frame time while the list scrolls."""

    text = StringProperty("")
    row_id = StringProperty("")
    row_kind = StringProperty("")
    screen = ObjectProperty(None, allownone=True)

    def __init__(self, **kw):
        super().__init__(**kw)
        with self.canvas:
            self._rule_colour = Color(*theme.PANEL)
            self._rule = Rectangle()
            Color(*theme.TEXT)
            self._words = Rectangle()
        self.bind(pos=self._place, size=self._place, state=self._place)

    def on_text(self, *_):
        tex = _TEXTURES.get(self.text)
        self._words.texture = tex
        if tex is None:
            _PENDING[self] = None  # drawn within the next frames' budget
            _render_soon()
        self._place()

    def render(self) -> None:
        tex = _TEXTURES.get(self.text)
        if tex is None:
            core = CoreLabel(text=self.text, font_size=sp(17))
            core.refresh()
            tex = _TEXTURES[self.text] = core.texture
            while len(_TEXTURES) > TEXTURES_KEPT:
                _TEXTURES.pop(next(iter(_TEXTURES)))
        self._words.texture = tex
        self._place()

    def _place(self, *_):
        tex = self._words.texture
        down = self.state == "down"
        self._rule_colour.rgba = theme.CHOSEN if down else theme.PANEL
        self._rule.pos = self.pos
        self._rule.size = (self.width, self.height if down else dp(2))
        if tex is not None:
            w = min(tex.width, self.width - dp(16))
            self._words.size = (w, tex.height)
            self._words.tex_coords = (0, 1, w / tex.width, 1, w / tex.width, 0, 0, 0)
            self._words.pos = (self.x + dp(8), self.center_y - tex.height / 2)

    def on_release(self):
        if self.screen is not None:
            self.screen.open_row(self.row_kind, self.row_id)


def lot_rows(lb, text: str, screen) -> tuple[list[dict], str]:
    """Lot recall on the list page: one row per injection that received the lot (a tap opens
    its procedure) and the recall's first line as the note."""
    from app.logbook import recall

    if not text.strip():
        return [], "Type a lot number: every patient and injection that received it"
    found = lb.lot_recall(text)
    names = {k: m["name"] for k, m in lb.cat.muscles.items()}
    rows = []
    for prod in found["products"]:
        for p in prod["patients"]:
            for i in p["injections"]:
                dose = wording.dose(i)
                rows.append({"text": f"{localtime.date(i['at'])}  {p['name']}  MRN {p['mrn']}   "
                                     f"{prod['product']} lot {i['lot']}  "
                                     f"{names.get(i['muscle'], i['muscle'] or 'muscle ?')} "
                                     f"{i['side'] or ''} {dose}",
                             "row_id": i["procedure_id"], "row_kind": "procedure",
                             "screen": screen})
    return rows, recall.text(found).splitlines()[0]


class HistoryScreen(OrientedScreen):
    rows = ListProperty([])
    note = StringProperty("")
    mode = StringProperty("patients")  # or "procedures", or "lot" (recall)
    page = StringProperty("list")
    patient_title = StringProperty("")
    duplicate_text = StringProperty("")  # the patient's open possible duplicates, if any
    detail_title = StringProperty("")
    detail_text = StringProperty("")
    snippet_text = StringProperty("")
    sound_text = StringProperty("")
    export_message = StringProperty("")
    snippet_away = StringProperty("")  # drawn where the trace would be: AWAY, or nothing
    snippet_open = BooleanProperty(False)  # portrait: the snippet's room only once opened

    def __init__(self, lb=None, access=None, **kw):
        self.lb = lb
        self.access = access
        super().__init__(name="history", **kw)
        self.patient_id: str | None = None
        self.procedure_id: str | None = None
        self.player: Player | None = None
        self._cursor_ev = None
        self._played = 0.0

    def on_pre_enter(self, *_):
        if self.page == "list":
            self.reload()

    def on_leave(self, *_):
        self.stop()

    # -- lists ----------------------------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        self.mode = mode
        self.reload()

    def reload(self, *_):
        if self.lb is None:
            self.rows, self.note = [], "No logbook open."
            return
        text = self.ids.search.text if "search" in self.ids else ""
        if self.mode == "patients":
            found = queries.patients(self.lb, text)
            self.rows = [{"text": f"{p['family_name']}, {p.get('given_name') or ''}   MRN "
                                  f"{p['mrn']}   {p['procedures']} procedure(s)   last "
                                  f"{localtime.date(p['last'])}", "row_id": p["id"],
                          "row_kind": "patient", "screen": self} for p in found]
            self.note = f"{len(found)} patient(s)"
        elif self.mode == "lot":
            self.rows, self.note = lot_rows(self.lb, text, self)
        else:
            found = queries.all_procedures(self.lb)
            t = text.strip().lower()
            if t:
                found = [r for r in found if r["mrn"].lower().startswith(t)
                         or (r.get("family_name") or "").lower().startswith(t)]
            self.rows = [{"text": queries.procedure_row_text(r), "row_id": r["id"],
                          "row_kind": "procedure", "screen": self} for r in found]
            self.note = f"{len(found)} procedure(s), newest first"

    def open_row(self, kind: str, row_id: str) -> None:
        if kind == "patient":
            self.open_patient(row_id)
        else:
            self.open_procedure(row_id)

    def go(self, page: str) -> None:
        self.stop()
        self.page = page
        switch_now(self.ids.pages, page)

    def back(self) -> None:
        """From a procedure to its patient's page, read again (outcomes tapped on the
        procedure show in the charts and change lines), or to the list."""
        if self.patient_id and self.patient_title:
            self.open_patient(self.patient_id)
        else:
            self.go("list")

    # -- a patient ------------------------------------------------------------------------
    def open_patient(self, patient_id: str, switch: bool = True) -> None:
        self.patient_id = patient_id
        tl = queries.timeline(self.lb, patient_id)
        pt = tl["patient"]
        self.patient_title = (f"{pt['family_name']}, {pt.get('given_name') or ''}  MRN "
                              f"{pt['mrn']}  born {pt.get('birth_date') or '?'}")
        found = self.lb.possible_duplicates(patient_id)
        self.duplicate_text = "\n".join(
            [duplicates.line(d) for d in found]
            + ["A person decides in set-up, where the patient is chosen."]) if found else ""
        box = self.ids.timeline
        box.clear_widgets()
        for r in tl["procedures"]:
            pain = r["pain"]
            b = Factory.NpPick(text=f"{r['date']}  {r['kind']}  {r['injections']} inj  "
                                    f"{r['totals']}  pain {_n(pain[0])}->{_n(pain[1])}"
                                    f"{'' if r['signed'] else '  OPEN'}")
            b.halign = "left"
            b.procedure_id = r["id"]
            b.bind(on_release=lambda btn: self.open_procedure(btn.procedure_id))
            box.add_widget(b)
        charts = self.ids.charts
        for card in [w for w in charts.children if isinstance(w, ChartCard)]:
            charts.remove_widget(card)  # the legend above them stays
        for _key, s in sorted(queries.muscle_series(self.lb, patient_id,
                                                   tl["records"]).items()):
            pts = s["points"]
            charts.add_widget(Factory.ChartCard(
                title=s["title"], note=queries.chart_note(pts),
                change=queries.change_line(self.lb.cat, pts),
                xs=queries.date_positions([p["date"] for p in pts]),
                dates=[p["date"] for p in pts], strips=queries.chart_strips(self.lb.cat, pts)))
        latest = tl["records"][-1:] if tl["records"] else []
        self.ids.followup.rows = [r for rec in latest
                                  for r in outcomes.rows(self.lb.cat, rec, "followup")
                                  if r["obs"]["scale"] == "pain_nrs"]
        self.ids.followup.message = ""
        if switch:
            self.go("patient")

    # -- outcomes: taps saved at once, each a value or a linked correction ---------------
    def _fill_outcomes(self, rec: dict) -> None:
        self.ids.outcomes_followup.rows = outcomes.rows(self.lb.cat, rec, "followup")
        self.ids.outcomes_visit.rows = outcomes.rows(self.lb.cat, rec, "before")

    def _user(self, panel) -> str | None:
        if not self.access or not self.access.user:
            panel.message = "Sign in to record outcomes"
            return None
        return self.access.user["id"]

    def pick_outcome(self, panel, row: dict, choice: str) -> None:
        user = self._user(panel)
        if user is None:
            return
        msg = outcomes.save(self.lb, row, choice, user)
        self._after_outcome(panel, row["obs"]["procedure_id"], msg)

    def set_goal(self, panel, text: str, level: str) -> None:
        user = self._user(panel)
        if user is not None:
            self._after_outcome(panel, self.procedure_id,
                                outcomes.set_goal(self.lb, self.procedure_id, text, level,
                                                  user))

    def _after_outcome(self, panel, procedure_id: str, msg: str) -> None:
        """Show the saved value where it was tapped (the page stays where it is)."""
        if panel is self.ids.followup:
            self.open_patient(self.patient_id, switch=False)
        else:
            self._fill_outcomes(self.lb.procedure(procedure_id))
        panel.message = msg or "Saved."

    # -- a procedure ----------------------------------------------------------------------
    def open_procedure(self, procedure_id: str) -> None:
        self.procedure_id = procedure_id
        rec = self.lb.procedure(procedure_id)
        s = queries.detail(self.lb.cat, rec)
        pt = rec["patient"]
        self.detail_title = (f"{localtime.date_time(rec['started_at'])}  "
                             f"{pt['family_name']}"
                             f"  MRN {pt['mrn']}  {KINDS.get(rec['kind'], rec['kind'])}")
        users = {u["id"]: u for u in self.lb.users()}
        self.detail_text = ("   ".join(t["text"] for t in s["totals"]) or "No drug") + \
            f"\nPain {_n(s['pain_before'])} -> {_n(s['pain_after'])}" + \
            (f", follow-up {', '.join(map(str, s['followup_pain']))}" if s["followup_pain"]
             else "") + f".  Units wasted {s['wasted_units']:g}." + \
            ("  Signed." if s["signed"] else "  Not signed.") + \
            (f"  {len(s['amendments'])} amendment(s):" if s["amendments"] else "") + \
            "".join("\n" + wording.amendment(a, users, rec.get("signed_by"), rec, local=True)
                    for a in rec["amendments"])  # seen at once, without scrolling
        box = self.ids.injections
        box.clear_widgets()
        for r in s["injections"]:
            b = Factory.NpPick(text=_with_source(r), shorten=False, halign="left")
            # wrapped, as tall as its lines: the dose and the EMG's source are the point
            b.bind(texture_size=lambda btn, ts: setattr(btn, "height",
                                                        max(dp(52), ts[1] + dp(14))))
            b.injection_id = r["id"]
            b.findings = r["findings"]
            b.bind(on_release=lambda btn: self.open_snippet(btn.injection_id, btn.findings))
            box.add_widget(b)
        self.ids.record_lines.text = "\n".join(queries.record_lines(self.lb.cat, rec, users))
        self._fill_outcomes(rec)
        self.ids.snippet.samples_uv = None
        self.snippet_open = False
        self.snippet_away = ""
        self.snippet_text, self.sound_text, self.export_message = (
            "Tap an injection marked [EMG] to see its snippet.", "", "")
        self.ids.detail_scroll.scroll_y = 1  # from its top, not where the last one was left
        self.go("detail")

    def open_snippet(self, injection_id: str, findings_text: str = "") -> None:
        self.stop()
        snip = self.lb.snippet(injection_id)
        view = self.ids.snippet
        self.snippet_away = ""
        if snip is None:
            view.samples_uv = None
            self.snippet_open = False
            self.snippet_text = "No EMG was kept with this injection."
            return
        self._snip = snip
        self.snippet_open = True
        if snip.get("on_clinic_server"):  # pulled from another room, its EMG not yet here
            view.samples_uv = None
            self.snippet_away = AWAY
            self.snippet_text = (f"{snip['provenance']}. The EMG of this injection is on the "
                                 "clinic server: the next sync brings it here. "
                                 f"{findings_text}")
            return
        self.snippet_away = ""
        view.injection_index = snip["injection_index"]
        view.samples_uv = snip["samples"][:, 0].astype("float32") * snip["uv_per_count"]
        at = snip["injection_index"] / snip["fs"]
        scale = (f"{snip['uv_per_count']:g} uV/count" if snip.get("calibrated") is True
                 else "uncalibrated: the microvolts drawn are a guess")
        self.snippet_text = (f"{snip['provenance']}. {snip['frames'] / snip['fs']:.1f} s at "
                             f"{snip['fs'] / 1000:g} kHz, {scale}; "
                             f"injection at {at:.1f} s (amber line), {view.scale_text}. "
                             f"{findings_text}")

    def play(self) -> None:
        snip = getattr(self, "_snip", None)
        if snip is None or self.ids.snippet.samples_uv is None:
            self.sound_text = self.snippet_away or "Open a snippet first"
            return
        app = App.get_running_app()
        audio = getattr(app, "audio", None)
        if self.player is None:
            output = getattr(getattr(app, "settings", None), "output", None) or None
            self.player = Player(audio, output)
        volume = getattr(getattr(app, "live", None), "volume", 0.6)
        self.sound_text = self.player.play(snip, volume=volume) or "playing"
        self._played = 0.0
        self._cursor_ev = Clock.schedule_interval(self._sweep, CURSOR_EVERY_S)

    def _sweep(self, dt: float):
        self._played += dt
        seconds = self.player.seconds if self.player else 0
        if not seconds or self._played >= seconds:
            self.stop()
            return False
        self.ids.snippet.cursor = self._played / seconds
        return True

    def stop(self) -> None:
        if self._cursor_ev is not None:
            self._cursor_ev.cancel()
            self._cursor_ev = None
        if self.player is not None:
            self.player.stop()
        if "snippet" in self.ids:
            self.ids.snippet.cursor = -1

    def export(self, kind: str) -> None:
        from app.ui.close import export_dir

        out = export_dir() / self.procedure_id[:8] / kind
        self.export_message = queries.export_message(self.lb, self.procedure_id, kind, out)


def _with_source(row: dict) -> str:
    """An injection's line with its EMG's source at the end, which a line shortened in its
    middle keeps: simulated or replayed EMG never passes for the patient's, nor counts for
    microvolts."""
    if not row["has_snippet"]:
        return row["text"]
    words = row["provenance"]
    tag = ("SIMULATED EMG" if words.startswith("SIMULATED") else
           "REPLAYED EMG" if words.startswith("REPLAY") else
           "EMG, source?" if words == "source not recorded" else "EMG")
    if "uncalibrated" in words:
        tag += ", counts"
    return f"{row['text']}   [{tag}]"
