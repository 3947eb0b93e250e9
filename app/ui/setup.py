"""Procedure set-up: find or add the patient, the kind, indication, physician, pain before,
the time-out checklist, then the vials (units per 0.1 mL shown large, lot and expiry
scan-friendly, an expired lot said at once). Logic is app.workflow.procedure's; a barcode
scanned into any vial field is read by app.workflow.vial_scan."""

from __future__ import annotations

import datetime
from pathlib import Path

from kivy.clock import Clock
from kivy.factory import Factory
from kivy.lang import Builder
from kivy.properties import BooleanProperty, DictProperty, ObjectProperty, StringProperty

from app.logbook import duplicates, localtime
from app.ui.forms import PinGate
from app.ui.widgets import OrientedScreen
from app.workflow import dose, vial_scan
from app.workflow.plan import item_text
from app.workflow.procedure import KINDS

Builder.load_file(str(Path(__file__).with_name("setup.kv")))

SEARCH_SHOWN = 5
VIAL_FIELDS = ("strength", "diluent", "mg", "recon", "lot", "expiry")


class SetupPanel(OrientedScreen):
    ctx = ObjectProperty(None)  # the ProcedureScreen: .flow, .access
    form = DictProperty({})
    patient_text = StringProperty("No patient chosen")
    last_text = StringProperty("")
    started = BooleanProperty(False)
    per_tenth = StringProperty("")
    vials_text = StringProperty("")
    start_message = StringProperty("")
    vial_message = StringProperty("")
    product_kind = StringProperty("")
    procedure_text = StringProperty("")
    duplicate_text = StringProperty("")  # "Possible duplicate: MRN ... (room-2), ..."
    duplicate_message = StringProperty("")

    def __init__(self, **kw):
        super().__init__(name="setup", **kw)
        self._gate = PinGate()
        self._duplicate: dict | None = None  # the possible duplicate shown
        self._held: dict[str, str] = {}  # a vial field's text before a scan lands in it
        self._seen: dict[str, str] = {}  # its text at the last edit
        self._filling = False

    def on_kv_post(self, *_):
        for name in VIAL_FIELDS:
            field = self.ids[name]
            field.bind(on_confirm=lambda f, _v, n=name: self._vial_confirmed(n, f),
                       on_edit=lambda f, v, n=name: self._vial_edited(n, f, v))

    def on_pre_enter(self, *_):
        if self.ctx is not None:
            self.refresh()

    def clear(self) -> None:
        """A new procedure starts clean and at the top: nothing typed or picked for the
        last patient is carried into the next."""
        from kivy.uix.scrollview import ScrollView
        from kivy.uix.textinput import TextInput

        for w in self.walk(restrict=True):
            if isinstance(w, TextInput):
                w.text = ""
            elif isinstance(w, ScrollView):
                w.scroll_y = 1
        self.form, self._held, self._seen = {}, {}, {}
        self.patient_text, self.last_text = "No patient chosen", ""
        self._duplicate, self.duplicate_text, self.duplicate_message = None, "", ""
        self.per_tenth = self.vials_text = self.start_message = self.vial_message = ""

    def refresh(self) -> None:
        flow = self.ctx.flow
        self.started = flow.procedure is not None
        self.procedure_text = procedure_line(self.ctx) if self.started else ""
        self._fill_physicians()
        self._fill_products()
        if not self.ids.recon.text:
            self.ids.recon.text = datetime.datetime.now().strftime("%H:%M")
        self.search(self.ids.search.text)
        self._show_vials()

    # -- patient ------------------------------------------------------------------------
    def search(self, text: str) -> None:
        box = self.ids.results
        box.clear_widgets()
        if self.started:
            return
        for p in self.ctx.flow.search_patients(text, limit=SEARCH_SHOWN):
            b = Factory.NpPick(text=f"{p['mrn']}   {p['family_name']}, "
                                    f"{p.get('given_name') or ''}   {p.get('birth_date') or ''}")
            b.patient_id = p["id"]
            b.bind(on_release=lambda btn: self.choose(btn.patient_id))
            box.add_widget(b)

    def choose(self, patient_id: str) -> None:
        flow = self.ctx.flow
        pt = flow.choose_patient(patient_id)
        weight = pt.get("weight_kg")
        self.patient_text = (f"{pt['family_name']}, {pt.get('given_name') or ''}  "
                             f"MRN {pt['mrn']}  born {pt.get('birth_date') or '?'}")
        self.ids.weight.show(f"{weight:g}" if weight else "")
        self.last_text = last_session_text(flow, pt["id"])
        self.duplicate_message = ""
        self._show_duplicate()

    # -- a possible duplicate: a person decides, never the software ------------------------
    def _show_duplicate(self) -> None:
        """The chosen patient's first open possible duplicate, with the decision under it
        (the next one, if any, once this one is decided)."""
        found = self.ctx.flow.duplicates()
        self._duplicate = found[0] if found else None
        self.duplicate_text = duplicates.line(found[0]) if found else ""

    def decide_duplicate(self, decision: str) -> None:
        """"same" or "different", with the reason typed, authorised by the PIN of whoever
        is signed in (as an amendment is by its author's), then recorded and audited."""
        from app.workflow.fields import parse_reason

        user, ids, dup = self.ctx.user_id(), self.ids, self._duplicate
        if user is None or dup is None:
            return
        reason = parse_reason(ids.dup_reason.text)
        if not reason.ok:
            self.duplicate_message = reason.message
            return
        pin, ids.dup_pin.text = ids.dup_pin.text, ""
        self._gate.check(self.ctx.access, user, pin,
                         lambda m: setattr(self, "duplicate_message", m),
                         lambda: self._decided(dup, decision, reason.value, user),
                         whose="Your PIN: ", role=None)

    def _decided(self, dup: dict, decision: str, reason: str, user: str) -> None:
        flow = self.ctx.flow
        said = flow.decide_duplicate(dup["other"], decision, reason, user)
        if said:
            self.duplicate_message = said
            return
        self.ids.dup_reason.text = ""
        self.duplicate_message = (f"Recorded: MRN {dup['other']} and this patient are "
                                  f"{duplicates.DECISIONS[decision]} ({reason}).")
        self.last_text = last_session_text(flow, flow.patient["id"])
        self._show_duplicate()

    def add_patient(self) -> None:
        ids = self.ids
        form = {"mrn": ids.mrn.text, "family_name": ids.family.text,
                "given_name": ids.given.text, "birth_date": ids.born.text,
                "weight_kg": ids.new_weight.text}
        user = self.ctx.user_id()
        if user is None:
            return
        pt, msgs = self.ctx.flow.add_patient(form, user)
        for key, field in (("mrn", ids.mrn), ("family_name", ids.family),
                           ("given_name", ids.given), ("birth_date", ids.born),
                           ("weight_kg", ids.new_weight)):
            field.message = msgs.get(key, "")
        if pt:
            self.choose(pt["id"])

    def weight_changed(self, text: str) -> None:
        if self.ctx.flow.patient is None or self.started:
            return
        user = self.ctx.user_id()
        if user:
            self.ids.weight.message = self.ctx.flow.set_weight(text, user)

    # -- procedure ----------------------------------------------------------------------
    def pick(self, key: str, value) -> None:
        self.form[key] = value
        self.form = dict(self.form)  # so the kv bindings see it
        if key == "product":
            self.product_kind = self.ctx.flow.cat.kind_of(value) or ""
            sizes = self.ctx.flow.cat.toxins.get(value, {}).get("vial_units") or []
            self.ids.strength.hint = " or ".join(f"{s:g}" for s in sizes)
            if len(sizes) and not self.ids.strength.text:
                self.ids.strength.text = f"{sizes[min(1, len(sizes) - 1)]:g}"
            self._fill_products()
            self.preview()

    def toggle(self, key: str) -> None:
        self.pick(key, not self.form.get(key))

    def _fill_physicians(self) -> None:
        box = self.ids.physicians
        box.clear_widgets()
        for u in self.ctx.access.users():
            if u["role"] != "physician":
                continue
            b = Factory.NpPick(text=u["name"], chosen=self.form.get("physician_id") == u["id"])
            b.user_id = u["id"]
            b.bind(on_release=lambda btn: (self.pick("physician_id", btn.user_id),
                                           self._fill_physicians()))
            box.add_widget(b)

    def _fill_products(self) -> None:
        box = self.ids.products
        box.clear_widgets()
        cat = self.ctx.flow.cat
        for key in [*cat.toxins, *cat.anaesthetics]:
            b = Factory.NpPick(text=dose.short_name(cat, key),
                               chosen=self.form.get("product") == key)
            b.product = key
            b.bind(on_release=lambda btn: self.pick("product", btn.product))
            box.add_widget(b)

    def start(self) -> None:
        user = self.ctx.user_id()
        if user is None:
            return
        form = {**self.form, "indication": self.ids.indication.text,
                "pain_before": self.ids.pain.text}
        proc, msgs = self.ctx.flow.start(form, user)
        self.ids.indication.message = msgs.get("indication", "")
        self.ids.pain.message = msgs.get("pain_before", "")
        self.start_message = "\n".join(msgs.get(k, "") for k in ("patient", "kind",
                                       "physician_id", "timeout") if msgs.get(k))
        if proc:
            self.started = True
            self.procedure_text = procedure_line(self.ctx)
            self.search("")
            self.ctx.started()

    # -- vials -------------------------------------------------------------------------
    def vial_form(self) -> dict:
        ids = self.ids
        return {"product": self.form.get("product", ""), "vial_units": ids.strength.text,
                "diluent_ml": ids.diluent.text, "lot": ids.lot.text, "expiry": ids.expiry.text,
                "reconstituted_at": ids.recon.text, "mg_per_ml": ids.mg.text}

    def preview(self, *_) -> None:
        self.per_tenth = self.ctx.flow.vial_preview(self.vial_form())

    def expiry_changed(self, text: str) -> None:
        self.ids.expiry.message = self.ctx.flow.expiry_note(text) if text.strip() else ""

    # A scanner types into the focused field and ends with Enter (a confirm); a scan that
    # arrives in one piece (pasted, or a scanner sending it at once) is read as it lands.
    def _vial_edited(self, name: str, field, text: str) -> None:
        grew = len(text) - len(self._seen.get(name, ""))
        self._seen[name] = text
        if not self._filling and grew > 1:
            self.scanned(name)

    def _vial_confirmed(self, name: str, field) -> None:
        if not self._filling and not self.scanned(name):
            self._held[name] = field.text

    def scanned(self, name: str) -> bool:
        """A scan in vial field `name`: that field holds again what it held, Lot and Expiry
        take the scan's, the product follows its GTIN; one line says so. False: typing."""
        ids = self.ids
        field = ids[name]
        got = vial_scan.landed(self.ctx.flow.cat, field.text, self._held.get(name, ""),
                               chosen=self.form.get("product"))
        if got is None:
            return False
        self._filling = True
        try:
            field.show(got.keep)
            self._held[name] = got.keep
            if got.lot is not None:
                ids.lot.show(got.lot, got.lot_message)
                self._held["lot"] = got.lot
            elif got.lot_message:
                ids.lot.message = got.lot_message
            if got.expiry is not None:
                ids.expiry.show(got.expiry, self.ctx.flow.expiry_note(got.expiry))
                self._held["expiry"] = got.expiry
            if got.product:
                self.pick("product", got.product)
        finally:
            self._filling = False
        self.vial_message = got.line
        Clock.schedule_once(lambda _dt: self._from_the_start(name, "lot", "expiry"))
        return True

    def _from_the_start(self, *names: str) -> None:
        """A field a scan ran through shows its new text from the first character: the
        input had scrolled along with the scan, and would show a short lot as empty."""
        from kivy.uix.textinput import TextInput

        for name in names:
            for box in self.ids[name].walk(restrict=True):
                if isinstance(box, TextInput):
                    box.cursor = (0, 0)
                    box.scroll_x = 0

    def add_vial(self) -> None:
        user = self.ctx.user_id()
        if user is None:
            return
        vial, msgs = self.ctx.flow.add_vial(self.vial_form(), user)
        ids = self.ids
        for key, field in (("vial_units", ids.strength), ("diluent_ml", ids.diluent),
                           ("lot", ids.lot), ("reconstituted_at", ids.recon),
                           ("mg_per_ml", ids.mg)):
            field.message = msgs.get(key, "")
        ids.expiry.message = msgs.get("expiry") or self.ctx.flow.expiry_note(ids.expiry.text)
        self.vial_message = msgs.get("product", "")
        if vial:
            ids.lot.text = ids.expiry.text = ""
            self._show_vials()

    def _show_vials(self) -> None:
        flow = self.ctx.flow
        lines = []
        for v in flow.vials:
            what = (f"{v['vial_units']:g} U in {v.get('diluent_ml') or 0:g} mL"
                    if v.get("vial_units") else f"{v.get('mg_per_ml') or 0:g} mg/mL")
            lines.append(f"{dose.brand(flow.cat, v['product'])} {what}:  "
                         f"{dose.per_tenth_ml_text(flow.cat, v)}   lot {v.get('lot')} "
                         f"exp {v.get('expiry')}")
        self.vials_text = "\n".join(lines) or "No vial yet"


def procedure_line(ctx) -> str:
    p = ctx.flow.procedure
    doc = next((u["name"] for u in ctx.access.users() if u["id"] == p["physician_id"]), "?")
    return (f"{KINDS.get(p['kind'], p['kind'])}: {p.get('indication') or ''}. Physician "
            f"{doc}. Pain before {p.get('pain_before')}. Time-out done "
            f"{localtime.time_of_day(p.get('timeout_at'))}.")


def last_session_text(flow, patient_id: str) -> str:
    last = flow.last_session(patient_id)
    if last is None:
        return "First session for this patient."
    cat = flow.cat
    proc = last["procedure"]
    plan = ", ".join(item_text(cat, p) for p in last["plan"]) or "no muscles recorded"
    rolling = "; ".join(f"{dose.brand(cat, k)} {u:g} U" for k, u in last["rolling"].items())
    return (f"Last session {localtime.date(proc['started_at'])} ({last['days_ago']} days ago), "
            f"{KINDS.get(proc['kind'], proc['kind'])}, pain {proc.get('pain_before')} -> "
            f"{proc.get('pain_after')}.\nPlan offered for today: {plan}.\n"
            f"Last 90 days: {rolling or 'none'}.")
