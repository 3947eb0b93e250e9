"""Injection entry, opened by each mark (button or pedal) on the live screen: the muscle by
region with search and the patient's usual muscles first, side, site, units (volume
computed) or volume (units computed), guidance, the analyser's findings, twitch, adverse
event. A field is saved once, when it is confirmed (a pick, Enter, the focus leaving, or
the entry closing), never per keystroke; a dose's warning is recorded with it. The running
totals against the limits stay in view; a warning is overridden only with a reason, by a
physician."""

from __future__ import annotations

from pathlib import Path

from kivy.factory import Factory
from kivy.lang import Builder
from kivy.properties import (
    BooleanProperty,
    ListProperty,
    NumericProperty,
    ObjectProperty,
    StringProperty,
)
from kivy.uix.boxlayout import BoxLayout

import app.ui.forms  # noqa: F401
from app.ui.forms import MESSAGE_COLOUR, PinGate
from app.ui.widgets import OrientedScreen
from app.workflow.needle import text as needle_text
from app.workflow.plan import item_text

Builder.load_file(str(Path(__file__).with_name("entry.kv")))

REGIONS = [("usual", "Usual"), ("cervical", "Neck"), ("upper_limb", "Arm"),
           ("lower_limb", "Leg"), ("trunk", "Trunk"), ("face", "Face")]
ENTRY_FIELDS = {"site": "site", "units": "units", "volume": "volume_ml",
                "adverse": "adverse_event"}
OVER_COLOUR = (1, 0.45, 0.4, 1)


