"""One procedure from set-up to signature, as the screens drive it: the patient, the
time-out, the vials, each marked injection saved the moment it is marked and completed
field by field, the dose warnings with their overrides, the close and the signature, and
amendments after. Every method returns the messages to show beside fields; nothing typed is
thrown away (the screens keep the text)."""

from __future__ import annotations

import datetime
import json
import logging
import time
from dataclasses import dataclass, field

from app.logbook import Logbook, LogbookError, ids, rules, wording
from app.workflow import dose, fields, needle, plan, snippet
from app.workflow.fields import Checked

log = logging.getLogger(__name__)

KINDS = {"botulinum": "Botulinum toxin", "trigger_point": "Trigger point",
         "dry_needling": "Dry needling"}
SIDES = ("left", "right", "midline")
GUIDANCE = {"emg": "EMG", "emg_stimulation": "EMG + stim", "ultrasound": "Ultrasound",
            "palpation": "Palpation", "landmarks": "Landmarks"}
ROLLING_DAYS = 90


@dataclass
class Entry:
    """One injection on screen: its record id once saved, and the text of each field as
    typed (kept, right or wrong)."""

    injection_id: str | None
    mark: object = None
    text: dict = field(default_factory=dict)
    messages: dict = field(default_factory=dict)


class ProcedureFlow:
    def __init__(self, lb: Logbook):
        self.lb = lb
        self.cat = lb.cat
        self.procedure: dict | None = None
        self.patient: dict | None = None
        self.vials: list[dict] = []
        self.vial_id: str | None = None  # the vial new injections are drawn from
        self.needle: dict = {}  # the needle new injections are given with (gauge, length_mm)
        self.needles: needle.Needles | None = None  # the clinic's choices, read at Start
        self.entries: list[Entry] = []
        self.queued: list = []  # marks made while nobody was signed in
        self.plan: list[plan.PlanItem] = []  # last signed procedure's, carried forward

    # -- patients -------------------------------------------------------------------------
    def search_patients(self, text: str, limit: int = 50) -> list[dict]:
        """By MRN or family/given name, as typed (prefix, any case)."""
        t = (text or "").strip().replace("%", "").replace("_", "")
        # one row a person: an MRN with rows from several tablets (the same patient) is
        # offered once, this tablet's row first
        sql = ("SELECT id, mrn, family_name, given_name, birth_date, weight_kg, origin FROM "
               "patients p WHERE id = (SELECT q.id FROM patients q WHERE q.mrn = p.mrn ORDER "
               "BY q.origin IS NOT NULL, q.created_at LIMIT 1) {} "
               "ORDER BY family_name, given_name LIMIT ?")
        if not t:
            return list(self.lb.db.query(sql.format(""), [limit]))
        like = t + "%"
        return list(self.lb.db.query(sql.format(
            "AND (mrn LIKE ? OR family_name LIKE ? OR given_name LIKE ? "
            "OR (family_name || ' ' || coalesce(given_name, '')) LIKE ?)"),
            [like, like, like, like, limit]))

    def check_patient(self, form: dict) -> dict[str, str]:
        checks = {"mrn": fields.parse_mrn(form.get("mrn", "")),
                  "family_name": fields.parse_text(form.get("family_name", ""), "Family name"),
                  "given_name": fields.parse_text(form.get("given_name", ""), "Given name",
                                                  required=False),
                  "birth_date": fields.parse_date(form.get("birth_date", ""), "Birth date",
                                                  required=True),
                  "weight_kg": fields.parse_weight(form.get("weight_kg", ""))}
        return {k: c for k, c in checks.items()}

    def add_patient(self, form: dict, by: str) -> tuple[dict | None, dict[str, str]]:
        checks = self.check_patient(form)
        msgs = {k: c.message for k, c in checks.items() if not c.ok}
        if not msgs and self.lb.find_patient(checks["mrn"].value):
            msgs["mrn"] = "A patient with this MRN exists: find them above"
        if msgs:
            return None, msgs
        pt = self.lb.add_patient({k: c.value for k, c in checks.items()
                                  if c.value is not None}, by=by)
        self.patient = pt
        return pt, {}

    def choose_patient(self, patient_id: str) -> dict:
        self.patient = self.lb.patient(patient_id)
        return self.patient

    def set_weight(self, text: str, by: str) -> str:
        c = fields.parse_weight(text)
        if c.ok and c.value is not None and self.patient:
            # a patient pulled from another room is weighed on this tablet's own row
            mine = self.lb.own_patient(self.patient["id"], by)
            self.patient = self.lb.update_patient(mine["id"], {"weight_kg": c.value}, by)
        return c.message

    def dose_note(self, joined: bool | None = None) -> str | None:
        """What the entry screen shows beside the dose warnings while injections may be
        missing from them: other rooms' ("other rooms last seen 09:12 (UTC+01:00)") and an
        open possible duplicate's ("possible duplicate MRN ..."): Logbook.check_note;
        never a warning, needs no override. `joined`: whether this tablet holds clinic
        credentials (the app knows; None: as far as the logbook knows)."""
        return self.lb.check_note(self.patient["id"] if self.patient else None, joined)

    def duplicates(self) -> list[dict]:
        """The chosen patient's open possible duplicates (Logbook.possible_duplicates)."""
        return self.lb.possible_duplicates(self.patient["id"]) if self.patient else []

    def decide_duplicate(self, other: str, decision: str, reason: str, by: str) -> str:
        """A person's decision on the chosen patient and MRN `other`: "" once recorded,
        else why not (one line)."""
        c = fields.parse_reason(reason)
        if not c.ok:
            return c.message
        try:
            self.lb.decide_duplicate(self.patient["mrn"], other, decision, c.value, by)
        except LogbookError as e:
            return str(e)
        return ""

    def last_session(self, patient_id: str, exclude: str | None = None) -> dict | None:
        """The last signed procedure (other than `exclude`), its plan (muscle, side, units
        per product: `app.workflow.plan.PlanItem`) and the rolling totals per product over
        the last 90 days: shown before the first injection and carried into the entry."""
        hist = self.lb.patient_history(patient_id)["procedures"]
        last = plan.last_signed(hist, exclude)
        if last is None:
            return None
        now = datetime.datetime.now(datetime.UTC)
        rolling: dict[str, float] = {}
        for proc in hist:
            if now - ids.parse(proc["started_at"]) > datetime.timedelta(days=ROLLING_DAYS):
                continue
            for key, t in proc["totals"].items():
                rolling[key] = rolling.get(key, 0.0) + t["units"]
        return {"procedure": last, "plan": plan.plan_of(last), "rolling": rolling,
                "days_ago": (now - ids.parse(last["started_at"])).days}

    def usual_muscles(self, patient_id: str) -> list[str]:
        """Muscles this patient (their MRN, on any tablet, and the MRNs decided the same
        patient) was injected in, most often first."""
        same = self.lb.same_patient(patient_id)
        rows = self.lb.db.query(
            "SELECT i.muscle, count(*) AS n FROM injections i JOIN procedures p ON "
            "p.id = i.procedure_id WHERE p.patient_id IN "
            f"({','.join('?' * len(same))}) AND i.muscle IS NOT NULL "
            "AND i.voided = 0 GROUP BY i.muscle ORDER BY n DESC", same)
        return [r["muscle"] for r in rows]

    # -- the procedure ----------------------------------------------------------------------
    def check_setup(self, form: dict) -> dict[str, Checked]:
        kind = form.get("kind") or ""
        checks = {
            "patient": Checked(self.patient["id"], "") if self.patient else
            Checked(None, "Find or add the patient first"),
            "kind": Checked(kind, "") if kind in KINDS else Checked(None, "Choose the kind"),
            "indication": fields.parse_text(form.get("indication", ""), "Indication"),
            "pain_before": fields.parse_pain(form.get("pain_before", ""), required=True),
            "physician_id": Checked(form.get("physician_id"), "") if form.get("physician_id")
            else Checked(None, "Choose the physician"),
        }
        missing = [p for p in ("identity", "consent", "side") if not form.get(f"timeout_{p}")]
        checks["timeout"] = (Checked(None, "Time-out: confirm " + ", ".join(missing))
                             if missing else Checked(True, ""))
        return checks

    def start(self, form: dict, by: str) -> tuple[dict | None, dict[str, str]]:
        checks = self.check_setup(form)
        msgs = {k: c.message for k, c in checks.items() if not c.ok}
        if msgs:
            return None, msgs
        nurse = by if self._role(by) == "nurse" else None
        self.procedure = self.lb.start_procedure({
            "patient_id": self.patient["id"], "kind": form["kind"],
            "indication": checks["indication"].value, "physician_id": form["physician_id"],
            "nurse_id": nurse, "pain_before": checks["pain_before"].value,
            "timeout": {"identity": True, "consent": True, "side": True}}, by=by)
        self.vials, self.entries = [], []
        self.needles = needle.load()
        self.needle = dict(self.needles.defaults.get(form["kind"]) or {})
        self.plan = (self.last_session(self.patient["id"], exclude=self.procedure["id"])
                     or {}).get("plan", [])
        return self.procedure, {}

    def _role(self, user_id: str) -> str:
        return next((u["role"] for u in self.lb.users() if u["id"] == user_id), "")

    def check_vial(self, form: dict, *, now: datetime.datetime | None = None
                   ) -> dict[str, Checked]:
        key = form.get("product") or ""
        kind = self.cat.kind_of(key)
        checks: dict[str, Checked] = {"product": Checked(key, "") if kind else
                                      Checked(None, "Choose the product")}
        if kind == "toxin":
            sizes = (self.cat.toxins[key].get("vial_units") or [])
            checks["vial_units"] = fields.parse_vial_units(form.get("vial_units", ""), sizes)
            solution = self.cat.toxins[key].get("form") == "solution"
            checks["diluent_ml"] = fields.parse_diluent(form.get("diluent_ml", ""),
                                                        required=not solution)
            checks["reconstituted_at"] = fields.parse_time_today(
                form.get("reconstituted_at", ""), now=now)
        elif kind == "anaesthetic":
            c = fields.number(form.get("mg_per_ml", ""), "Strength", required=True,
                               unit="mg/mL")
            if c.ok and c.value <= 0:
                c = Checked(None, "Strength must be more than 0 mg/mL")
            checks["mg_per_ml"] = c
        checks["lot"] = fields.parse_lot(form.get("lot", ""))
        checks["expiry"] = fields.parse_expiry(form.get("expiry", ""))
        return checks

    def vial_preview(self, form: dict) -> str:
        """Units per 0.1 mL as the nurse types the strength and diluent."""
        checks = self.check_vial(form)
        if not checks["product"].ok:
            return ""
        v = {k: c.value for k, c in checks.items() if c.ok and c.value is not None}
        return dose.per_tenth_ml_text(self.cat, v)

    def add_vial(self, form: dict, by: str) -> tuple[dict | None, dict[str, str]]:
        checks = self.check_vial(form)
        msgs = {k: c.message for k, c in checks.items() if not c.ok}
        if self.procedure is None:
            msgs["product"] = "Start the procedure first"
        if msgs:
            return None, msgs
        vial = self.lb.add_vial(self.procedure["id"], {k: c.value for k, c in checks.items()
                                                       if c.value is not None}, by=by)
        self.vials.append(vial)
        self.vial_id = vial["id"]
        return vial, {}

    def expiry_note(self, text: str) -> str:
        c = fields.parse_expiry(text)
        if c.ok and fields.is_expired(c.value):
            return f"EXPIRED lot ({rules.expiry_date(c.value).isoformat()}): use another vial"
        return c.message

    # -- marks and entries --------------------------------------------------------------------
    def on_mark(self, mark, by: str | None) -> Entry | None:
        """A completed mark from the live screen: its EMG is written at once to the
        logbook's pending marks, whoever is signed in (so a crash loses none). It belongs
        to the procedure open when it was pressed: it becomes that procedure's injection at
        once when someone is signed in, else when the next user signs in. A mark pressed
        with no procedure open is never saved into a later one: it stays unassigned
        (`unassigned()`) until a user assigns or discards it."""
        open_id = self.procedure["id"] if self.procedure is not None else None
        mark.procedure_id = open_id
        try:
            mark.pending_id = self.lb.add_pending_mark(
                snippet.from_mark(mark), pressed_at=_pressed_at(mark),
                procedure_id=open_id)["id"]
        except LogbookError as e:  # the disk is full: held in memory, as before
            log.warning("a mark's EMG could not be written to the pending marks: %s", e)
            mark.pending_id = None
        if open_id is None:
            if mark.pending_id is None:
                self.queued.append(mark)  # only in memory: shown waiting, not lost
            return None
        if by is None:
            self.queued.append(mark)
            return None
        return self._save_mark(mark, by)

    def flush_queue(self, by: str) -> list[Entry]:
        """The next user after the lock: the marks made meanwhile during the open
        procedure become its injections."""
        if self.procedure is None:
            return []
        mine = [m for m in self.queued if m.procedure_id == self.procedure["id"]]
        saved = [self._save_mark(m, by) for m in mine]
        self.queued = [m for m in self.queued if m not in mine]
        return saved

    def unassigned(self) -> list[dict]:
        """Marks pressed with no procedure open, oldest first (their time, source and
        findings; their EMG stays in the logbook)."""
        return [m for m in self.lb.pending_marks() if m["procedure_id"] is None]

    def assign(self, pending_id: str, by: str) -> Entry | str:
        """An unassigned mark made this procedure's injection, by a user's choice (the
        logbook's audit trail records who took it). Returns the entry, or a message."""
        if self.procedure is None:
            return "Start the procedure first, then assign the mark to it"
        mark = next((m for m in self.unassigned() if m["id"] == pending_id), None)
        if mark is None:
            return "That mark was already assigned or discarded"
        fields_ = {"at": mark["pressed_at"], "guidance": "emg"}
        fields_.update(self._carried())
        inj = self.lb.log_injection(self.procedure["id"], fields_, by, pending_mark=pending_id)
        entry = Entry(inj["id"], None, text={"guidance": "emg"})
        self.entries.append(entry)
        return entry

    def discard(self, pending_id: str, reason: str, by: str) -> str:
        """An unassigned mark set aside with a reason (its EMG is kept): "" or a message."""
        c = fields.parse_reason(reason)
        if not c.ok:
            return c.message
        try:
            self.lb.discard_pending_mark(pending_id, c.value, by)
        except LogbookError as e:
            return str(e)
        return ""

    def _save_mark(self, mark, by: str) -> Entry:
        fields_ = {"at": _pressed_at(mark), "guidance": "emg"}
        fields_.update(self._carried())
        emg = ({"pending_mark": mark.pending_id} if mark.pending_id
               else {"snippet": snippet.from_mark(mark)})
        inj = self.lb.log_injection(self.procedure["id"], fields_, by, **emg)
        entry = Entry(inj["id"], mark, text={"guidance": "emg"})
        self.entries.append(entry)
        return entry

    def _carried(self) -> dict:
        """What a new injection takes from the procedure: the vial and needle in use."""
        out = {"vial_id": self.vial_id} if self.vial_id else {}
        out.update({f"needle_{k}": v for k, v in self.needle.items() if v is not None})
        return out

    def set_needle(self, entry: Entry | None, by: str, **change) -> str:
        """Another needle (gauge and/or length_mm) for this injection and the ones after
        it. Returns "" or the message."""
        self.needle = {**self.needle, **change}
        if entry is None or self.is_voided(entry):
            return ""
        try:
            self.lb.update_injection(entry.injection_id,
                                     {f"needle_{k}": v for k, v in change.items()}, by)
        except LogbookError as e:
            return str(e)
        return ""

    def new_entry(self, by: str) -> Entry:
        """An injection with no mark (the needle went in without pressing Mark)."""
        fields_ = {"guidance": "emg"}
        fields_.update(self._carried())
        inj = self.lb.log_injection(self.procedure["id"], fields_, by)
        entry = Entry(inj["id"], None, text={"guidance": "emg"})
        self.entries.append(entry)
        return entry

    def emg_of(self, entry: Entry) -> dict | None:
        """Where the injection's EMG came from and what the analyser found in it
        ({kind, uri, calibrated, findings}), from its live mark or, for a mark assigned
        from the pending ones, from the record; None when it has no EMG."""
        m = entry.mark
        if m is not None:
            return {"kind": m.source_kind, "uri": m.source_uri, "calibrated": m.calibrated,
                    "findings": m.findings or {}}
        row = self.lb.db.execute(
            "SELECT s.source_kind, s.source_uri, s.calibrated, i.emg_findings FROM injections "
            "i JOIN snippets s ON s.injection_id = i.id WHERE i.id = ?",
            [entry.injection_id]).fetchone()
        if row is None:
            return None
        return {"kind": row[0], "uri": row[1],
                "calibrated": None if row[2] is None else bool(row[2]),
                "findings": json.loads(row[3]) if row[3] else {}}

    def injection(self, entry: Entry) -> dict:
        return next(i for i in self.record()["injections"] if i["id"] == entry.injection_id)

    def record(self) -> dict:
        return self.lb.procedure(self.procedure["id"])

    def vial_labels(self, rec: dict | None = None) -> dict[str, str]:
        """What the entry screen shows of each vial, by id: brand, lot, dilution, units
        left (the record, `rec` or read here, once for all of them)."""
        used: dict[str, float] = {}
        for i in (rec or self.record())["injections"]:
            if i.get("vial_id") and not i["voided"]:
                used[i["vial_id"]] = used.get(i["vial_id"], 0.0) + float(i["units"] or 0)
        labels = {}
        for v in self.vials:
            left = (float(v["vial_units"]) - used.get(v["id"], 0.0)
                    - float(v.get("units_wasted") or 0))
            labels[v["id"]] = (f"{dose.brand(self.cat, v['product'])} lot "
                               f"{v.get('lot') or '?'}: {dose.per_tenth_ml_text(self.cat, v)}"
                               + (_left_text(left) if v.get("vial_units") else ""))
        return labels

    def set_vial(self, entry: Entry, vial_id: str, by: str) -> str:
        """The vial this injection was drawn from (one tap); it becomes the vial in use
        for the next ones. Its units stay as given and the volume follows this vial's
        dilution (the logbook recomputes it). "" or a message."""
        if vial_id not in {v["id"] for v in self.vials}:
            return "That vial is not part of this procedure"
        self.vial_id = vial_id
        inj = self.lb.row("injections", entry.injection_id) if entry.injection_id else None
        if inj is None:
            return ""
        changes = {"vial_id": vial_id}
        if inj.get("units") is not None:
            changes["units"] = inj["units"]
        try:
            done = self.lb.update_injection(entry.injection_id, changes, by)
        except LogbookError as e:
            return str(e)
        if done.get("volume_ml") is not None:
            entry.text["volume_ml"] = f"{done['volume_ml']:g}"
        return ""

    def vial_of(self, entry: Entry) -> dict | None:
        inj = self.lb.row("injections", entry.injection_id)
        return next((v for v in self.vials if v["id"] == (inj or {}).get("vial_id")), None)

    def preview(self, entry: Entry, name: str, text: str) -> str:
        """What units or volume being typed would make of the other, at this injection's
        vial's dilution; nothing is saved. "" when there is nothing to say yet."""
        vial = self.vial_of(entry)
        c = (fields.parse_units if name == "units" else fields.parse_volume)(text)
        if vial is None or not c.ok or c.value is None:
            return ""
        if name == "units":
            done = dose.complete(self.cat, vial, units=c.value, volume_ml=None)
            other = done["volume_ml"] is not None and f"{done['volume_ml']:g} mL"
        else:
            done = dose.complete(self.cat, vial, units=None, volume_ml=c.value)
            other = (done["units"] is not None and f"{done['units']:g} U") or (
                done["dose_mg"] is not None and f"{done['dose_mg']:g} mg")
        return f"= {other}, Enter to save" if other else ""

    def set_field(self, entry: Entry, name: str, text, by: str) -> str:
        """Check one confirmed field and save it when it is right (the logbook records
        the dose warnings it raises). Returns the message for beside the field ("" when
        saved). Units fill in the volume and volume
        the units, from the vial's dilution."""
        entry.text[name] = text
        changes: dict = {}
        vial = self.vial_of(entry)
        if name == "muscle":
            c = fields.parse_muscle(text, self.cat.muscles)
            changes = {"muscle": c.value}
            if c.ok:
                planned = self.planned(text)
                if planned and not entry.text.get("units"):
                    entry.text["side"] = planned.side or entry.text.get("side")
        elif name == "side":
            c = Checked(text, "") if text in SIDES else Checked(None, "Choose the side")
            changes = {"side": c.value}
        elif name == "site":
            c = fields.parse_site(text)
            changes = {"site": c.value}
        elif name == "units":
            c = fields.parse_units(text)
            if c.ok and c.value is not None:
                if vial is None:
                    c = Checked(None, "Choose the vial this injection was drawn from"
                                if self.vials else "Add a vial first: units need a product")
                else:
                    done = dose.complete(self.cat, vial, units=c.value, volume_ml=None)
                    changes = {"units": c.value, "volume_ml": done["volume_ml"]}
                    if done["volume_ml"] is not None:
                        entry.text["volume_ml"] = f"{done['volume_ml']:g}"
                        entry.messages.pop("volume_ml", None)
        elif name == "volume_ml":
            c = fields.parse_volume(text)
            if c.ok and c.value is not None and vial is not None:
                done = dose.complete(self.cat, vial, units=None, volume_ml=c.value)
                changes = {"volume_ml": c.value}
                if done["units"] is not None:
                    changes["units"] = done["units"]
                    entry.text["units"] = f"{done['units']:g}"
                    entry.messages.pop("units", None)
                if done["dose_mg"] is not None:
                    changes["dose_mg"] = done["dose_mg"]
            elif c.ok and c.value is not None:
                changes = {"volume_ml": c.value}
        elif name == "guidance":
            c = Checked(text, "") if text in GUIDANCE else Checked(None, "Choose guidance")
            changes = {"guidance": c.value}
        elif name == "twitch":
            c = Checked(bool(text), "")
            changes = {"twitch": bool(text)}
        elif name == "adverse_event":
            c = fields.parse_text(text, "Adverse event", required=False)
            changes = {"adverse_event": c.value}
        else:
            raise ValueError(f"no field {name}")
        if c.ok and changes:
            try:
                self.lb.update_injection(entry.injection_id, changes, by)
            except LogbookError as e:
                c = Checked(None, str(e))
        entry.messages[name] = c.message
        return c.message

    def planned(self, muscle: str) -> plan.PlanItem | None:
        return next((p for p in self.plan if p.muscle == muscle), None)

    def fill_from_plan(self, entry: Entry, item: plan.PlanItem, by: str) -> str:
        """One tap of "as last time": the item's muscle, side and dose per site saved on
        the injection. Units are carried only to a vial of the same product (never
        converted); otherwise muscle and side are, and the message says why the units are
        not. Returns "" or the message."""
        for name, value in (("muscle", item.muscle), ("side", item.side)):
            if value:
                msg = self.set_field(entry, name, value, by)
                if msg:
                    return msg
        vial = self.vial_of(entry)
        if not item.per_site:
            return ""
        if vial is None or vial["product"] != item.product:
            return (f"Last time {item.per_site:g} U of {dose.brand(self.cat, item.product)}"
                    f" per site: units are not carried to "
                    f"{dose.brand(self.cat, vial['product']) if vial else 'no vial'}; "
                    "enter today's dose")
        return self.set_field(entry, "units", f"{item.per_site:g}", by)

    def quick_units(self, entry: Entry | None) -> list[float]:
        """Unit buttons for this injection's muscle and vial (app.workflow.plan)."""
        vial = self.vial_of(entry) if entry is not None else None
        if vial is None:
            return []
        born = (self.patient or {}).get("birth_date")
        return plan.quick_units(self.cat, entry.text.get("muscle"), vial["product"],
                                (dose.concentration(self.cat, vial) or 0) / 10 or None,
                                self.plan, rules.population(born, self.procedure["started_at"]))

    def plan_progress(self, rec: dict | None = None) -> list[tuple[plan.PlanItem, float]]:
        """Each item of last time's plan with the units of its product given to its
        muscle and side so far today."""
        if not self.plan or self.procedure is None:
            return []
        today = {(p.muscle, p.side, p.product): p.units
                 for p in plan.plan_of(rec or self.record())}
        return [(p, today.get((p.muscle, p.side, p.product), 0.0)) for p in self.plan]

    def warnings(self, entry: Entry) -> list[dict]:
        """The dose warnings recorded on this injection and not withdrawn, overridden or
        open. The logbook records each the moment the value that raises it is confirmed
        (app.logbook.store.update_injection), so what is shown is what is on record."""
        return self.lb.warnings_of(entry.injection_id)

    def override(self, entry: Entry | None, warning: dict, reason: str, physician_id: str
                 ) -> str:
        """A physician's override of one recorded warning, with its reason."""
        c = fields.parse_reason(reason)
        if not c.ok:
            return c.message
        try:
            self.lb.override_warning(warning["id"], c.value, physician_id)
        except LogbookError as e:
            return str(e)
        return ""

    def totals(self, rec: dict | None = None) -> list[dict]:
        """The session's running totals per product (from `rec`, or the record read here)."""
        rec = rec or self.record()
        pop = rules.population(rec["patient"].get("birth_date"), rec["started_at"])
        return dose.running_totals(self.cat, rec["injections"], rec["vials"], pop)

    def is_voided(self, entry: Entry) -> bool:
        row = self.lb.row("injections", entry.injection_id) if entry.injection_id else None
        return bool(row and row["voided"])

    def void(self, entry: Entry, reason: str, by: str) -> str:
        c = fields.parse_reason(reason)
        if not c.ok:
            return c.message
        self.lb.void_injection(entry.injection_id, c.value, by)
        return ""

    # -- close, sign, amend, export -------------------------------------------------------------
    def open_warnings(self) -> list[dict]:
        """The procedure's dose warnings still open: what the close screen lists and what a
        signature waits for. Those on a voided injection do not count."""
        return self.lb.open_warnings(self.procedure["id"])

    def incomplete(self) -> list[str]:
        """Injections not voided that still lack a muscle, a side or (with a vial) a dose:
        the note would be wrong, so the procedure does not end until each is completed or
        voided with a reason."""
        out = []
        for n, i in enumerate(self.record()["injections"], 1):
            if i["voided"]:
                continue
            lack = [w for w, ok in (("choose a muscle", i.get("muscle")),
                                    ("choose the side", i.get("side")),
                                    ("enter units or volume", i.get("units") is not None
                                     or not i.get("vial_id"))) if not ok]
            if lack:
                out.append(f"Injection {n}: {', '.join(lack)}")
        return out

    def close(self, pain_after: str, wasted: dict[str, str], by: str) -> dict[str, str]:
        msgs = {}
        missing = self.incomplete()
        if missing:
            msgs["injections"] = "; ".join(missing) + " (or void it)"
        pain = fields.parse_pain(pain_after, required=True)
        if not pain.ok:
            msgs["pain_after"] = pain.message
        amounts = {}
        for vial_id, text in wasted.items():
            c = fields.number(text, "Units wasted", required=False, unit="units")
            if c.ok and c.value is not None and c.value < 0:
                c = Checked(None, "Units wasted cannot be negative")
            if not c.ok:
                msgs[f"wasted:{vial_id}"] = c.message
            elif c.value is not None:
                amounts[vial_id] = c.value
        if msgs:
            return msgs
        for vial_id, units in amounts.items():
            self.lb.update_vial(vial_id, {"units_wasted": units}, by)
        self.procedure = self.lb.end_procedure(self.procedure["id"], by,
                                               pain_after=pain.value)
        return {}

    def sign(self, physician_id: str) -> dict:
        self.procedure = self.lb.sign_off(self.procedure["id"], physician_id)
        return self.procedure

    def amend(self, table: str, row_id: str, changes: dict, reason: str, by: str, *,
              overrides: dict | None = None) -> str:
        c = fields.parse_reason(reason)
        if not c.ok:
            return c.message
        try:
            self.lb.amend(self.procedure["id"], table, row_id, changes, c.value, by,
                          overrides=overrides)
        except LogbookError as e:
            return str(e)
        return ""

    def units_amendment(self, seq_text: str, units_text: str) -> dict:
        """An amendment of one injection's units, checked and shown before it is confirmed:
        {"messages": {field: message}, "injection": the record's injection or None,
        "text": its dose now and as amended (the volume recomputed from its vial),
        "warnings": those the amended dose raises, which the amendment must override}."""
        seq = fields.parse_site(seq_text, required=True)
        units = fields.parse_units(units_text, required=True)
        out = {"messages": {"seq": "" if seq.ok else "Injection number, as listed above",
                            "units": units.message},
               "injection": None, "text": "", "warnings": [], "changes": {}}
        if not seq.ok:
            return out
        rec = self.record()
        inj = next((i for i in rec["injections"] if i["seq"] == seq.value), None)
        if inj is None:
            out["messages"]["seq"] = "No injection with that number"
            return out
        out["injection"] = inj
        if not units.ok:
            return out
        try:
            amended, warnings = self.lb.amendment_warnings(self.procedure["id"], inj["id"],
                                                           {"units": units.value})
        except LogbookError as e:
            out["messages"]["units"] = str(e)
            return out
        vial = next((v for v in rec["vials"] if v["id"] == inj.get("vial_id")), None)
        at = f" at {dose.per_tenth_ml_text(self.cat, vial)}" if vial else ""
        name = self.cat.muscles.get(inj.get("muscle") or "", {}).get("name", "muscle ?")
        out["text"] = (f"Injection {inj['seq']}, {name} {inj.get('side') or ''}: "
                       f"{wording.dose(inj, volume=True)} -> "
                       f"{wording.dose(amended, volume=True)}{at}")
        out["warnings"] = warnings
        out["changes"] = {"units": units.value}
        return out

    def summary(self, rec: dict | None = None) -> dict:
        """`rec`: the record already read for the same frame (read here when not given)."""
        return summary(self.cat, rec or self.record(), {u["id"]: u for u in self.lb.users()})


