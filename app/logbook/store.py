"""`Logbook`: the procedure records, opened on one SQLite file. Dicts in, dicts out.

Every write is one transaction that holds the change and its audit entry together, committed
with WAL and synchronous=FULL: when a method returns, the record survives a killed process
and a power cut. Before sign-off a record is edited in place (the trail keeps old and new);
after sign-off the triggers refuse edits and a correction is an amendment, applied when the
record is read. Nothing is ever deleted: a wrong injection is voided, with a reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database

from app.logbook import (
    audit,
    catalogue,
    duplicates,
    errors,
    files,
    ids,
    lockout,
    pins,
    provenance,
    pulled,
    recall,
    records,
    roles,
    rules,
    scales,
    snippets,
    validate,
)
from app.logbook.errors import DiskFull, LogbookError, NotALogbook
from app.logbook.migrations import NOT_AUDITED, migrations
from app.logbook.migrations import names as migrations_names

SYNCHRONOUS = "FULL"  # the durability the app runs with; the bench measures this setting
# Automatic WAL checkpoints are off: one would land inside whichever commit crossed 1000 pages
# and copy the log into the database file there (measured: p99 of a commit with its snippet
# 14 ms with them, 7 ms without). The logbook checkpoints at the pauses instead: on opening,
# after a procedure ends or is signed, on closing, and after any commit that leaves the log
# over WAL_LIMIT bytes (a bulk load; a clinic day stays far below it).
WAL_LIMIT = 32 * 2**20
# On a full disk: what a held entry needs beyond its EMG (its rows, indexes, audit entries
# and the log's frame headers), and what a checkpoint leaves free. A checkpoint copies the
# log into the database file, which grows by the pages it has not seen: on a nearly full
# disk that would take the space a user freed for the entry, so it waits until there is room.
RESERVE = 64 * 1024
BUSY_MS = 5000
READABLE = {"users", "patients", "procedures", "vials", "injections"}
# A snippet's EMG, its scale and its source: the columns a pending mark hands its injection.
EMG_COLUMNS = ("fs", "channels", "frames", "uv_per_count", "injection_index", "encoding",
               "samples", "sha256", "source_uri", "source_kind", "calibrated")



def _kb(n: int) -> int:
    return -(-n // 1024)


def default_path() -> Path:
    from devices.files import home

    return home() / "logbook.db"


class Logbook:
    """One logbook file. Not shared between threads: open one per thread that writes."""

    def __init__(self, path: str | os.PathLike | None = None, *, create: bool = True,
                 cat: catalogue.Catalogue | None = None, readonly: bool = False,
                 any_schema: bool = False):
        """`readonly`: open to read only (list, show, verify, export, backup): the file, its
        log and its folder are never written, and read-only media are read where they are.
        It must be a logbook of this Needlepoint's schema, unless `any_schema` (verify, a
        backup's source), which reads an older one as it is."""
        self.path = Path(path) if path else default_path()
        self._cat = cat
        self._entry_bytes = 0  # the EMG of the entry being written, for a full disk's message
        self.readonly = readonly
        if readonly:
            self._open_readonly(any_schema)
            return
        if self.path.exists() and files.read_only(self.path):
            raise LogbookError(files.read_only_words(self.path))
        try:
            files.prepare_file(self.path, create)
        except OSError as e:
            if files.read_only(self.path):
                raise LogbookError(files.read_only_words(self.path)) from None
            raise LogbookError(f"{self.path} cannot be opened: {e.strerror or e}") from None
        try:
            self.db = Database(self.path)
            self.db.execute("PRAGMA foreign_keys = ON")
            self.db.execute(f"PRAGMA busy_timeout = {BUSY_MS}")
            files.check_ours(self.db, self.path)
            self.db.enable_wal()
            self.db.execute(f"PRAGMA synchronous = {SYNCHRONOUS}")
            self.db.execute("PRAGMA wal_autocheckpoint = 0")
            migrations.apply(self.db)
            self.checkpoint()
        except sqlite3.DatabaseError as e:
            self._close_quietly()
            if errors.is_full(e):
                raise DiskFull(f"{self.path}: the disk is full; the logbook could not be "
                               "opened for writing") from None
            if files.read_only(self.path, e):
                raise LogbookError(files.read_only_words(self.path)) from None
            raise NotALogbook(f"{self.path} is not a Needlepoint logbook or is damaged "
                              f"({e})") from None
        except LogbookError:
            self._close_quietly()
            raise
        files.tighten(self.path)

    def _open_readonly(self, any_schema: bool) -> None:
        files.prepare_file(self.path, create=False)
        if self.path.stat().st_size == 0:
            raise NotALogbook(f"{self.path} is empty: not a logbook (nothing was written to "
                              "it)")
        conn = files.connect_readonly(self.path)
        self.db = Database(conn)
        try:
            files.check_ours(self.db, self.path, finish=False)
            applied = [m.name for m in migrations.applied(self.db)]
            if not any_schema and applied != list(migrations_names()):
                raise LogbookError(f"{self.path} has an older schema than this Needlepoint's "
                                   "and is open read-only: open it once to write (the app, or "
                                   "any command that writes) to bring it forward")
        except sqlite3.DatabaseError as e:
            self._close_quietly()
            raise NotALogbook(f"{self.path} is not a Needlepoint logbook or is damaged "
                              f"({e})") from None
        except LogbookError:
            self._close_quietly()
            raise

    # plumbing ---------------------------------------------------------------------------
    @property
    def cat(self) -> catalogue.Catalogue:
        return self._cat or catalogue.default()

    def close(self) -> None:
        if self.readonly:  # nothing to copy, and a read-only connection writes nothing
            self.db.close()
            return
        if self.checkpoint():
            self.db.close()
            return
        # No room to copy the log: SQLite would still try as the last connection closes,
        # taking the space freed for the next entry. A read-only connection open meanwhile
        # keeps it from trying (its own close cannot write); the log stays, safe, for later.
        try:
            keeper = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
            keeper.execute("SELECT count(*) FROM sqlite_master").fetchall()  # holds its lock
        except sqlite3.Error:
            keeper = None
        self.db.close()
        if keeper is not None:
            keeper.close()

    def checkpoint(self) -> bool:
        """Copy the write-ahead log into the database file, without waiting for readers (a
        checkpoint that cannot finish now finishes at the next pause). Durability does not
        depend on it: a commit is safe once it is in the log. On a disk without room for
        the database file to grow by what the log holds, plus RESERVE, it waits (returns
        False): the space is kept for entries."""
        if not self._room_to_checkpoint():
            return False
        with contextlib.suppress(sqlite3.OperationalError):  # busy or read-only: it waits
            self.db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        return True

    def _room_to_checkpoint(self) -> bool:
        try:
            pages = self.db.execute("PRAGMA page_count").fetchone()[0]
            size = self.db.execute("PRAGMA page_size").fetchone()[0]
            growth = max(0, pages * size - os.stat(self.path).st_size)
            st = os.statvfs(self.path.parent)
        except (OSError, sqlite3.Error):
            return True
        return growth == 0 or st.f_bavail * st.f_frsize >= growth + RESERVE

    def _wal_bytes(self) -> int:
        try:
            return os.stat(f"{self.path}-wal").st_size
        except OSError:
            return 0

    def __enter__(self) -> Logbook:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _close_quietly(self) -> None:
        db = getattr(self, "db", None)
        if db is not None:
            db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic change; nested uses join the outer one (savepoints). Bulk loaders wrap
        many calls in one to commit once."""
        outermost = not self.db.conn.in_transaction
        try:
            if outermost:
                # Take the write lock before reading (the audit head, the next seq): another
                # process then waits its turn (busy timeout) instead of failing later with a
                # stale read, and the chain and the numbering stay in order.
                self.db.execute("BEGIN IMMEDIATE")
            try:
                with self.db.atomic():  # inside ours: a savepoint, so a failure undoes it all
                    yield
                if outermost:
                    self.db.commit()
            except BaseException:
                if outermost:
                    self.db.rollback()
                raise
            if outermost and self._wal_bytes() > WAL_LIMIT:
                self.checkpoint()
        except sqlite3.OperationalError as e:
            if errors.is_full(e):
                entry = self._entry_bytes
                why = (f" (this entry's EMG {_kb(entry)} KB and {_kb(RESERVE)} KB more)"
                       if entry else "")
                raise DiskFull(f"the disk is full: nothing was saved; free at least "
                               f"{_kb(entry + RESERVE)} KB{why} and try again") from None
            if files.read_only(self.path, e):
                raise LogbookError(files.read_only_words(self.path)) from None
            raise LogbookError(f"the logbook could not save this: {e}") from None
        except sqlite3.IntegrityError as e:
            raise LogbookError(f"refused by the logbook: {errors.integrity_words(e)}") from None
        finally:
            if outermost:
                self._entry_bytes = 0

    def _row(self, table: str, row_id: str) -> dict | None:
        cur = self.db.execute(f"SELECT * FROM [{table}] WHERE id = ?", [row_id])
        values = cur.fetchone()
        if values is None:
            return None
        return dict(zip([d[0] for d in cur.description], values, strict=True))

    def _need(self, table: str, row_id: str, what: str) -> dict:
        row = self._row(table, row_id)
        if row is None:
            raise LogbookError(f"no {what} with id {row_id}")
        return row

    def _insert(self, table: str, row: dict, by: str | None, reason: str | None = None
                ) -> dict:
        self.db[table].insert(row)
        stored = self._row(table, row["id"])
        hidden = NOT_AUDITED.get(table, ())
        audit.append(self.db, user_id=by, action="insert", tbl=table, row_id=row["id"],
                     new={k: v for k, v in stored.items() if k not in hidden}, reason=reason)
        return stored

    def _update(self, table: str, row_id: str, changes: dict, by: str | None,
                reason: str | None = None, action: str = "update") -> dict:
        old = self._row(table, row_id)
        self._mine(old, table)
        diff = {k: v for k, v in changes.items() if old.get(k) != v}
        if not diff:
            return old
        sets = ", ".join(f"[{k}] = ?" for k in diff)
        self.db.execute(f"UPDATE [{table}] SET {sets} WHERE id = ?", [*diff.values(), row_id])
        new = self._row(table, row_id)
        audit.append(self.db, user_id=by, action=action, tbl=table, row_id=row_id,
                     old={k: old[k] for k in diff}, new={k: new[k] for k in diff},
                     reason=reason)
        return new

    @staticmethod
    def _mine(row: dict, table: str) -> None:
        """Refuse to change a row pulled from another tablet: the tablet that wrote it
        changes it (an amendment or an observation may be added here, as new rows)."""
        if row.get("origin"):
            what = {"dose_warnings": "dose warning", "pending_marks": "pending mark"}.get(
                table, table[:-1])
            raise LogbookError(f"this {what} was recorded on tablet {row['origin']}: it is "
                               "changed there (an amendment or an observation may be added "
                               "here)")

    def _user(self, user_id: str | None, action: str | None = None) -> dict:
        """The active user `user_id`, allowed to do `action` (app.logbook.roles)."""
        if not user_id:
            raise LogbookError("who is doing this? a user id is needed")
        user = self._row("users", user_id)
        if user is None or not user["active"]:
            raise LogbookError(f"no active user with id {user_id}")
        if user.get("origin"):
            raise LogbookError(f"{user['name']} was enrolled on tablet {user['origin']}: "
                               "enrol them on this tablet to work here")
        if action:
            roles.require(user, action)
        return user

    # users --------------------------------------------------------------------------------
    def add_user(self, user: dict, by: str | None = None) -> dict:
        """{name, role (physician|nurse|admin), pin}. The first user needs no `by`."""
        has_users = self.db.execute("SELECT 1 FROM users WHERE origin IS NULL LIMIT 1"
                                    ).fetchone()
        action = roles.add_action(user.get("role"))
        if has_users:  # after the first, users are added by a user allowed to (roles.py)
            self._user(by, action)
        elif user["role"] == "nurse":
            raise LogbookError("role: the first user is a physician or an admin, who then "
                               "adds the others")
        name = validate.Field("name", "text", longest=100).check(user.get("name"))
        if not name:
            raise LogbookError("name is required")
        row = {"id": ids.new_id(), "name": name, "role": user["role"],
               "pin_hash": pins.hash_pin(user.get("pin")), "active": 1,
               "created_at": ids.now()}
        with self.transaction():
            stored = self._insert("users", row, by or row["id"])
        return records.public_user(stored)

    def users(self) -> list[dict]:
        """Every user, those pulled from other tablets too (`origin`: their tablet), whose
        names the records show; only this tablet's own (origin None) may sign in here."""
        return [records.public_user(r) for r in self.db.query("SELECT * FROM users ORDER BY name")]

    def check_pin(self, user_id: str, pin: str) -> bool:
        """True for the user's PIN; False for a wrong one, an unknown or an inactive user.
        Wrong PINs in a row hold the user out for longer and longer (app.logbook.lockout):
        raises PinLocked, with the seconds to wait, when this PIN starts a hold or comes
        during one (the right PIN too: it is then not checked). Every attempt on a user is
        an audit entry naming its outcome, never the PIN."""
        row = self._row("users", user_id)
        if not row or not row["active"] or row.get("origin"):
            return False
        return self._count_pin(user_id, row["pin_hash"], pin, None)

    def check_pin_later(self, user_id: str, pin: str, done: Callable[[object], None],
                        post: Callable[[Callable[[], None]], None]) -> None:
        """check_pin without holding the caller's thread for the hash (scrypt, about 0.1 s
        by design): the hash is checked on a thread of its own (hashlib releases the GIL),
        then `post` runs the counting on the caller's thread, which owns this connection,
        and `done` gets True, False or the PinLocked."""
        row = self._row("users", user_id)
        if not row or not row["active"] or row.get("origin"):
            post(lambda: done(False))
            return

        def finish(right: bool) -> None:
            try:
                done(self._count_pin(user_id, row["pin_hash"], pin, right))
            except errors.PinLocked as e:
                done(e)

        def check() -> None:
            right = pins.check_pin(pin, row["pin_hash"])
            post(lambda: finish(right))

        threading.Thread(target=check, name="pin-check", daemon=True).start()

    def _count_pin(self, user_id: str, stored: str, pin: str, right: bool | None) -> bool:
        with self.transaction():
            state = self._row("pin_attempts", user_id)
            if state is None:
                state = self._insert("pin_attempts", lockout.fresh(user_id), None)
            tried = lockout.attempt(state, stored, pin, right=right)
            self._update("pin_attempts", user_id, tried.changes,
                         user_id if tried.right else None, action=tried.action)
        if tried.wait_s:
            raise errors.PinLocked(tried.wait_s)
        return tried.right

    # patients -----------------------------------------------------------------------------
    def add_patient(self, patient: dict, by: str) -> dict:
        self._user(by, "record")
        row = {"id": ids.new_id(), "created_at": ids.now(),
               **validate.clean("patients", patient)}
        records.text(row, "mrn")
        records.text(row, "family_name")
        with self.transaction():
            return self._insert("patients", row, by)

    def update_patient(self, patient_id: str, changes: dict, by: str,
                       reason: str | None = None) -> dict:
        self._user(by, "record")
        self._need("patients", patient_id, "patient")
        changes = validate.clean("patients", changes)
        for required in ("mrn", "family_name"):
            if required in changes and changes[required] is None:
                raise LogbookError(f"{required} is required")
        with self.transaction():
            return self._update("patients", patient_id, changes, by, reason)

    def patient(self, patient_id: str) -> dict:
        return self._need("patients", patient_id, "patient")

    def find_patient(self, mrn: str) -> dict | None:
        """The patient of this MRN: this tablet's row, else the first pulled from another
        (the same MRN is the same patient, whichever tablet made the row)."""
        rows = list(self.db.query("SELECT * FROM patients WHERE mrn = ? ORDER BY origin IS "
                                  "NOT NULL, created_at LIMIT 1", [mrn]))
        return rows[0] if rows else None

    def own_patient(self, patient_id: str, by: str) -> dict:
        """This tablet's own row of the patient (the same MRN as `patient_id`'s): that row
        itself when it is this tablet's; else this tablet's row of the MRN, or, when it has
        none, a copy of the pulled row's details made here, which this tablet may then
        change (a pulled row is changed only on its tablet)."""
        patient = self._need("patients", patient_id, "patient")
        if not patient.get("origin"):
            return patient
        mine = self.find_patient(patient["mrn"])
        if mine is not None and not mine.get("origin"):
            return mine
        return self.add_patient({k: patient[k] for k in (
            "mrn", "family_name", "given_name", "birth_date", "sex", "weight_kg")}, by)

    def same_patient(self, patient_id: str) -> list[str]:
        """The ids of every patient row that is this patient: those with its MRN, whichever
        tablet made them (the same MRN is the same patient, issue 32), and those of the
        MRNs a person decided are the same patient (`decide_duplicate`)."""
        patient = self._need("patients", patient_id, "patient")
        mrns = sorted(duplicates.linked(self.db, patient["mrn"]))
        return [r[0] for r in self.db.execute(
            f"SELECT id FROM patients WHERE mrn IN ({','.join('?' * len(mrns))})", mrns)]

    def possible_duplicates(self, patient_id: str | None = None) -> list[dict]:
        """Open possible duplicates (app.logbook.duplicates.possible): every pair of MRNs
        with the same name and birth date that no one has decided on, or those of the
        patient `patient_id`."""
        mrn = self._need("patients", patient_id, "patient")["mrn"] if patient_id else None
        return duplicates.possible(self.db, mrn)

    def duplicate_note(self, patient_id: str) -> str | None:
        """What a dose check for this patient says beside its result while a possible
        duplicate is open: its injections under the other MRN are not counted."""
        return duplicates.note(self.possible_duplicates(patient_id))

    def decide_duplicate(self, mrn: str, other: str, decision: str, reason: str, by: str
                         ) -> dict:
        """A person's decision on two MRNs with the same name and birth date: "same" (one
        patient from now on, wherever a patient's past is read) or "different" (the
        question closed). A new row, audited; a later decision on the pair supersedes it.
        Refused for two MRNs that are not a possible duplicate and were never decided on:
        the software merges no one a person was not shown."""
        self._user(by, "record")
        if decision not in duplicates.DECISIONS:
            raise LogbookError("decision: same or different")
        reason = validate.reason(reason, "the decision's reason")
        a, b = duplicates.pair(mrn, other)
        if a == b:
            raise LogbookError("the two MRNs are one: nothing to decide")
        keys = {}
        for m in (a, b):
            rows = list(self.db.query("SELECT * FROM patients WHERE mrn = ?", [m]))
            if not rows:
                raise LogbookError("no patient with that MRN here")
            keys[m] = {duplicates.person_key(r) for r in rows} - {None}
        if not keys[a] & keys[b] and (a, b) not in duplicates.current(self.db):
            raise LogbookError("these two patients differ in name or birth date: they are "
                               "not a possible duplicate")
        row = {"id": ids.new_id(), "mrn_a": a, "mrn_b": b, "decision": decision,
               "reason": reason, "by": by, "at": ids.now()}
        with self.transaction():
            return self._insert("patient_links", row, by, reason)

    def duplicate_decisions(self, mrn: str) -> list[dict]:
        """Every decision on a pair with this MRN, oldest first (superseded ones too)."""
        return list(self.db.query("SELECT * FROM patient_links WHERE ? IN (mrn_a, mrn_b) "
                                  "ORDER BY at, id", [mrn]))

    # procedures ---------------------------------------------------------------------------
    def start_procedure(self, procedure: dict, by: str) -> dict:
        self._user(by, "record")
        patient = self._need("patients", procedure.get("patient_id") or "", "patient")
        row = self._procedure_fields(procedure)
        row = {"id": ids.new_id(), "patient_id": patient["id"],
               "weight_kg": patient["weight_kg"], "started_at": ids.now(),
               **row, "created_at": ids.now(), "created_by": by}
        with self.transaction():
            return records.decode(self._insert("procedures", row, by))

    def update_procedure(self, procedure_id: str, changes: dict, by: str,
                         reason: str | None = None) -> dict:
        self._user(by, "record")
        proc = self._need("procedures", procedure_id, "procedure")
        records.not_signed(proc)
        changes = self._procedure_fields(changes)
        with self.transaction():
            return records.decode(self._update("procedures", procedure_id, changes, by,
                                               reason))

    def _procedure_fields(self, values: dict) -> dict:
        """A procedure's fields checked, its physician a physician and its nurse a user."""
        fields = validate.clean("procedures", records.procedure_fields(values))
        if fields.get("physician_id"):
            doctor = self._row("users", fields["physician_id"])
            if doctor is None or not doctor["active"] or doctor["role"] != "physician":
                raise LogbookError("physician_id: not an active physician")
        if fields.get("nurse_id") and self._row("users", fields["nurse_id"]) is None:
            raise LogbookError("nurse_id: no such user")
        return fields

    def end_procedure(self, procedure_id: str, by: str, *, pain_after: int | None = None,
                      at=None) -> dict:
        changes = {"ended_at": at or ids.now()}
        if pain_after is not None:
            changes["pain_after"] = pain_after
        done = self.update_procedure(procedure_id, changes, by)
        self.checkpoint()
        return done

    def sign_off(self, procedure_id: str, by: str) -> dict:
        """The physician's signature. From now on a correction is an amendment. Refused
        while a dose warning is open (neither overridden nor on a voided injection): each
        is named."""
        self._user(by, "sign")
        proc = self._need("procedures", procedure_id, "procedure")
        records.not_signed(proc)
        still = self.open_warnings(procedure_id)
        if still:
            raise LogbookError(f"{len(still)} dose warning{'s' if len(still) > 1 else ''} "
                               "still open (a physician overrides each with a reason, or "
                               "the injection is voided): "
                               + "; ".join(f"{w['rule']}: {w['message']}" for w in still))
        at = ids.now()
        changes = {"signed_at": at, "signed_by": by}
        if not proc["ended_at"]:
            changes["ended_at"] = at
        with self.transaction():
            signed = records.decode(self._update("procedures", procedure_id, changes, by,
                                          action="sign"))
        self.checkpoint()
        return signed

    def amend(self, procedure_id: str, table: str, row_id: str, changes: dict, reason: str,
              by: str, *, overrides: dict | None = None) -> dict:
        """A correction to a signed procedure: recorded beside the original, never over it.
        Its fields are checked as at entry; a dose, where it went, or the procedure's
        physician is a physician's to amend. An injection's units or volume recomputes the
        other from its vial, and the dose rules run as at entry: each warning the amended
        injection raises needs an override ({rule: reason}, a physician's), or nothing is
        recorded. A voided injection takes no amendment but the one that restores it."""
        user = self._user(by, "amend")
        proc = self._need("procedures", procedure_id, "procedure")
        if not proc["signed_at"]:
            raise LogbookError("this procedure is not signed yet: edit it instead")
        reason = validate.reason(reason, "an amendment's reason")
        if table not in records.AMENDABLE:
            raise LogbookError(f"only {', '.join(records.AMENDABLE)} can be amended")
        row = self._need(table, row_id, table[:-1])
        if (row["id"] if table == "procedures" else row["procedure_id"]) != procedure_id:
            raise LogbookError(f"that {table[:-1]} is not part of this procedure")
        if not changes or set(changes) - set(records.AMENDABLE[table]):
            bad = sorted(set(changes) - set(records.AMENDABLE[table])) or ["(nothing)"]
            raise LogbookError(f"cannot amend {', '.join(bad)} of {table}")
        if set(changes) & roles.DOSE_FIELDS:
            roles.require(user, "amend_dose")
        if table == "procedures":
            wanted = self._procedure_fields(changes)
        else:
            wanted = validate.clean(table, changes)
        current = self._effective(table, [row])[0]
        if table == "vials":
            validate.in_catalogue(self.cat, "vials", wanted, current["product"])
        if table == "injections":
            validate.in_catalogue(self.cat, "injections", wanted)
            if current["voided"] and wanted.get("voided") != 0:
                raise LogbookError("this injection is voided: only an amendment restoring it "
                                   "(voided false) may change it")
            wanted = self._completed(current, wanted)
        diff = {k: {"old": current.get(k), "new": v} for k, v in wanted.items()
                if current.get(k) != v}
        if not diff:
            raise LogbookError("the amendment changes nothing")
        entry = {"id": ids.new_id(), "procedure_id": procedure_id, "tbl": table,
                 "row_id": row_id, "changes": audit.canonical(diff), "reason": reason,
                 "by": by, "at": ids.now()}
        with self.transaction():
            stored = self._insert("amendments", entry, by, reason)
            if table == "injections":
                self._amended_warnings(proc, {**current, **wanted}, overrides or {}, user)
        return {**stored, "changes": diff}

    def _completed(self, current: dict, wanted: dict) -> dict:
        """Units or volume changed alone: the other follows from the injection's own vial
        (its dose in mg, too, for an anaesthetic)."""
        vial_id = wanted.get("vial_id", current.get("vial_id"))
        vial = self._row("vials", vial_id) if vial_id else None
        if vial is None or ("units" in wanted) == ("volume_ml" in wanted):
            return wanted
        done = rules.complete_dose(self.cat, vial, units=wanted.get("units"),
                                   volume_ml=wanted.get("volume_ml"))
        filled = {k: done[k] for k in ("units", "volume_ml", "dose_mg")
                  if k not in wanted and done.get(k) is not None}
        return {**wanted, **filled}

    def amendment_warnings(self, procedure_id: str, injection_id: str, changes: dict
                           ) -> tuple[dict, list[dict]]:
        """What amending an injection would make of it (its values with the other of units
        or volume recomputed from its vial) and the dose warnings that would then need a
        physician's override; nothing is written. For the screen, before it is confirmed."""
        proc = self._need("procedures", procedure_id, "procedure")
        row = self._need("injections", injection_id, "injection")
        current = self._effective("injections", [row])[0]
        wanted = self._completed(current, validate.clean("injections", changes))
        amended = {**current, **wanted}
        return amended, self._amendment_rules(proc, amended)

    def _amendment_rules(self, proc: dict, injection: dict) -> list[dict]:
        """The dose rules on an amended injection, as at entry, less those already
        overridden for it."""
        warnings = self._rules_on(proc, injection)
        settled = {r[0] for r in self.db.execute(
            "SELECT rule FROM dose_warnings WHERE injection_id = ? AND override_reason IS "
            "NOT NULL", [injection["id"]])}
        return [w for w in warnings if w["rule"] not in settled]

    def _amended_warnings(self, proc: dict, injection: dict, overrides: dict, user: dict
                          ) -> None:
        """A signed record keeps no open warning: each one the amended injection raises and
        not already overridden for it needs an override now."""
        new = self._amendment_rules(proc, injection)
        if not new:
            return
        given = self._overrides(overrides, user["id"]) if overrides else {}
        missing = [w for w in new if w["rule"] not in given]
        if missing:
            raise LogbookError(
                "the amended dose raises warnings that need a physician's override with a "
                "reason: " + "; ".join(f"{w['rule']}: {w['message']}" for w in missing))
        vial = self._need("vials", injection["vial_id"], "vial")
        self._record_warnings(proc, injection["id"], vial, new, given, user["id"],
                              repeat=True)

    def open_warnings(self, procedure_id: str) -> list[dict]:
        """Dose warnings of this procedure neither overridden nor on a voided injection."""
        rows = list(self.db.query(
            "SELECT * FROM dose_warnings WHERE procedure_id = ? AND override_reason IS NULL "
            "AND withdrawn_at IS NULL ORDER BY created_at", [procedure_id]))
        injections = [self._row("injections", i)
                      for i in {r["injection_id"] for r in rows if r["injection_id"]}]
        voided = {r["id"] for r in self._effective("injections", injections) if r["voided"]}
        return [r for r in rows if r["injection_id"] not in voided]

    def warnings_of(self, injection_id: str) -> list[dict]:
        """An injection's dose warnings not withdrawn, overridden or open, oldest first."""
        return list(self.db.query(
            "SELECT * FROM dose_warnings WHERE injection_id = ? AND withdrawn_at IS NULL "
            "ORDER BY created_at", [injection_id]))

    def _overrides(self, overrides: dict, by: str | None) -> dict:
        """{rule: reason} checked: each reason a few words (a blank one is refused, not
        dropped), given by a physician."""
        self._user(by, "override")
        return {rule: validate.reason(text, f"the override of {rule}")
                for rule, text in overrides.items()}

    # vials --------------------------------------------------------------------------------
    def add_vial(self, procedure_id: str, vial: dict, by: str) -> dict:
        self._user(by, "record")
        proc = self._need("procedures", procedure_id, "procedure")
        records.not_signed(proc)
        self._mine(proc, "procedures")
        fields = validate.clean("vials", vial)
        if not fields.get("product"):
            raise LogbookError("product is required")
        validate.in_catalogue(self.cat, "vials", fields)
        kind = self.cat.kind_of(fields["product"])
        row = {"id": ids.new_id(), "procedure_id": procedure_id, "kind": kind, **fields,
               "created_at": ids.now(), "created_by": by}
        if (row.get("units_wasted") or 0) > (row.get("vial_units") or float("inf")):
            raise LogbookError("units_wasted: more than the vial holds")
        if kind == "toxin" and not row.get("vial_units"):
            raise LogbookError("a toxin vial needs its strength (vial_units)")
        if row.get("volume_ml") is None and kind == "toxin":
            row["volume_ml"] = rules.vial_volume_ml(self.cat, row)
        if row.get("expiry"):
            try:
                rules.expiry_date(row["expiry"])
            except ValueError:
                raise LogbookError("expiry is YYYY-MM-DD or YYYY-MM") from None
        with self.transaction():
            return self._insert("vials", row, by)

    def update_vial(self, vial_id: str, changes: dict, by: str, reason: str | None = None
                    ) -> dict:
        self._user(by, "record")
        vial = self._need("vials", vial_id, "vial")
        records.not_signed(self._need("procedures", vial["procedure_id"], "procedure"))
        changes = validate.clean("vials", changes)
        if "product" in changes and changes["product"] != vial["product"]:
            raise LogbookError("product: a vial's product is not changed; add the right vial "
                               "and void what was logged from this one")
        validate.in_catalogue(self.cat, "vials", changes, vial["product"])
        with self.transaction():
            return self._update("vials", vial_id, changes, by, reason)

    # injections ---------------------------------------------------------------------------
    def check_injection(self, procedure_id: str, proposed: dict) -> rules.Checked:
        """The dose-rule warnings a proposed injection would raise; nothing is written.
        A list of warnings, and its `note` (clinic_note: other rooms' injections may be
        missing from it), which is no warning and needs no override."""
        proc = self._need("procedures", procedure_id, "procedure")
        vial = self._need("vials", proposed.get("vial_id") or "", "vial")
        if vial["procedure_id"] != procedure_id:
            raise LogbookError("that vial belongs to another procedure")
        patient = self._need("patients", proc["patient_id"], "patient")
        return rules.Checked(rules.check(self.cat, patient=patient, procedure=proc, vial=vial,
                                         proposed=records.normalise(dict(proposed)),
                                         session=self._session(procedure_id),
                                         history=self._history(patient["id"], procedure_id)),
                             note=self.check_note(patient["id"]))

    def log_injection(self, procedure_id: str, injection: dict, by: str, *,
                      snippet: dict | None = None, overrides: dict | None = None,
                      override_by: str | None = None, pending_mark: str | None = None
                      ) -> dict:
        """Record one injection (and its EMG snippet) as it happened; returns it with the dose
        warnings it raised. Warnings never stop the record: the needle is already in. Those in
        `overrides` ({rule: reason}) are recorded as overridden by `override_by` (default
        `by`), who must be a physician; the rest stay open until a physician overrides them.

        A snippet is {samples (int16 counts), uv_per_count, fs, injection_index, findings,
        source_uri, source_kind, calibrated}: the last three say where the EMG came from (the
        device URI; "amplifier", "simulator" or "replay"; whether its microvolt scale was
        calibrated) and are required, so that no new snippet is stored without its source.

        `pending_mark` (an id from `add_pending_mark`) gives the snippet instead: that
        mark's EMG, which the injection then takes (once).
        """
        self._user(by, "record")
        overrides = self._overrides(overrides, override_by or by) if overrides else {}
        proc = self._need("procedures", procedure_id, "procedure")
        records.not_signed(proc)
        self._mine(proc, "procedures")
        fields = validate.clean("injections", injection)
        validate.in_catalogue(self.cat, "injections", fields)
        fields = {k: v for k, v in fields.items() if v is not None}
        fields.pop("voided", None)  # an injection is logged as given; voiding comes after
        fields.setdefault("at", ids.now())
        emg, findings = self._emg(snippet, pending_mark, procedure_id)
        if findings is not None and fields.get("emg_findings") is None:
            fields["emg_findings"] = findings
        with self.transaction():
            vial = None  # dry needling, or a needle placed without a drug
            if fields.get("vial_id") is not None:
                vial = self._need("vials", fields["vial_id"], "vial")
                if vial["procedure_id"] != procedure_id:
                    raise LogbookError("that vial belongs to another procedure")
            if vial is None:
                pass
            elif fields.get("units") is None or fields.get("volume_ml") is None:
                done = rules.complete_dose(self.cat, vial, units=fields.get("units"),
                                           volume_ml=fields.get("volume_ml"))
                fields = {**{k: v for k, v in done.items() if v is not None}, **{
                    k: v for k, v in fields.items() if v is not None}}
            elif vial["kind"] == "anaesthetic" and fields.get("dose_mg") is None:
                fields["dose_mg"] = rules.complete_dose(
                    self.cat, vial, volume_ml=fields["volume_ml"])["dose_mg"]
            warnings = self.check_injection(procedure_id, fields) if vial else []
            seq = self.db.execute("SELECT coalesce(max(seq), 0) + 1 FROM injections "
                                  "WHERE procedure_id = ?", [procedure_id]).fetchone()[0]
            row = {"id": ids.new_id(), "procedure_id": procedure_id, "seq": seq, **fields,
                   "voided": 0, "created_at": ids.now(), "created_by": by}
            stored = self._insert("injections", row, by)
            snippet_id = ids.new_id() if emg is not None else None
            if emg is not None:
                self._insert("snippets", {"id": snippet_id, "injection_id": row["id"], **emg,
                                          "created_at": ids.now()}, by)
            recorded = self._record_warnings(proc, row["id"], vial, warnings, overrides,
                                             override_by or by)
            if pending_mark is not None:
                self._update("pending_marks", pending_mark, {
                    "injection_id": row["id"], "procedure_id": procedure_id,
                    "taken_at": ids.now(), "taken_by": by}, by, action="take")
        source = ({**provenance.source(emg["source_kind"], emg["source_uri"],
                                       emg["calibrated"]), "snippet_id": snippet_id}
                  if emg is not None else None)
        return {**records.decode(stored), "has_snippet": emg is not None,
                "emg_source": source, "warnings": recorded}

    def _emg(self, snippet: dict | None, pending_mark: str | None, procedure_id: str
             ) -> tuple[dict | None, str | None]:
        """(the snippets row's EMG columns, the findings as JSON text) of a snippet given
        (checked and compressed here) or of a pending mark (taken as it was stored: its EMG
        was compressed once, when it was kept); (None, None) with neither."""
        if pending_mark is not None:
            if snippet is not None:
                raise LogbookError("give a snippet or a pending mark, not both")
            m = self._open_mark(pending_mark)
            if m["procedure_id"] not in (None, procedure_id):
                raise LogbookError("that mark was made during another procedure")
            self._entry_bytes = len(m["samples"])  # copied into the injection's snippet
            return {k: m[k] for k in EMG_COLUMNS}, m["findings"]
        if snippet is None:
            return None, None
        samples, meta = snippets.validate(snippet)
        blob, sha = snippets.encode(samples)
        self._entry_bytes = len(blob)  # what a full disk would need freed for it
        findings = snippet.get("findings")
        return ({**meta, "encoding": snippets.ENCODING, "samples": blob, "sha256": sha},
                records.to_json(findings) if findings is not None else None)

    def record_warnings(self, procedure_id: str, injection_id: str, warnings: list[dict],
                        overrides: dict | None = None, by: str | None = None) -> None:
        """Record dose warnings for an injection completed field by field after it was
        logged (log_injection records those it saw itself). Those in `overrides` ({rule:
        reason}) are recorded as overridden by `by`, who must then be a physician."""
        proc = self._need("procedures", procedure_id, "procedure")
        records.not_signed(proc)
        inj = self._need("injections", injection_id, "injection")
        vial = self._row("vials", inj["vial_id"]) if inj.get("vial_id") else None
        self._mine(proc, "procedures")
        overrides = self._overrides(overrides, by) if overrides else {}
        with self.transaction():
            self._record_warnings(proc, injection_id, vial, warnings, overrides, by)

    def row(self, table: str, row_id: str) -> dict | None:
        """One stored row as it is (no amendments applied), or None."""
        if table not in READABLE:
            raise LogbookError(f"no table {table!r} to read here")
        return self._row(table, row_id)

    def prior_injections(self, patient_id: str, procedure_id: str) -> list[dict]:
        """The patient's injections in other procedures, for rules that span procedures."""
        return self._history(patient_id, procedure_id)

    def _record_warnings(self, proc, injection_id, vial, warnings, overrides, who, *,
                         repeat: bool = False):
        """`repeat`: an amendment's warnings, recorded even when the session already has
        one of the same rule (the amended dose is a new decision)."""
        already = {(r[0], r[1]) for r in self.db.execute(
            "SELECT rule, coalesce(product, '') FROM dose_warnings WHERE procedure_id = ? "
            "AND withdrawn_at IS NULL",
            [proc["id"]])}
        out = []
        for w in warnings:
            if not repeat and w["rule"] in rules.SESSION_RULES and \
                    (w["rule"], w["product"] or "") in already:
                continue
            reason = overrides.get(w["rule"])
            row = {"id": ids.new_id(), "procedure_id": proc["id"],
                   "injection_id": injection_id, "rule": w["rule"], "product": w["product"],
                   "message": w["message"], "limit_value": w["limit_value"],
                   "value": w["value"],
                   "source": records.to_json(w["source"]) if w["source"] else None,
                   "override_reason": reason, "override_by": who if reason else None,
                   "override_at": ids.now() if reason else None, "created_at": ids.now()}
            out.append(self._insert("dose_warnings", row, who if reason else None, reason))
        return out

    def override_warning(self, warning_id: str, reason: str, by: str) -> dict:
        """A physician's decision, with its reason, on a warning recorded without one."""
        self._user(by, "override")
        w = self._need("dose_warnings", warning_id, "dose warning")
        if w["override_reason"]:
            raise LogbookError("this warning was already overridden")
        if w["withdrawn_at"]:
            raise LogbookError("this warning was withdrawn (" + w["withdrawn_note"] + "): "
                               "nothing to override")
        reason = validate.reason(reason, "an override's reason")
        with self.transaction():
            return self._update("dose_warnings", warning_id, {
                "override_reason": reason, "override_by": by,
                "override_at": ids.now()}, by, reason, action="override")

    def void_injection(self, injection_id: str, reason: str, by: str) -> dict:
        """Strike out an injection recorded by mistake (before sign-off; amend after)."""
        reason = validate.reason(reason, "voiding's reason")
        self._user(by, "record")
        inj = self._need("injections", injection_id, "injection")
        records.not_signed(self._need("procedures", inj["procedure_id"], "procedure"))
        if inj["voided"]:
            raise LogbookError("this injection is already voided")
        with self.transaction():
            return records.decode(self._update("injections", injection_id, {"voided": 1}, by,
                                        reason, action="void"))

    def update_injection(self, injection_id: str, changes: dict, by: str,
                         reason: str | None = None) -> dict:
        """Complete or correct an injection before sign-off. A voided one is not edited (it
        was struck out; log it again). Units or volume given alone recomputes the other
        from the injection's vial."""
        self._user(by, "record")
        inj = self._need("injections", injection_id, "injection")
        records.not_signed(self._need("procedures", inj["procedure_id"], "procedure"))
        if inj["voided"]:
            raise LogbookError("this injection is voided: it is not edited (log it again)")
        changes = validate.clean("injections", changes)
        if "voided" in changes:
            raise LogbookError("voided: void an injection with its reason (void_injection)")
        validate.in_catalogue(self.cat, "injections", changes)
        changes = self._completed(inj, changes)
        with self.transaction():
            done = records.decode(self._update("injections", injection_id, changes, by,
                                               reason))
            if changes.keys() & rules.INPUTS:
                self._settle_warnings(inj["procedure_id"], injection_id, changes, by)
        return done

    def _settle_warnings(self, procedure_id: str, injection_id: str, changes: dict,
                         by: str) -> None:
        """The dose rules the moment a value is confirmed: a warning the injection raises
        now is recorded at once (open, for a physician), and an open one that the change made
        moot (on this injection, or a session total on another) is withdrawn with a note.
        One whose wording changed (another dose) is withdrawn and recorded anew. An
        overridden warning stays as the physician decided it."""
        proc = self._need("procedures", procedure_id, "procedure")
        recorded = list(self.db.query(
            "SELECT * FROM dose_warnings WHERE procedure_id = ? AND withdrawn_at IS NULL",
            [procedure_id]))
        around = self._around(proc)  # the session and history, read once for them all
        now_raised = {}
        for inj_id in {injection_id} | {w["injection_id"] for w in recorded
                                         if w["injection_id"] and not w["override_reason"]}:
            now_raised[inj_id] = self._rules_on(
                proc, self._need("injections", inj_id, "injection"), around)
        raised = {inj_id: {(x["rule"], x["message"]) for x in found}
                  for inj_id, found in now_raised.items()}
        note = "no longer raised once " + " and ".join(
            f"{k} became {_shown(v)}" for k, v in changes.items())
        for w in recorded:
            if w["override_reason"] or w["injection_id"] not in now_raised:
                continue
            if (w["rule"], w["message"]) not in raised[w["injection_id"]]:
                self._update("dose_warnings", w["id"], {
                    "withdrawn_at": ids.now(), "withdrawn_by": by, "withdrawn_note": note},
                    by, note, action="withdraw")
        kept = {(w["rule"], w["message"]) for w in recorded if w["injection_id"] ==
                injection_id}
        settled = {w["rule"] for w in recorded if w["injection_id"] == injection_id
                   and w["override_reason"]}
        new = [w for w in now_raised[injection_id]
               if (w["rule"], w["message"]) not in kept and w["rule"] not in settled]
        if new:
            inj = self._need("injections", injection_id, "injection")
            self._record_warnings(proc, injection_id, self._row("vials", inj["vial_id"]),
                                  new, {}, None)

    def _around(self, proc: dict) -> tuple[dict, list[dict], list[dict]]:
        """What the dose rules read besides the injection: the patient, the procedure's
        injections that count, and the patient's other procedures' injections."""
        patient = self._need("patients", proc["patient_id"], "patient")
        return (patient, self._session(proc["id"]),
                self._history(patient["id"], proc["id"]))

    def _rules_on(self, proc: dict, injection: dict,
                  around: tuple[dict, list[dict], list[dict]] | None = None) -> list[dict]:
        """The dose rules on one injection (as given: stored, or amended) among the rest of
        its procedure and the patient's other procedures (`around`, read here if not
        given)."""
        if injection.get("voided") or not injection.get("vial_id"):
            return []
        vial = self._need("vials", injection["vial_id"], "vial")
        patient, session, history = around or self._around(proc)
        return rules.check(self.cat, patient=patient, procedure=proc, vial=vial,
                           proposed=injection,
                           session=[r for r in session if r["id"] != injection["id"]],
                           history=history)

    # pending marks ---------------------------------------------------------------------
    def add_pending_mark(self, snippet: dict, *, pressed_at, procedure_id: str | None = None
                         ) -> dict:
        """A mark's EMG (a snippet, as `log_injection` takes it), kept the moment it is
        complete, whether or not anyone is signed in (so no user: the tablet may be locked)
        or a procedure is open. An injection takes it later (`log_injection(...,
        pending_mark=id)`), or a user discards it with a reason. Returns it without its
        samples."""
        samples, meta = snippets.validate(snippet)
        blob, sha = snippets.encode(samples)
        self._entry_bytes = len(blob)
        if procedure_id is not None:
            proc = self._need("procedures", procedure_id, "procedure")
            records.not_signed(proc)
            self._mine(proc, "procedures")
        findings = snippet.get("findings")
        row = {"id": ids.new_id(),
               "pressed_at": validate.Field("pressed_at", "stamp").check(pressed_at),
               "procedure_id": procedure_id, **meta, "encoding": snippets.ENCODING,
               "samples": blob, "sha256": sha,
               "findings": records.to_json(findings) if findings is not None else None,
               "created_at": ids.now()}
        if row["pressed_at"] is None:
            raise LogbookError("pressed_at is required")
        with self.transaction():
            stored = self._insert("pending_marks", row, None)
        return records.pending(stored)

    def pending_marks(self, procedure_id: str | None = None) -> list[dict]:
        """Marks neither taken by an injection nor discarded, oldest first, without their
        samples: all of them, or those of `procedure_id` and those made with none open."""
        sql = ("SELECT * FROM pending_marks WHERE injection_id IS NULL AND discarded_at IS "
               "NULL AND origin IS NULL")
        args: list = []
        if procedure_id is not None:
            sql += " AND (procedure_id = ? OR procedure_id IS NULL)"
            args.append(procedure_id)
        return [records.pending(r) for r in self.db.query(sql + " ORDER BY pressed_at", args)]

    def discard_pending_mark(self, mark_id: str, reason: str, by: str) -> dict:
        """A mark that was no injection (pressed by mistake), set aside with a reason; its
        EMG is kept."""
        self._user(by, "record")
        reason = validate.reason(reason, "discarding's reason")
        self._open_mark(mark_id)
        with self.transaction():
            return records.pending(self._update(
                "pending_marks", mark_id, {"discarded_at": ids.now(), "discarded_by": by,
                                           "discard_reason": reason}, by, reason,
                action="discard"))

    def _open_mark(self, mark_id: str) -> dict:
        mark = self._need("pending_marks", mark_id, "pending mark")
        if mark["injection_id"] or mark["discarded_at"]:
            raise LogbookError("this mark was already taken by an injection or discarded")
        return mark

    def snippet(self, injection_id: str) -> dict | None:
        """The stored snippet with its samples as int16 (frames, channels), `calibrated` as
        True, False or None (not recorded), and `provenance`: its source in words."""
        return self._emg_row("snippets", "injection_id", injection_id)

    def pending_snippet(self, mark_id: str) -> dict | None:
        """A pending mark's EMG as `snippet` gives an injection's (to show it before it is
        assigned or discarded)."""
        return self._emg_row("pending_marks", "id", mark_id)

    def _emg_row(self, table: str, key: str, value: str) -> dict | None:
        cur = self.db.execute(f"SELECT * FROM {table} WHERE {key} = ?", [value])
        values = cur.fetchone()
        if values is None:
            return None
        row = dict(zip([d[0] for d in cur.description], values, strict=True))
        blob = row["samples"]
        if row.get("origin") and not blob:
            blob = pulled.emg_of(self.db, row["id"])
        # a pulled row's EMG not fetched yet: samples None, on the clinic server
        row["on_clinic_server"] = blob is None
        row["samples"] = None if blob is None else snippets.decode(
            blob, row["frames"], row["channels"], row["encoding"])
        src = provenance.source(row["source_kind"], row["source_uri"], row["calibrated"])
        row["calibrated"], row["provenance"] = src["calibrated"], src["label"]
        return row

    def add_observation(self, procedure_id: str, obs: dict, by: str) -> dict:
        """A score on or after the day (app.logbook.scales: pain_nrs at follow-up,
        modified_ashworth with its grade and muscle, twstrs_*, gas with its goal): allowed
        after sign-off, because it is a new finding, not a correction of the record. One
        value per scale, muscle, side, goal and time point: a second one supersedes the
        current one (a correction, linked, the earlier kept); the same value again writes
        nothing and returns the current one. `supersedes`, when given, must be the current
        one's id (a correction of a value someone else has corrected meanwhile is
        refused)."""
        self._user(by, "record")
        self._need("procedures", procedure_id, "procedure")
        checked = validate.observation(obs)
        row = {"id": ids.new_id(), "procedure_id": procedure_id, **checked,
               "at": checked.get("at") or ids.now(), "by": by}
        with self.transaction():
            now = self.current_observation(row)
            if checked["supersedes"] is not None and checked["supersedes"] != (now or {}).get(
                    "id"):
                raise LogbookError("supersedes: not the current value of this scale here "
                                   "(corrected meanwhile?)")
            if now is not None and (now["value"], now.get("grade")) == (row["value"],
                                                                        row["grade"]):
                return now
            row["supersedes"] = now["id"] if now else None
            return self._insert("observations", row, by)

    def current_observation(self, obs: dict) -> dict | None:
        """The value now recorded for what `obs` is of (its procedure, scale, time point,
        muscle, side and goal), or None."""
        rows = list(self.db.query(
            """SELECT * FROM observations WHERE procedure_id = ? AND scale = ?
               AND timepoint = ? AND muscle IS ? AND side IS ? AND goal IS ?""",
            list(scales.key(obs))))
        return next((o for o in scales.current(rows) if o["current"]), None)

    # reading ------------------------------------------------------------------------------
    def procedures(self, patient_id: str | None = None, limit: int | None = None
                   ) -> list[dict]:
        """Summaries, newest first: one row per procedure with counts and totals."""
        params = self.same_patient(patient_id) if patient_id else []
        where = f"WHERE p.patient_id IN ({','.join('?' * len(params))})" if params else ""
        sql = f"""SELECT p.id, p.patient_id, pt.mrn, p.kind, p.indication, p.started_at,
                   p.ended_at, p.signed_at, p.origin,
                   (SELECT count(*) FROM injections i WHERE i.procedure_id = p.id
                        AND i.voided = 0) AS injections,
                   (SELECT count(*) FROM amendments a WHERE a.procedure_id = p.id) AS amendments
                  FROM procedures p JOIN patients pt ON pt.id = p.patient_id {where}
                  ORDER BY p.started_at DESC""" + (f" LIMIT {int(limit)}" if limit else "")
        return list(self.db.query(sql, params))

    def procedure(self, procedure_id: str) -> dict:
        """The whole record as it now reads (amendments applied), with its history."""
        found = self._load([self._need("procedures", procedure_id, "procedure")])
        return found[0]

    def patient_history(self, patient_id: str) -> dict:
        """The patient and every procedure, oldest first, in a handful of queries: those
        of every patient row with the same MRN, pulled from other tablets too (each
        procedure's and injection's `origin`: the tablet it was recorded on, None for
        this one)."""
        patient = self.patient(patient_id)
        same = self.same_patient(patient_id)
        procs = list(self.db.query(f"SELECT * FROM procedures WHERE patient_id IN "
                                   f"({','.join('?' * len(same))}) ORDER BY started_at",
                                   same))
        return {"patient": patient, "procedures": self._load(procs, patient=patient)}

    def find_procedure(self, prefix: str) -> dict:
        rows = list(self.db.query("SELECT id FROM procedures WHERE id LIKE ? LIMIT 2",
                                  [prefix.replace("%", "").replace("_", "") + "%"]))
        if not rows:
            raise LogbookError(f"no procedure with id {prefix}")
        if len(rows) > 1:
            raise LogbookError(f"{prefix} matches more than one procedure: give more of its id")
        return self.procedure(rows[0]["id"])

    def _load(self, procs: list[dict], patient: dict | None = None) -> list[dict]:
        if not procs:
            return []
        pids = [p["id"] for p in procs]
        marks = ",".join("?" * len(pids))
        amendments = list(self.db.query(
            f"SELECT * FROM amendments WHERE procedure_id IN ({marks}) ORDER BY at", pids))
        by_row: dict[str, list[dict]] = {}
        for a in amendments:
            a["changes"] = json.loads(a["changes"])
            by_row.setdefault(a["row_id"], []).append(a)
        vials = list(self.db.query(
            f"SELECT * FROM vials WHERE procedure_id IN ({marks}) ORDER BY created_at", pids))
        injections = list(self.db.query(
            f"""SELECT i.*, s.id IS NOT NULL AS has_snippet, s.id AS _src_id,
                       s.origin IS NOT NULL AND length(s.samples) = 0 AND NOT EXISTS (
                           SELECT 1 FROM clinic_emg e WHERE e.id = s.id) AS _src_away,
                       s.source_kind AS _src_kind,
                       s.source_uri AS _src_uri, s.calibrated AS _src_calibrated
                FROM injections i LEFT JOIN snippets s ON s.injection_id = i.id
                WHERE i.procedure_id IN ({marks}) ORDER BY i.procedure_id, i.seq""", pids))
        warnings = list(self.db.query(
            f"SELECT * FROM dose_warnings WHERE procedure_id IN ({marks}) ORDER BY created_at",
            pids))
        observations = list(self.db.query(
            f"SELECT * FROM observations WHERE procedure_id IN ({marks}) ORDER BY at", pids))
        patients = {patient["id"]: patient} if patient else {}
        # The audit trail's head as this read saw it: a printed note carries it, so that
        # paper can be checked against the logbook (or a backup) later.
        seq, head = audit.head(self.db)
        out = []
        for p in procs:
            rec = records.decode(records.apply(dict(p), by_row.get(p["id"], [])))
            rec["patient"] = patients.get(p["patient_id"]) or self.patient(p["patient_id"])
            patients[p["patient_id"]] = rec["patient"]
            rec["vials"] = [records.apply(dict(v), by_row.get(v["id"], [])) for v in vials
                            if v["procedure_id"] == p["id"]]
            product = {v["id"]: v["product"] for v in rec["vials"]}
            rec["injections"] = []
            for i in injections:
                if i["procedure_id"] == p["id"]:
                    i = records.decode(records.apply(dict(i), by_row.get(i["id"], [])))
                    i["has_snippet"] = bool(i["has_snippet"])
                    src = (i.pop("_src_kind"), i.pop("_src_uri"), i.pop("_src_calibrated"))
                    snippet_id, away = i.pop("_src_id"), bool(i.pop("_src_away"))
                    i["emg_source"] = ({**provenance.source(*src), "snippet_id": snippet_id,
                                        "on_clinic_server": away}
                                       if i["has_snippet"] else None)
                    i["product"] = product.get(i["vial_id"])
                    rec["injections"].append(i)
            rec["dose_warnings"] = [w for w in warnings if w["procedure_id"] == p["id"]]
            rec["observations"] = scales.current(
                [o for o in observations if o["procedure_id"] == p["id"]])
            rec["amendments"] = [a for a in amendments if a["procedure_id"] == p["id"]]
            rec["totals"] = records.totals(rec)
            rec["audit_head"] = {"entries": seq, "hash": head}
            out.append(rec)
        return out

    def _effective(self, table: str, rows: list[dict]) -> list[dict]:
        if not rows:
            return rows
        marks = ",".join("?" * len(rows))
        found: dict[str, list[dict]] = {}
        for a in self.db.query(f"SELECT row_id, changes FROM amendments WHERE tbl = ? AND "
                               f"row_id IN ({marks}) ORDER BY at",
                               [table, *[r["id"] for r in rows]]):
            found.setdefault(a["row_id"], []).append({"changes": json.loads(a["changes"])})
        return [records.apply(dict(r), found.get(r["id"], [])) for r in rows]

    def _session(self, procedure_id: str) -> list[dict]:
        rows = list(self.db.query(
            """SELECT i.id, i.vial_id, i.muscle, i.side, i.units, i.dose_mg, i.at, i.voided,
                      v.product FROM injections i JOIN vials v ON v.id = i.vial_id
               WHERE i.procedure_id = ?""", [procedure_id]))
        return [r for r in self._effective("injections", rows) if not r["voided"]]

    def _history(self, patient_id: str, procedure_id: str) -> list[dict]:
        """The patient's toxin injections in other procedures, as they now read (amended,
        voided ones left out), of every patient row with this one's MRN, whichever tablet
        recorded them (`origin`), and of the MRNs a person decided are the same patient."""
        same = self.same_patient(patient_id)
        rows = list(self.db.query(
            f"""SELECT i.id, i.procedure_id, i.muscle, i.side, i.units, i.at, i.voided,
                      v.product, p.started_at, p.origin FROM injections i
               JOIN procedures p ON p.id = i.procedure_id JOIN vials v ON v.id = i.vial_id
               WHERE p.patient_id IN ({','.join('?' * len(same))}) AND p.id <> ?
               AND v.kind = 'toxin'""",
            [*same, procedure_id]))
        return [r for r in self._effective("injections", rows) if not r["voided"]]

    def lot_recall(self, lot: str) -> dict:
        """Every patient and injection that received `lot` (app.logbook.recall.group)."""
        want = recall.normal(lot)
        if not want:
            raise LogbookError("lot: type the lot number to look for")
        vials = [v for v in self._effective("vials", list(self.db.query(
            "SELECT * FROM vials"))) if recall.normal(v.get("lot")) == want]
        if not vials:
            return recall.group(lot, [], [], {}, {})
        procs = {v["procedure_id"] for v in vials}
        marks = ",".join("?" * len(procs))
        injections = [i for i in self._effective("injections", list(self.db.query(
            f"SELECT * FROM injections WHERE procedure_id IN ({marks})", list(procs))))
            if i.get("vial_id") in {v["id"] for v in vials}]
        procedures = {p["id"]: p for p in self.db.query(
            f"SELECT * FROM procedures WHERE id IN ({marks})", list(procs))}
        people = {p["patient_id"] for p in procedures.values()}
        patients = {p["id"]: p for p in self.db.query(
            f"SELECT * FROM patients WHERE id IN ({','.join('?' * len(people))})",
            list(people))}
        for p in patients.values():  # MRNs a person decided are one patient: one person
            p["person"] = " / ".join(sorted(duplicates.linked(self.db, p["mrn"])))
        return recall.group(lot, vials, injections, procedures, patients)

    # the clinic (issue 32) ------------------------------------------------------------------
    def clinic_reached(self) -> str | None:
        """When this tablet last pulled from the clinic server (ids.now() form), or None:
        never, or never joined."""
        return pulled.last_reached(self.db)[1]

    def clinic_note(self, joined: bool | None = None, *, now=None,
                    stale_s: float = pulled.STALE_S) -> str | None:
        """What a dose check says beside its result when other rooms' injections may be
        missing: "other rooms last seen 09:12 (UTC+01:00)" when the last pull is older than
        `stale_s`, "other rooms never seen: ..." before the first; None when pulled within
        it, or when this tablet is in no clinic. `joined`: whether it holds clinic
        credentials (the caller knows; the logbook cannot read them); None: as far as this
        logbook knows (a pull was tried here)."""
        known, last = pulled.last_reached(self.db)
        return pulled.note(known if joined is None else joined or known, last, now, stale_s)

    def check_note(self, patient_id: str | None, joined: bool | None = None, *, now=None
                   ) -> str | None:
        """Everything a dose check for this patient could not count, in words beside its
        result: other rooms not seen lately (clinic_note) and open possible duplicates
        (duplicate_note)."""
        notes = [self.clinic_note(joined, now=now),
                 self.duplicate_note(patient_id) if patient_id else None]
        return "; ".join(n for n in notes if n) or None

    def clinic_held(self, tablet: str) -> tuple[int, str]:
        """(seq, hash) of the last audit entry pulled from `tablet`."""
        return pulled.held(self.db, tablet)

    def clinic_link(self, tablet: str, reached: bool = False) -> None:
        """Record that this logbook is clinic tablet `tablet`; `reached`: a pull from the
        server has just finished."""
        with self.transaction():
            (pulled.reached if reached else pulled.link)(self.db, tablet)

    def take_pulled(self, tablet: str, entries: list[dict]) -> int:
        """Another tablet's audit entries (after those held, in order) stored and applied
        to its rows, in one transaction (app.logbook.pulled.take); the rows made or
        changed. Raises pulled.Refused (nothing stored) or pulled.Waiting (an entry needs
        a row of another tablet not pulled yet; nothing stored)."""
        with self.transaction():
            return pulled.take(self.db, tablet, entries)

    def emg_missing(self, limit: int | None = None) -> list[tuple[str, str, str]]:
        """(table, id, sha256) of pulled snippets and pending marks without their EMG."""
        return pulled.missing_emg(self.db, limit)

    def keep_pulled_emg(self, tbl: str, row_id: str, sha256: str, blob: bytes) -> None:
        """A pulled row's EMG, checked against its hash, in a transaction of its own."""
        self._entry_bytes = len(blob)
        with self.transaction():
            pulled.keep_emg(self.db, tbl, row_id, sha256, blob)

    # integrity ----------------------------------------------------------------------------
    def verify(self, heads: tuple[str, ...] = ()) -> dict:
        """verify.verify_db on this logbook; `heads`: head hashes from printed notes or
        backups, each looked for in the chain."""
        from app.logbook.verify import verify_db

        return verify_db(self.db, tuple(heads))

    def schema_version(self) -> list[str]:
        return [m.name for m in migrations.applied(self.db)]


def _shown(value) -> str:
    """A changed value as a note about it says it: 40 not 40.0, "nothing" for None."""
    if value is None:
        return "nothing"
    return f"{value:g}" if isinstance(value, float) else str(value)