class EntryPanel(OrientedScreen):
    ctx = ObjectProperty(None)
    entry = ObjectProperty(None, allownone=True)
    number = NumericProperty(0)
    region = StringProperty("usual")
    muscle = StringProperty("")
    muscle_name = StringProperty("Choose a muscle")
    muscle_message = StringProperty("")
    side = StringProperty("")
    guidance = StringProperty("emg")
    twitch = BooleanProperty(False)
    findings_text = StringProperty("")
    totals = ListProperty([])  # [(text, colour)]
    is_physician = BooleanProperty(False)
    trigger = BooleanProperty(False)
    void_message = StringProperty("")
    dose_note = StringProperty("")  # "other rooms last seen 09:12 (UTC+01:00)", or nothing
    voided = BooleanProperty(False)  # struck through; its fields take no edit
    vial_message = StringProperty("")
    plan_message = StringProperty("")
    has_plan = BooleanProperty(False)
    muscles_cue = StringProperty("")
    needle_text = StringProperty("")
    needle_open = BooleanProperty(False)

    def __init__(self, **kw):
        super().__init__(name="entry", **kw)
        self._syncing = False
        self._gate = PinGate()

    def on_pre_enter(self, *_):
        if self.ctx is not None:
            self.refresh()

    def refresh(self) -> None:
        flow = self.ctx.flow
        self.is_physician = self.ctx.access.role() == "physician"
        self.trigger = bool(flow.procedure) and flow.procedure["kind"] != "botulinum"
        if self.entry is None and flow.entries:
            self.entry = flow.entries[-1]
        self._fill_list()
        self.show(self.entry)

    # -- which injection ---------------------------------------------------------------
    def _fill_list(self) -> None:
        box = self.ids.injections
        box.clear_widgets()
        for n, e in enumerate(self.ctx.flow.entries, 1):
            b = Factory.NpPick(text=str(n), chosen=e is self.entry, size_hint_x=None,
                               width=56 * self._dp())
            b.entry = e
            b.bind(on_release=lambda btn: self.open(btn.entry))
            box.add_widget(b)

    def _fill_vials(self, entry, rec: dict | None) -> None:
        """The procedure's vials, the injection's own chosen: one tap draws it from
        another. With no vial on the injection yet, it asks for one. (`rec`: the record as
        this refresh read it.)"""
        flow, box = self.ctx.flow, self.ids.vials
        box.clear_widgets()
        own = flow.vial_of(entry) if entry is not None else None
        if entry is not None and own is None and flow.vials:
            self.vial_message = "Choose the vial this injection was drawn from"
        elif not flow.vials:
            self.vial_message = "No vial yet: add one in Set-up"
        else:
            self.vial_message = ""
        labels = flow.vial_labels(rec) if flow.vials else {}
        for v in flow.vials:
            b = Factory.NpPick(text=labels[v["id"]],
                               chosen=own is not None and own["id"] == v["id"])
            b.vial_id = v["id"]
            b.bind(on_release=lambda btn: self.choose_vial(btn.vial_id))
            box.add_widget(b)

    def choose_vial(self, vial_id: str) -> None:
        user = self.ctx.user_id()
        if user is None or self.entry is None or self.voided:
            return
        self.commit_typed()
        flow, entry = self.ctx.flow, self.entry
        self.vial_message = flow.set_vial(entry, vial_id, user)
        typed = entry.text.get("units")
        if not self.vial_message and typed and entry.messages.get("units"):
            # Units typed before the injection had a vial: taken now, with its dilution.
            entry.messages["units"] = flow.set_field(entry, "units", typed, user)
        self.show(entry)

    @staticmethod
    def _dp() -> float:
        from kivy.metrics import dp

        return dp(1)

    def open(self, entry) -> None:
        """Show one injection (the newest mark opens itself); what was typed into the one
        left and not yet confirmed is confirmed as it leaves."""
        if self.entry is not entry:
            self.commit_typed()
        self.entry = entry
        self._fill_list()
        self.show(entry)

    def add_without_mark(self) -> None:
        user = self.ctx.user_id()
        if user and self.ctx.flow.procedure:
            self.open(self.ctx.flow.new_entry(user))

    def show(self, entry) -> None:
        flow = self.ctx.flow
        self.number = (flow.entries.index(entry) + 1) if entry in flow.entries else 0
        self.voided = flow.is_voided(entry) if entry is not None else False
        rec = self._record()
        self._fill_vials(entry, rec)
        t = entry.text if entry else {}
        m = entry.messages if entry else {}
        self._syncing = True
        try:
            for wid, name in ENTRY_FIELDS.items():
                self.ids[wid].show(t.get(name, ""), m.get(name, ""))
        finally:
            self._syncing = False
        self.muscle = t.get("muscle") or ""
        self.muscle_name = (flow.cat.muscles[self.muscle]["name"] if self.muscle in
                            flow.cat.muscles else "Choose a muscle")
        self.muscle_message = m.get("muscle", "")
        self.side = t.get("side") or ""
        self.guidance = t.get("guidance") or "emg"
        self.twitch = bool(t.get("twitch"))
        words = []
        emg = flow.emg_of(entry) if entry is not None else None
        if emg is not None:
            from app.logbook.provenance import label
            from app.session.activity import findings

            # Where the EMG came from first: simulated or replayed EMG never passes for the
            # patient's; an uncalibrated amplifier's words leave out what needs microvolts.
            words = [label(emg["kind"], emg["uri"], emg["calibrated"])] + findings(
                emg["findings"], calibrated=emg["calibrated"] is not False)
        self.findings_text = ("EMG at the mark: " + "; ".join(words)) if words else (
            "No EMG mark for this injection" if entry else
            "No injection yet: press MARK INJECTION or the pedal on the live screen")
        self.filter_muscles(self.ids.msearch.text)
        self._update_dose(rec)
        self._fill_plan(rec)
        self._fill_quick_units()
        self._fill_needle()

    # -- as last time, and quick picks -----------------------------------------------------
    def _fill_plan(self, rec: dict | None = None) -> None:
        """Last time's plan beside the running total: one tap fills muscle, side and
        units; each item says how much of it is given today."""
        flow, box = self.ctx.flow, self.ids.plan
        box.clear_widgets()
        progress = flow.plan_progress(rec)
        self.has_plan = bool(progress)
        for item, done in progress:
            side = {"left": "L ", "right": "R ", "midline": "mid "}.get(item.side or "", "")
            name = flow.cat.muscles.get(item.muscle, {}).get("name", item.muscle)
            dose_text = f"{item.per_site:g} U" if item.per_site else "no units"
            b = Factory.NpPickWrap(
                text=f"{name}\n{side}{dose_text} · {done:g} of {item.units:g} U today",
                chosen=done >= item.units > 0, size_hint_x=None, width=self._dp() * 230)
            b.size_hint_y = 1
            b.item = item
            b.bind(on_release=lambda btn: self.as_last_time(btn.item))
            box.add_widget(b)

    def as_last_time(self, item) -> None:
        user = self.ctx.user_id()
        if user is None or self.voided:
            return
        if self.entry is None:
            self.add_without_mark()
            if self.entry is None:
                return
        self.commit_typed()
        self.plan_message = self.ctx.flow.fill_from_plan(self.entry, item, user)
        self.show(self.entry)

    def _fill_needle(self) -> None:
        """Gauge and length buttons, the procedure's needle chosen."""
        flow = self.ctx.flow
        self.needle_text = needle_text(flow.needle)
        choices = flow.needles
        for box, key, values, unit in ((self.ids.gauges, "gauge", choices.gauges, "G"),
                                       (self.ids.lengths, "length_mm", choices.lengths_mm,
                                        " mm")) if choices else ():
            box.clear_widgets()
            for v in values:
                b = Factory.NpPick(text=f"{v:g}{unit}", chosen=flow.needle.get(key) == v)
                b.bind(on_release=lambda btn, k=key, v=v: self.choose_needle(k, v))
                box.add_widget(b)

    def choose_needle(self, key: str, value) -> None:
        user = self.ctx.user_id()
        if user is None or self.ctx.flow.procedure is None:
            return
        self.plan_message = self.ctx.flow.set_needle(self.entry, user, **{key: value})
        self._fill_needle()

    def _fill_quick_units(self) -> None:
        box = self.ids.quick_units
        box.clear_widgets()
        for u in self.ctx.flow.quick_units(self.entry):
            b = Factory.NpPick(text=f"{u:g} U", chosen=self.entry is not None and
                               self.entry.text.get("units") == f"{u:g}")
            b.units = u
            b.bind(on_release=lambda btn: self.pick_units(btn.units))
            box.add_widget(b)

    def pick_units(self, units: float) -> None:
        if self.entry is None or self.voided:
            return
        self.ids.units.show(f"{units:g}")
        self.edit("units", f"{units:g}")
        self._fill_quick_units()

    def _record(self) -> dict | None:
        """The procedure's record, read once for a refresh's vials and totals alike."""
        flow = self.ctx.flow
        return flow.record() if flow.procedure is not None else None

    # -- fields ------------------------------------------------------------------------
    def commit_typed(self) -> None:
        """The entry closes (another opens, the screen is left, the tablet locks): each
        field typed into and not yet confirmed is confirmed now, once."""
        if self.entry is None or self.voided:
            return
        for wid in ENTRY_FIELDS:
            self.ids[wid].confirm()

    def on_pre_leave(self, *_):
        self.commit_typed()

    def preview(self, name: str, text: str) -> None:
        """As units or volume are typed: the other, from the vial's dilution, under the
        field; nothing is saved until the value is confirmed."""
        if self._syncing or self.entry is None or self.voided:
            return
        wid = {v: k for k, v in ENTRY_FIELDS.items()}[name]
        self.ids[wid].note = self.ctx.flow.preview(self.entry, name, text)

    def edit(self, name: str, text) -> None:
        if self._syncing or self.entry is None or self.voided:
            return
        user = self.ctx.user_id()
        if user is None:
            return
        msg = self.ctx.flow.set_field(self.entry, name, text, user)
        if name in ("units", "volume_ml"):
            other = "volume" if name == "units" else "units"
            self._syncing = True
            try:
                self.ids[other].show(self.entry.text.get(ENTRY_FIELDS[other], ""),
                                     self.entry.messages.get(ENTRY_FIELDS[other], ""))
            finally:
                self._syncing = False
        wid = {v: k for k, v in ENTRY_FIELDS.items()}.get(name)
        if wid:
            self.ids[wid].message = msg
            self.ids[wid].note = ""
        if name == "muscle":
            self.muscle_message = msg
        if name in ("muscle", "side", "units", "volume_ml"):
            rec = self._record()
            if name in ("units", "volume_ml"):
                self._fill_vials(self.entry, rec)  # units left in each vial
            self._update_dose(rec)

    def choose_muscle(self, muscle_id: str) -> None:
        self.muscle = muscle_id
        self.muscle_name = self.ctx.flow.cat.muscles[muscle_id]["name"]
        self.edit("muscle", muscle_id)
        planned = self.ctx.flow.planned(muscle_id)
        if planned and self.entry and not self.entry.text.get("units"):
            if planned.side:
                self.choose_side(planned.side)
            self.ids.units.note = "last session: " + item_text(self.ctx.flow.cat, planned)
        else:
            self.ids.units.note = ""
        self._fill_quick_units()

    def choose_side(self, side: str) -> None:
        self.side = side
        self.edit("side", side)

    def choose_guidance(self, g: str) -> None:
        self.guidance = g
        self.edit("guidance", g)

    def toggle_twitch(self) -> None:
        self.twitch = not self.twitch
        self.edit("twitch", self.twitch)

    def pick_region(self, region: str) -> None:
        self.region = region
        self.filter_muscles(self.ids.msearch.text)

    def filter_muscles(self, text: str) -> None:
        flow = self.ctx.flow
        cat = flow.cat
        t = (text or "").strip().lower()
        usual = flow.usual_muscles(flow.patient["id"]) if flow.patient else []
        planned = [p.muscle for p in flow.plan]
        first = list(dict.fromkeys([*planned, *usual]))
        if t:
            found = [k for k, m in cat.muscles.items() if t in m["name"].lower() or t in k]
            found.sort(key=lambda k: (k not in first, cat.muscles[k]["name"]))
        elif self.region == "usual":
            found = first or [k for k, m in cat.muscles.items()
                              if m["region"] == _default_region(flow)]
        else:
            found = [k for k, m in cat.muscles.items() if m["region"] == self.region]
            found.sort(key=lambda k: k not in first)
        box = self.ids.muscles
        box.clear_widgets()
        # Every muscle of the region, full names; the count says the list goes on below.
        self.muscles_cue = (f"{len(found)} muscles: scroll down for all" if len(found) > 8
                            else "")
        for k in found:
            b = Factory.NpPickWrap(text=cat.muscles[k]["name"], chosen=k == self.muscle)
            b.muscle = k
            b.bind(on_release=lambda btn: self.choose_muscle(btn.muscle))
            box.add_widget(b)

    # -- dose, totals and warnings -------------------------------------------------------
    def _update_dose(self, rec: dict | None = None) -> None:
        flow = self.ctx.flow
        if flow.procedure is None:
            self.totals = []
            return
        self.totals = [(t["text"], OVER_COLOUR if t["share"] > 1 else MESSAGE_COLOUR
                        if t["share"] >= 0.8 else (0.9, 0.93, 0.95, 1))
                       for t in flow.totals(rec)] or [("No vial yet: add one in set-up",
                                                    MESSAGE_COLOUR)]
        self._fill_warnings()

    def _fill_warnings(self) -> None:
        box = self.ids.warnings
        box.clear_widgets()
        if self.entry is None:
            self.dose_note = ""
            return
        # beside the warnings, never one of them: what the check could not see
        self.dose_note = self.ctx.flow.dose_note(self.ctx.clinic_joined) or ""
        for w in self.ctx.flow.warnings(self.entry):
            row = Factory.WarningRow(message=w["message"], physician=self.is_physician)
            if w.get("override_reason"):
                row.done = f"Overridden: {w['override_reason']}"
            row.bind(on_override=lambda r, reason, pin, w=w: self.override(r, w, reason, pin))
            box.add_widget(row)

    def override(self, row, warning: dict, reason: str, pin: str) -> None:
        override_warning(self.ctx, self._gate, row, warning, reason, pin, self._update_dose)

    def void(self, reason: str) -> None:
        user = self.ctx.user_id()
        if user is None or self.entry is None:
            return
        msg = self.ctx.flow.void(self.entry, reason, user)
        self.voided = not msg
        self.ids.void_reason.text = "" if not msg else self.ids.void_reason.text
        self.void_message = msg or f"Injection {self.number} voided."
        self._update_dose()

    def close_procedure(self) -> None:
        self.commit_typed()
        self.ctx.show("close")