def summary(cat, rec: dict, users: dict | None = None) -> dict:
    """What the close screen and the history detail show of one procedure."""
    users = users or {}
    names = {k: m["name"] for k, m in cat.muscles.items()}
    lots = {v["id"]: f"  lot {v.get('lot') or '?'}" for v in rec["vials"]} \
        if len(rec["vials"]) > 1 else {}
    rows = []
    for i in rec["injections"]:
        words = (i.get("emg_findings") or {}).get("words") or []
        rows.append({
            "id": i["id"], "seq": i["seq"], "voided": bool(i["voided"]),
            "has_snippet": bool(i.get("has_snippet")),
            "text": (f"{i['seq']}. {names.get(i.get('muscle'), i.get('muscle') or 'muscle ?')}"
                     f" {i.get('side') or ''} site {i.get('site') or '-'}: "
                     f"{wording.dose(i, volume=True)}"
                     f"{lots.get(i.get('vial_id'), '')}"
                     f"{'  VOID' if i['voided'] else ''}"),
            "findings": "; ".join(words) if words else "",
            "twitch": bool(i.get("twitch")), "adverse_event": i.get("adverse_event"),
            "warnings": [wording.warning(w, users, bool(i["voided"]))
                         for w in rec["dose_warnings"] if w["injection_id"] == i["id"]]})
    wasted = sum(float(v.get("units_wasted") or 0) for v in rec["vials"])
    pop = rules.population(rec["patient"].get("birth_date"), rec["started_at"])
    totals = dose.running_totals(cat, rec["injections"], rec["vials"], pop)
    pain = [o for o in rec["observations"] if o["scale"] == "pain_nrs"]
    return {"injections": rows, "totals": totals, "wasted_units": wasted,
            "pain_before": rec.get("pain_before"), "pain_after": rec.get("pain_after"),
            "followup_pain": [o["value"] for o in pain if o["timepoint"] == "followup"],
            "warnings": rec["dose_warnings"], "signed": bool(rec.get("signed_at")),
            "amendments": rec["amendments"]}


def _left_text(left: float) -> str:
    # A vial drawn past what it held says so, not "-30 U left" (a warning is on record).
    return f", {left:g} U left" if left >= 0 else f", {-left:g} U MORE than it held"


def _pressed_at(mark) -> datetime.datetime:
    """The wall-clock time of a mark's press (the mark holds the monotonic one)."""
    return datetime.datetime.now(datetime.UTC) - datetime.timedelta(
        seconds=max(time.monotonic() - mark.pressed_at, 0.0))
