"""Close and sign: the summary (injections, totals per product, units wasted, findings,
pain before and after), the warnings still open, the physician's signature with a PIN, then
amendments only (each shown as it will be recorded, authorised by the PIN of the physician
who signed or of another physician as co-signer), and the note printed (the PDF made, then
sent to the printer off this thread: app.workflow.printer) or exported."""

from __future__ import annotations

from pathlib import Path

from kivy.clock import Clock
from kivy.factory import Factory
from kivy.lang import Builder
from kivy.properties import BooleanProperty, ObjectProperty, StringProperty

from app.logbook import LogbookError
from app.ui.entry import override_warning  # and its WarningRow
from app.ui.forms import PinGate
from app.ui.widgets import OrientedScreen
from app.workflow import dose, outcomes, printer
from app.workflow.history import export, export_message

Builder.load_file(str(Path(__file__).with_name("close.kv")))


def export_dir() -> Path:
    from devices.files import home

    return home() / "exports"


class ClosePanel(OrientedScreen):
    ctx = ObjectProperty(None)
    summary_text = StringProperty("")
    totals_text = StringProperty("")
    ended = BooleanProperty(False)
    signed = BooleanProperty(False)
    status = StringProperty("")
    sign_message = StringProperty("")
    amend_message = StringProperty("")
    amend_preview_text = StringProperty("")
    amend_by = StringProperty("")  # the physician whose PIN authorises an amendment
    amend_by_name = StringProperty("")
    export_message = StringProperty("")
    end_message = StringProperty("")

    def __init__(self, **kw):
        super().__init__(name="close", **kw)
        self._wasted: dict[str, object] = {}
        self._gate = PinGate()

    def on_pre_enter(self, *_):
        if self.ctx is not None:
            self.refresh()

    def refresh(self) -> None:
        flow = self.ctx.flow
        if flow.procedure is None:
            self.summary_text, self.totals_text = "No procedure open.", ""
            return
        whole = flow.record()  # read once for the summary and the outcomes
        s = flow.summary(whole)
        rec = flow.procedure
        self.ended = bool(rec.get("ended_at"))
        self.signed = s["signed"]
        lines = []
        for r in s["injections"]:
            lines.append(r["text"] + (f"\n     {r['findings']}" if r["findings"] else "")
                         + ("   twitch" if r["twitch"] else "")
                         + (f"\n     ADVERSE: {r['adverse_event']}" if r["adverse_event"]
                            else "")
                         + "".join(f"\n     Dose warning: {w}" for w in r["warnings"]))
        self.summary_text = "\n".join(lines) or "No injection recorded."
        after = s["pain_after"] if s["pain_after"] is not None else "-"
        pain = f"Pain before {s['pain_before']}, after {after}"
        self.totals_text = ("   ".join(t["text"] for t in s["totals"]) or "No drug") + \
            f"\nUnits wasted {s['wasted_units']:g}.   {pain}." + \
            (f"\n{len(s['amendments'])} amendment(s)" if s["amendments"] else "")
        self.status = ("Signed: changes are amendments." if self.signed else
                       "Ended: the physician signs." if self.ended else
                       "Record pain after and units wasted, then end.")
        self._fill_wasted()
        self._fill_warnings()
        self._fill_amend_who()
        self._fill_outcomes(whole)

    def _fill_outcomes(self, rec: dict) -> None:
        """The outcomes assessed at this visit: Ashworth per injected muscle, TWSTRS for
        cervical dystonia, the goals set (app.workflow.outcomes). Observations may be added
        after signing. (Pain after is the field End reads, typed or tapped: PainTaps.)"""
        self.ids.outcomes.rows = outcomes.rows(self.ctx.flow.cat, rec, "before")

    def pick_outcome(self, row: dict, choice: str) -> None:
        user = self.ctx.user_id()
        if user is None:
            return
        self._outcome_saved(outcomes.save(self.ctx.flow.lb, row, choice, user))

    def set_goal(self, text: str, level: str) -> None:
        user = self.ctx.user_id()
        if user is None:
            return
        self._outcome_saved(outcomes.set_goal(self.ctx.flow.lb, self.ctx.flow.procedure["id"],
                                              text, level, user))

    def _outcome_saved(self, msg: str) -> None:
        self._fill_outcomes(self.ctx.flow.record())
        self.ids.outcomes.message = msg or "Saved."

    def _fill_wasted(self) -> None:
        box = self.ids.wasted
        box.clear_widgets()
        self._wasted = {}
        flow = self.ctx.flow
        for v in flow.vials:
            if v.get("kind") != "toxin":
                continue
            f = Factory.Field(title=f"{dose.brand(flow.cat, v['product'])} lot {v.get('lot')}: "
                                    "units wasted",
                              text=f"{v['units_wasted']:g}" if v.get("units_wasted") else "")
            self._wasted[v["id"]] = f
            box.add_widget(f)

    def _fill_warnings(self) -> None:
        box = self.ids.open_warnings
        box.clear_widgets()
        if self.signed:
            return
        for w in self.ctx.flow.open_warnings():
            row = Factory.WarningRow(message=w["message"],
                                     physician=self.ctx.access.role() == "physician")
            row.bind(on_override=lambda r, reason, pin, w=w: self.override(r, w, reason, pin))
            box.add_widget(row)

    def override(self, row, warning, reason, pin) -> None:
        override_warning(self.ctx, self._gate, row, warning, reason, pin, self.refresh)

    def end(self) -> None:
        user = self.ctx.user_id()
        if user is None:
            return
        msgs = self.ctx.flow.close(self.ids.pain_after.text,
                                   {k: f.text for k, f in self._wasted.items()}, user)
        self.ids.pain_after.message = msgs.get("pain_after", "")
        self.end_message = msgs.get("injections", "")
        for k, f in self._wasted.items():
            f.message = msgs.get(f"wasted:{k}", "")
        if not msgs:
            self.refresh()

    def sign(self) -> None:
        flow, access = self.ctx.flow, self.ctx.access
        who = flow.procedure["physician_id"]
        pin, self.ids.sign_pin.text = self.ids.sign_pin.text, ""
        self._gate.check(access, who, pin, lambda m: setattr(self, "sign_message", m),
                         lambda: self._sign(who))

    def _sign(self, who: str) -> None:
        try:
            self.ctx.flow.sign(who)
        except LogbookError as e:  # a warning opened meanwhile: named, nothing signed
            self.sign_message = str(e)
        else:
            if self.ctx.on_signed is not None:
                self.ctx.on_signed()
        self.refresh()

    # -- amendments after the signature --------------------------------------------------
    def _fill_amend_who(self) -> None:
        """The physician who signed, chosen by default; any other physician may authorise
        instead when the signer is away, and is recorded as the amendment's author beside
        the signer (the note says "co-signer")."""
        box = self.ids.amend_who
        box.clear_widgets()
        signer = (self.ctx.flow.procedure or {}).get("signed_by")
        if not self.signed or not signer:
            return
        if self.amend_by not in {u["id"] for u in self._physicians()}:
            self.amend_by = signer
        for u in self._physicians():
            b = Factory.NpPick(text=u["name"] + (" (signed)" if u["id"] == signer
                                                 else " (co-signer)"),
                               chosen=u["id"] == self.amend_by)
            b.user_id = u["id"]
            b.bind(on_release=lambda btn: self.choose_amend_by(btn.user_id))
            box.add_widget(b)
        self.amend_by_name = next(u["name"] for u in self._physicians()
                                  if u["id"] == self.amend_by)

    def _physicians(self) -> list[dict]:
        return [u for u in self.ctx.access.users() if u["role"] == "physician"]

    def choose_amend_by(self, user_id: str) -> None:
        self.amend_by = user_id
        self._fill_amend_who()

    def amend_preview(self) -> dict:
        """The amendment as it would be recorded, shown as it is typed; nothing saved."""
        ids = self.ids
        found = self.ctx.flow.units_amendment(ids.amend_n.text, ids.amend_units.text)
        text = found["text"]
        if found["warnings"]:
            text += ("\nSaving also overrides, with the reason below: "
                     + "; ".join(w["message"] for w in found["warnings"]))
        self.amend_preview_text = text
        return found

    def amend(self) -> None:
        access, ids = self.ctx.access, self.ids
        if self.ctx.user_id() is None:
            return
        found = self.amend_preview()
        ids.amend_n.message = found["messages"]["seq"]
        ids.amend_units.message = found["messages"]["units"]
        if not found["changes"]:
            return
        who, name = self.amend_by, self.amend_by_name
        pin, ids.amend_pin.text = ids.amend_pin.text, ""
        self._gate.check(access, who, pin, lambda m: setattr(self, "amend_message", m),
                         lambda: self._amend(found, who), whose=f"{name}'s PIN: ")

    def _amend(self, found: dict, who: str) -> None:
        flow, ids = self.ctx.flow, self.ids
        reason = ids.amend_reason.text
        overrides = {w["rule"]: reason for w in found["warnings"]}
        self.amend_message = flow.amend("injections", found["injection"]["id"],
                                        found["changes"], reason, who,
                                        overrides=overrides) or "Amendment saved."
        if self.amend_message == "Amendment saved.":
            for f in (ids.amend_n, ids.amend_units):
                f.show("")
            ids.amend_reason.text = ""
            self.amend_preview_text = ""
        self.refresh()

    def export(self, kind: str) -> None:
        flow = self.ctx.flow
        out = export_dir() / flow.procedure["id"][:8] / kind
        if kind == "pdf":
            self.print_note(out)
            return
        self.export_message = export_message(flow.lb, flow.procedure["id"], kind, out)

    def print_note(self, out: Path) -> None:
        """The PDF written here (the logbook is read on this thread), then sent to the
        printer on a thread of its own; its one line comes back through the Clock. A second
        tap while the first is sent prints nothing more."""
        if self.export_message == printer.SENDING:
            return
        flow = self.ctx.flow
        try:
            (path,) = export(flow.lb, flow.procedure["id"], "pdf", out)
        except Exception as e:  # the record is untouched: say why, as the exports do
            self.export_message = f"Export failed: {e}"
            return
        self.export_message = printer.SENDING
        printer.send_later(path, lambda line: Clock.schedule_once(
            lambda _dt: setattr(self, "export_message", line)))

    def new_procedure(self) -> None:
        self.ctx.new_procedure()