def override_warning(ctx, gate: PinGate, row, warning: dict, reason: str, pin: str,
                     after) -> None:
    """A warning row's Override, on the entry and the close screen alike: a physician
    signed in decides at once; for a nurse, the procedure's physician's PIN is checked
    first (without holding the screen). `after()` shows the screen anew."""
    from app.workflow.fields import parse_reason

    access, flow = ctx.access, ctx.flow
    if not parse_reason(reason).ok:
        row.error = parse_reason(reason).message
        return

    def decide(who: str) -> None:
        row.error = flow.override(None, warning, reason, who)
        if not row.error:
            after()

    if access.role() == "physician":
        decide(access.user["id"])
        return
    who = flow.procedure["physician_id"]
    gate.check(access, who, pin, lambda m: setattr(row, "error", m), lambda: decide(who),
               whose="Physician's PIN: ")


def _default_region(flow) -> str:
    ind = ((flow.procedure or {}).get("indication") or "").lower()
    return "cervical" if ("cervical" in ind or "neck" in ind) else "upper_limb"


class WarningRow(BoxLayout):
    message = StringProperty("")
    done = StringProperty("")
    error = StringProperty("")
    physician = BooleanProperty(False)
    __events__ = ("on_override",)

    def on_override(self, reason: str, pin: str) -> None:
        pass

