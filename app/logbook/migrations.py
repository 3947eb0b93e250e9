"""The logbook's schema, as sqlite-utils Migrations applied at start-up.

A migration, once released, never changes: a database written by an older Needlepoint is
brought forward by the ones it has not seen. tests/fixtures/logbook/ keeps a database at
every earlier version (as SQL text) and tests/test_logbook_migrations.py upgrades each.

DDL is written out as SQL rather than through `table.create()` because the CHECK
constraints and triggers are the point: the database itself refuses a pain score of 11, an
unknown role, an edit to a signed procedure or to the audit trail, whoever writes to it.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

SET_NAME = "needlepoint.logbook"
migrations = Migrations(SET_NAME)

# Tables whose every row is written through the audit trail, and that verify() replays.
AUDITED = ("users", "patients", "procedures", "vials", "injections", "snippets",
           "amendments", "dose_warnings", "observations", "pin_attempts", "pending_marks",
           "patient_links")
# Columns the audit trail does not carry: the EMG (it holds its hash instead) and a row's
# tablet of origin (0008_clinic_pull: the trail is this tablet's, its rows have none).
NOT_AUDITED = {"snippets": ("samples", "origin"), "pending_marks": ("samples", "origin"),
               **{t: ("origin",) for t in ("users", "patients", "procedures", "vials",
                                           "injections", "amendments", "dose_warnings",
                                           "observations", "patient_links")}}
# Columns the audit trail carries as the SHA-256 of their value (app.logbook.audit.carried):
# enough for verify() to see one changed behind its back, nothing to search a PIN against.
# Entries written before 0004_pin_attempts carry the PIN hash itself and stay as they are.
DIGESTED = {"users": ("pin_hash",)}


@migrations(name="0001_core")
def m0001_core(db: Database) -> None:
    for sql in _CORE:
        db.execute(sql)
    for table in ("procedures", "vials", "injections", "snippets", "patients", "users"):
        db.execute(f"""CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
            BEGIN SELECT RAISE(ABORT, 'logbook records are never deleted'); END""")
    for table in ("audit", "amendments"):
        db.execute(f"""CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
            BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END""")
        db.execute(f"""CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
            BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END""")
    db.execute("""CREATE TRIGGER procedures_signed BEFORE UPDATE ON procedures
        WHEN OLD.signed_at IS NOT NULL
        BEGIN SELECT RAISE(ABORT, 'procedure is signed: add an amendment'); END""")
    for table in ("vials", "injections"):
        for event, row in (("INSERT", "NEW"), ("UPDATE", "OLD")):
            db.execute(f"""CREATE TRIGGER {table}_signed_{event.lower()}
                BEFORE {event} ON {table}
                WHEN (SELECT signed_at FROM procedures WHERE id = {row}.procedure_id)
                     IS NOT NULL
                BEGIN SELECT RAISE(ABORT, 'procedure is signed: add an amendment'); END""")
    db.execute("""CREATE TRIGGER snippets_signed BEFORE INSERT ON snippets
        WHEN (SELECT p.signed_at FROM injections i JOIN procedures p ON p.id = i.procedure_id
              WHERE i.id = NEW.injection_id) IS NOT NULL
        BEGIN SELECT RAISE(ABORT, 'procedure is signed: add an amendment'); END""")
    db.execute("""CREATE TRIGGER snippets_no_update BEFORE UPDATE ON snippets
        BEGIN SELECT RAISE(ABORT, 'EMG snippets are never rewritten'); END""")


# A snippet's EMG and its scale, as the snippets and pending marks store it (the text is
# part of each table's stored schema: it never changes).
_EMG_COLUMNS = """        fs REAL NOT NULL CHECK (fs > 0),
        channels INTEGER NOT NULL CHECK (channels >= 1),
        frames INTEGER NOT NULL CHECK (frames >= 1),
        uv_per_count REAL NOT NULL CHECK (uv_per_count > 0),
        injection_index INTEGER NOT NULL,
        encoding TEXT NOT NULL,
        samples BLOB NOT NULL,
        sha256 TEXT NOT NULL,
"""

_CORE = [
    """CREATE TABLE users (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('physician', 'nurse', 'admin')),
        pin_hash TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
        created_at TEXT NOT NULL
    )""",
    """CREATE TABLE patients (
        id TEXT PRIMARY KEY,
        mrn TEXT NOT NULL UNIQUE,
        family_name TEXT NOT NULL,
        given_name TEXT,
        birth_date TEXT,
        sex TEXT CHECK (sex IN ('female', 'male', 'other', 'unknown')),
        weight_kg REAL CHECK (weight_kg IS NULL OR weight_kg > 0),
        created_at TEXT NOT NULL
    )""",
    """CREATE TABLE procedures (
        id TEXT PRIMARY KEY,
        patient_id TEXT NOT NULL REFERENCES patients(id),
        kind TEXT NOT NULL CHECK (kind IN ('botulinum', 'trigger_point', 'dry_needling')),
        indication TEXT,
        physician_id TEXT REFERENCES users(id),
        nurse_id TEXT REFERENCES users(id),
        weight_kg REAL CHECK (weight_kg IS NULL OR weight_kg > 0),
        timeout_identity INTEGER CHECK (timeout_identity IN (0, 1)),
        timeout_consent INTEGER CHECK (timeout_consent IN (0, 1)),
        timeout_side INTEGER CHECK (timeout_side IN (0, 1)),
        timeout_at TEXT,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        billing_codes TEXT NOT NULL DEFAULT '[]',
        pain_before INTEGER CHECK (pain_before BETWEEN 0 AND 10),
        pain_after INTEGER CHECK (pain_after BETWEEN 0 AND 10),
        notes TEXT,
        signed_at TEXT,
        signed_by TEXT REFERENCES users(id),
        created_at TEXT NOT NULL,
        created_by TEXT REFERENCES users(id)
    )""",
    "CREATE INDEX procedures_patient ON procedures (patient_id, started_at)",
    """CREATE TABLE vials (
        id TEXT PRIMARY KEY,
        procedure_id TEXT NOT NULL REFERENCES procedures(id),
        product TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('toxin', 'anaesthetic')),
        vial_units REAL CHECK (vial_units IS NULL OR vial_units > 0),
        mg_per_ml REAL CHECK (mg_per_ml IS NULL OR mg_per_ml > 0),
        lot TEXT,
        expiry TEXT,
        diluent TEXT,
        diluent_ml REAL CHECK (diluent_ml IS NULL OR diluent_ml >= 0),
        volume_ml REAL CHECK (volume_ml IS NULL OR volume_ml > 0),
        reconstituted_at TEXT,
        units_wasted REAL CHECK (units_wasted IS NULL OR units_wasted >= 0),
        created_at TEXT NOT NULL,
        created_by TEXT REFERENCES users(id)
    )""",
    "CREATE INDEX vials_procedure ON vials (procedure_id)",
    """CREATE TABLE injections (
        id TEXT PRIMARY KEY,
        procedure_id TEXT NOT NULL REFERENCES procedures(id),
        vial_id TEXT REFERENCES vials(id),
        seq INTEGER NOT NULL,
        at TEXT NOT NULL,
        muscle TEXT,
        side TEXT CHECK (side IN ('left', 'right', 'midline')),
        site INTEGER CHECK (site IS NULL OR site >= 1),
        units REAL CHECK (units IS NULL OR units >= 0),
        volume_ml REAL CHECK (volume_ml IS NULL OR volume_ml >= 0),
        dose_mg REAL CHECK (dose_mg IS NULL OR dose_mg >= 0),
        needle_gauge INTEGER,
        needle_length_mm REAL,
        guidance TEXT CHECK (guidance IN ('emg', 'emg_stimulation', 'ultrasound',
                                          'palpation', 'landmarks')),
        emg_findings TEXT,
        twitch INTEGER CHECK (twitch IN (0, 1)),
        adverse_event TEXT,
        voided INTEGER NOT NULL DEFAULT 0 CHECK (voided IN (0, 1)),
        created_at TEXT NOT NULL,
        created_by TEXT REFERENCES users(id),
        UNIQUE (procedure_id, seq)
    )""",
    "CREATE INDEX injections_vial ON injections (vial_id)",
    """CREATE TABLE snippets (
        id TEXT PRIMARY KEY,
        injection_id TEXT NOT NULL UNIQUE REFERENCES injections(id),
""" + _EMG_COLUMNS + """        created_at TEXT NOT NULL
    )""",
    """CREATE TABLE amendments (
        id TEXT PRIMARY KEY,
        procedure_id TEXT NOT NULL REFERENCES procedures(id),
        tbl TEXT NOT NULL CHECK (tbl IN ('procedures', 'vials', 'injections')),
        row_id TEXT NOT NULL,
        changes TEXT NOT NULL,
        reason TEXT NOT NULL CHECK (length(trim(reason)) > 0),
        by TEXT NOT NULL REFERENCES users(id),
        at TEXT NOT NULL
    )""",
    "CREATE INDEX amendments_procedure ON amendments (procedure_id, at)",
    # Append-only, hash-chained: UNIQUE(prev_hash) means two entries can never claim the same
    # predecessor, so even two writers racing cannot fork the chain.
    """CREATE TABLE audit (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        at TEXT NOT NULL,
        user_id TEXT,
        action TEXT NOT NULL,
        tbl TEXT NOT NULL,
        row_id TEXT NOT NULL,
        old TEXT,
        new TEXT,
        reason TEXT,
        prev_hash TEXT NOT NULL UNIQUE,
        hash TEXT NOT NULL UNIQUE
    )""",
]


@migrations(name="0002_dose_warnings_observations")
def m0002_dose_warnings_observations(db: Database) -> None:
    """Dose-rule warnings with the physician's overrides, and observations made on or after
    the day (follow-up pain, Modified Ashworth per muscle, TWSTRS), which may be added to a
    signed procedure because they are new findings, not corrections."""
    db.execute("""CREATE TABLE dose_warnings (
        id TEXT PRIMARY KEY,
        procedure_id TEXT NOT NULL REFERENCES procedures(id),
        injection_id TEXT REFERENCES injections(id),
        rule TEXT NOT NULL,
        product TEXT,
        message TEXT NOT NULL,
        limit_value REAL,
        value REAL,
        source TEXT,
        override_reason TEXT,
        override_by TEXT REFERENCES users(id),
        override_at TEXT,
        created_at TEXT NOT NULL
    )""")
    db.execute("CREATE INDEX dose_warnings_procedure ON dose_warnings (procedure_id)")
    # An override is given once, by a physician, with a reason; the warning itself never
    # changes.
    db.execute("""CREATE TRIGGER dose_warnings_override BEFORE UPDATE ON dose_warnings
        WHEN OLD.override_reason IS NOT NULL
          OR NEW.override_reason IS NULL OR length(trim(NEW.override_reason)) = 0
          OR NEW.rule IS NOT OLD.rule OR NEW.message IS NOT OLD.message
          OR NEW.value IS NOT OLD.value OR NEW.limit_value IS NOT OLD.limit_value
          OR NEW.injection_id IS NOT OLD.injection_id
          OR (SELECT role FROM users WHERE id = NEW.override_by) IS NOT 'physician'
        BEGIN SELECT RAISE(ABORT,
            'a dose warning is overridden once, by a physician, with a reason'); END""")
    db.execute("""CREATE TRIGGER dose_warnings_no_delete BEFORE DELETE ON dose_warnings
        BEGIN SELECT RAISE(ABORT, 'logbook records are never deleted'); END""")
    db.execute("""CREATE TABLE observations (
        id TEXT PRIMARY KEY,
        procedure_id TEXT NOT NULL REFERENCES procedures(id),
        scale TEXT NOT NULL,
        timepoint TEXT NOT NULL CHECK (timepoint IN ('before', 'after', 'followup')),
        muscle TEXT,
        side TEXT CHECK (side IN ('left', 'right', 'midline')),
        value REAL NOT NULL,
        at TEXT NOT NULL,
        by TEXT REFERENCES users(id),
        CHECK (scale <> 'pain_nrs' OR value BETWEEN 0 AND 10)
    )""")
    db.execute("CREATE INDEX observations_procedure ON observations (procedure_id)")
    for event in ("UPDATE", "DELETE"):
        db.execute(f"""CREATE TRIGGER observations_no_{event.lower()}
            BEFORE {event} ON observations
            BEGIN SELECT RAISE(ABORT, 'observations are append-only: add a new one'); END""")


@migrations(name="0003_snippet_source")
def m0003_snippet_source(db: Database) -> None:
    """Where each snippet's EMG came from: the device URI, the kind of source (an amplifier,
    the simulator or a replayed file) and whether its microvolt scale was calibrated.
    Snippets stored before keep NULL in all three: "source not recorded", never a guess. The
    columns are added in place (the audit trail's past entries describe the rows as they
    were, and NULL reads the same as absent), and snippets_no_update keeps refusing any
    change, so a source cannot be filled in afterwards either."""
    db.execute("""ALTER TABLE snippets ADD COLUMN source_uri TEXT
        CHECK (source_uri IS NULL OR length(trim(source_uri)) BETWEEN 1 AND 8192)""")
    db.execute("""ALTER TABLE snippets ADD COLUMN source_kind TEXT
        CHECK (source_kind IN ('amplifier', 'simulator', 'replay'))""")
    db.execute("""ALTER TABLE snippets ADD COLUMN calibrated INTEGER
        CHECK (calibrated IN (0, 1))""")
    # All three or none: a snippet whose kind is known but not its calibration would read
    # as a half-truth.
    db.execute("""CREATE TRIGGER snippets_source BEFORE INSERT ON snippets
        WHEN (NEW.source_uri IS NULL) + (NEW.source_kind IS NULL) + (NEW.calibrated IS NULL)
             NOT IN (0, 3)
        BEGIN SELECT RAISE(ABORT,
            'a snippet''s source is its URI, kind and calibration together'); END""")


@migrations(name="0004_pin_attempts")
def m0004_pin_attempts(db: Database) -> None:
    """Wrong PINs in a row, per user, so that the lockout (app.logbook.lockout) outlasts a
    restart: the count, every attempt's count and time, and until when the user is held out.
    Written through the audit trail like any record (each attempt an entry named by its
    outcome) and never deleted, so a count set back behind the trail's back shows in
    verify()."""
    db.execute("""CREATE TABLE pin_attempts (
        id TEXT PRIMARY KEY REFERENCES users(id),
        failures INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),
        attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
        last_at TEXT,
        locked_until TEXT
    )""")
    db.execute("""CREATE TRIGGER pin_attempts_no_delete BEFORE DELETE ON pin_attempts
        BEGIN SELECT RAISE(ABORT, 'logbook records are never deleted'); END""")


@migrations(name="0005_pending_marks")
def m0005_pending_marks(db: Database) -> None:
    """Every mark, written the moment its 7 s of EMG are complete, whether or not anyone is
    signed in or a procedure is open, so that a crash or a flat battery loses none. A
    pending mark is later taken by one injection (its snippet) or discarded with a reason;
    it is never deleted, and its EMG never changes."""
    db.execute("""CREATE TABLE pending_marks (
        id TEXT PRIMARY KEY,
        pressed_at TEXT NOT NULL,
        procedure_id TEXT REFERENCES procedures(id),
""" + _EMG_COLUMNS + """        findings TEXT,
        source_uri TEXT NOT NULL,
        source_kind TEXT NOT NULL CHECK (source_kind IN ('amplifier', 'simulator', 'replay')),
        calibrated INTEGER NOT NULL CHECK (calibrated IN (0, 1)),
        injection_id TEXT UNIQUE REFERENCES injections(id),
        taken_at TEXT,
        taken_by TEXT REFERENCES users(id),
        discarded_at TEXT,
        discarded_by TEXT REFERENCES users(id),
        discard_reason TEXT CHECK (discard_reason IS NULL OR length(trim(discard_reason)) > 2),
        created_at TEXT NOT NULL,
        CHECK (injection_id IS NULL OR discarded_at IS NULL)
    )""")
    db.execute("CREATE INDEX pending_marks_open ON pending_marks (injection_id, discarded_at)")
    db.execute("""CREATE TRIGGER pending_marks_no_delete BEFORE DELETE ON pending_marks
        BEGIN SELECT RAISE(ABORT, 'logbook records are never deleted'); END""")
    # Once taken or discarded, it stays so; its EMG and time never change.
    db.execute("""CREATE TRIGGER pending_marks_settled BEFORE UPDATE ON pending_marks
        WHEN OLD.injection_id IS NOT NULL OR OLD.discarded_at IS NOT NULL
          OR NEW.samples IS NOT OLD.samples OR NEW.sha256 IS NOT OLD.sha256
          OR NEW.pressed_at IS NOT OLD.pressed_at OR NEW.fs IS NOT OLD.fs
          OR NEW.uv_per_count IS NOT OLD.uv_per_count
        BEGIN SELECT RAISE(ABORT, 'a pending mark is taken or discarded once; its EMG never
            changes'); END""")


@migrations(name="0006_warning_withdrawn")
def m0006_warning_withdrawn(db: Database) -> None:
    """A dose warning recorded the moment its value was confirmed, and then made moot by a
    corrected value before sign-off, is withdrawn: kept, with when, by whom and why, and no
    longer open. A warning is decided once: overridden by a physician with a reason, or
    withdrawn with a note; never both, never twice, and the warning itself never changes."""
    for col in ("withdrawn_at TEXT", "withdrawn_by TEXT REFERENCES users(id)",
                "withdrawn_note TEXT"):
        db.execute(f"ALTER TABLE dose_warnings ADD COLUMN {col}")
    db.execute("DROP TRIGGER dose_warnings_override")
    same = """NEW.rule IS OLD.rule AND NEW.message IS OLD.message
          AND NEW.value IS OLD.value AND NEW.limit_value IS OLD.limit_value
          AND NEW.injection_id IS OLD.injection_id AND NEW.product IS OLD.product
          AND NEW.source IS OLD.source AND NEW.created_at IS OLD.created_at"""
    db.execute(f"""CREATE TRIGGER dose_warnings_decided BEFORE UPDATE ON dose_warnings
        WHEN NOT (OLD.override_reason IS NULL AND OLD.withdrawn_at IS NULL AND {same} AND (
            (NEW.withdrawn_at IS NULL AND NEW.withdrawn_by IS NULL
             AND NEW.withdrawn_note IS NULL
             AND NEW.override_reason IS NOT NULL AND length(trim(NEW.override_reason)) > 0
             AND (SELECT role FROM users WHERE id = NEW.override_by) IS 'physician')
         OR (NEW.override_reason IS NULL AND NEW.override_by IS NULL
             AND NEW.override_at IS NULL
             AND NEW.withdrawn_at IS NOT NULL AND NEW.withdrawn_by IS NOT NULL
             AND NEW.withdrawn_note IS NOT NULL AND length(trim(NEW.withdrawn_note)) > 0)))
        BEGIN SELECT RAISE(ABORT, 'a dose warning is decided once: overridden by a
            physician with a reason, or withdrawn with a note'); END""")


@migrations(name="0007_observation_grades")
def m0007_observation_grades(db: Database) -> None:
    """Outcome scales as they are read: a Modified Ashworth grade kept as its text ("1+"
    stays 1+; `value` is its place on the scale, 0 to 5, for ordering only), a Goal
    Attainment Scaling goal's text, and one value per scale, muscle, side, goal and time
    point of a procedure: a correction is a new row that supersedes the current one
    (`supersedes`), checked here, once only. Observations stay append-only. Rows stored
    before keep NULL in all three (an Ashworth value then reads "grade not recorded")."""
    # written out, not taken from app.logbook.scales: a released migration never changes
    ashworth = ("0", "1", "1+", "2", "3", "4")
    ranges = {"pain_nrs": (0, 10), "twstrs_severity": (0, 35), "twstrs_disability": (0, 30),
              "twstrs_pain": (0, 20), "gas": (-2, 2)}
    grades = ", ".join(f"'{g}'" for g in ashworth)
    db.execute(f"""ALTER TABLE observations ADD COLUMN grade TEXT
        CHECK (grade IS NULL OR grade IN ({grades}))""")
    db.execute("""ALTER TABLE observations ADD COLUMN goal TEXT
        CHECK (goal IS NULL OR length(trim(goal)) BETWEEN 1 AND 300)""")
    db.execute("ALTER TABLE observations ADD COLUMN supersedes TEXT "
               "REFERENCES observations(id)")
    # a value is corrected once: the next correction supersedes the correction
    db.execute("""CREATE UNIQUE INDEX observations_superseded_once
        ON observations (supersedes) WHERE supersedes IS NOT NULL""")
    same = """o.procedure_id = NEW.procedure_id AND o.scale = NEW.scale
              AND o.timepoint = NEW.timepoint AND o.muscle IS NEW.muscle
              AND o.side IS NEW.side AND o.goal IS NEW.goal"""
    one = ("one value per scale, muscle, side and time point: a correction supersedes the "
           "current value of the same procedure")
    db.execute(f"""CREATE TRIGGER observations_supersede BEFORE INSERT ON observations
        WHEN (NEW.supersedes IS NOT NULL AND NOT EXISTS (SELECT 1 FROM observations o
                WHERE o.id = NEW.supersedes AND {same}))
          OR (NEW.supersedes IS NULL AND EXISTS (SELECT 1 FROM observations o
                WHERE {same}))
        BEGIN SELECT RAISE(ABORT, '{one}'); END""")
    ranks = " ".join(f"WHEN '{g}' THEN {k}" for k, g in enumerate(ashworth))
    within = " ".join(f"OR (NEW.scale = '{s}' AND (NEW.value <> CAST(NEW.value AS INTEGER)"
                      f" OR NEW.value NOT BETWEEN {lo} AND {hi}))"
                      for s, (lo, hi) in ranges.items())
    outside = ("an outcome outside its scale (an Ashworth grade with its muscle, a GAS level "
               "with its goal, each within its range)")
    db.execute(f"""CREATE TRIGGER observations_scale BEFORE INSERT ON observations
        WHEN (NEW.scale = 'modified_ashworth' AND (NEW.grade IS NULL OR NEW.muscle IS NULL
                OR NEW.value IS NOT (CASE NEW.grade {ranks} END)))
          OR (NEW.scale <> 'modified_ashworth' AND NEW.grade IS NOT NULL)
          OR ((NEW.scale = 'gas') <> (NEW.goal IS NOT NULL))
          {within}
        BEGIN SELECT RAISE(ABORT, '{outside}'); END""")


# The record tables a tablet may hold another tablet's rows of (issue 32): every audited
# table but the PIN lockout, which stays on its tablet. 0008 gave these an origin; the
# tables added since are made with theirs.
_PULLED_0008 = ("users", "patients", "procedures", "vials", "injections", "snippets",
                "amendments", "dose_warnings", "observations", "pending_marks")
PULLED = (*_PULLED_0008, "patient_links")


@migrations(name="0008_clinic_pull", transactional=False)
def m0008_clinic_pull(db: Database) -> None:
    """Other tablets' records, pulled from the clinic server (issue 32), in the same tables
    as this tablet's: `origin` names the tablet a row was written on (NULL: this one).
    `clinic_audit` keeps each other tablet's audit entries as pulled, chained per tablet,
    so every pull is checked to continue what was pulled before; the local `audit` stays
    this tablet's own trail. `clinic_emg` holds pulled snippets' and pending marks' EMG
    (their rows come without it: `samples` is empty until it is here). `clinic_link`
    records that this logbook belongs to a clinic tablet and when it last reached the
    server.

    The MRN stops being unique across rows: the same MRN is the same patient, who may
    have a row from each tablet. It stays unique among this tablet's own rows. SQLite
    drops a column's UNIQUE only by rebuilding the table, which needs foreign keys off,
    which cannot change inside a transaction: so this migration runs its own transaction
    and, if cut off after it committed and before its record, finds its work done and
    does nothing the second time."""
    if db.conn.in_transaction:
        raise RuntimeError("0008_clinic_pull runs outside a transaction")
    keys = db.execute("PRAGMA foreign_keys").fetchone()[0]
    db.execute("PRAGMA foreign_keys = OFF")
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            # looked at under the write lock: another process may have just done it
            done = "origin" in {c[1] for c in db.execute("PRAGMA table_info(patients)")}
            for sql in [] if done else _clinic_pull():
                db.execute(sql)
            if db.execute("PRAGMA foreign_key_check").fetchall():
                raise RuntimeError("0008_clinic_pull: foreign keys broken by the rebuild")
            db.conn.commit()
        except BaseException:
            db.conn.rollback()
            raise
    finally:
        db.execute(f"PRAGMA foreign_keys = {'ON' if keys else 'OFF'}")


def _clinic_pull() -> list[str]:
    origin = "origin TEXT CHECK (origin IS NULL OR length(origin) BETWEEN 1 AND 32)"
    out = [f"ALTER TABLE {t} ADD COLUMN {origin}" for t in _PULLED_0008 if t != "patients"]
    out += [
        f"""CREATE TABLE patients_0008 (
        id TEXT PRIMARY KEY,
        mrn TEXT NOT NULL,
        family_name TEXT NOT NULL,
        given_name TEXT,
        birth_date TEXT,
        sex TEXT CHECK (sex IN ('female', 'male', 'other', 'unknown')),
        weight_kg REAL CHECK (weight_kg IS NULL OR weight_kg > 0),
        created_at TEXT NOT NULL,
        {origin}
    )""",
        "INSERT INTO patients_0008 (id, mrn, family_name, given_name, birth_date, sex, "
        "weight_kg, created_at) SELECT id, mrn, family_name, given_name, birth_date, sex, "
        "weight_kg, created_at FROM patients",
        "DROP TABLE patients",
        "ALTER TABLE patients_0008 RENAME TO patients",
        "CREATE UNIQUE INDEX patients_mrn_here ON patients (mrn) WHERE origin IS NULL",
        "CREATE INDEX patients_mrn ON patients (mrn)",
        """CREATE TRIGGER patients_no_delete BEFORE DELETE ON patients
            BEGIN SELECT RAISE(ABORT, 'logbook records are never deleted'); END""",
        # Two rooms may each record the first follow-up value of one procedure before
        # either has seen the other's: the one-value rule holds for this tablet's own
        # rows; pulled ones are kept as their tablet wrote them.
        "DROP TRIGGER observations_supersede",
        """CREATE TRIGGER observations_supersede BEFORE INSERT ON observations
        WHEN NEW.origin IS NULL AND (
             (NEW.supersedes IS NOT NULL AND NOT EXISTS (SELECT 1 FROM observations o
                WHERE o.id = NEW.supersedes AND o.procedure_id = NEW.procedure_id
                AND o.scale = NEW.scale AND o.timepoint = NEW.timepoint
                AND o.muscle IS NEW.muscle AND o.side IS NEW.side AND o.goal IS NEW.goal))
          OR (NEW.supersedes IS NULL AND EXISTS (SELECT 1 FROM observations o
                WHERE o.origin IS NULL AND o.procedure_id = NEW.procedure_id
                AND o.scale = NEW.scale AND o.timepoint = NEW.timepoint
                AND o.muscle IS NEW.muscle AND o.side IS NEW.side AND o.goal IS NEW.goal)))
        BEGIN SELECT RAISE(ABORT, 'one value per scale, muscle, side and time point: a
            correction supersedes the current value of the same procedure'); END""",
        "DROP INDEX observations_superseded_once",
        """CREATE UNIQUE INDEX observations_superseded_once ON observations (supersedes)
            WHERE supersedes IS NOT NULL AND origin IS NULL""",
        """CREATE TABLE clinic_audit (
        tablet TEXT NOT NULL CHECK (length(tablet) BETWEEN 1 AND 32),
        seq INTEGER NOT NULL CHECK (seq >= 1),
        id TEXT NOT NULL UNIQUE,
        at TEXT NOT NULL,
        user_id TEXT,
        action TEXT NOT NULL,
        tbl TEXT NOT NULL,
        row_id TEXT NOT NULL,
        old TEXT,
        new TEXT,
        reason TEXT,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE,
        pulled_at TEXT NOT NULL,
        PRIMARY KEY (tablet, seq),
        UNIQUE (tablet, prev_hash)
    )""",
        """CREATE TABLE clinic_emg (
        id TEXT PRIMARY KEY,
        tbl TEXT NOT NULL CHECK (tbl IN ('snippets', 'pending_marks')),
        samples BLOB NOT NULL,
        pulled_at TEXT NOT NULL
    )""",
        """CREATE TABLE clinic_link (
        tablet TEXT PRIMARY KEY CHECK (length(tablet) BETWEEN 1 AND 32),
        known_at TEXT NOT NULL,
        reached_at TEXT
    )""",
    ]
    for table in ("clinic_audit", "clinic_emg"):
        out += [f"""CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table}
            BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"""
                for event in ("UPDATE", "DELETE")]
    return out


@migrations(name="0009_patient_links")
def m0009_patient_links(db: Database) -> None:
    """A person's decision on two MRNs that may be one patient (issue 32, item 4): the
    same name and birth date under two MRNs, made on two tablets, are never merged by the
    software. "same" makes the dose rules, history and lot recall read both MRNs as one
    patient; "different" closes the question. A decision is a row, never changed: a later
    one on the same pair (mrn_a < mrn_b) supersedes it. Pulled decisions carry their
    tablet in `origin`, as every pulled row does."""
    db.execute("""CREATE TABLE patient_links (
        id TEXT PRIMARY KEY,
        mrn_a TEXT NOT NULL,
        mrn_b TEXT NOT NULL,
        decision TEXT NOT NULL CHECK (decision IN ('same', 'different')),
        reason TEXT NOT NULL CHECK (length(trim(reason)) > 2),
        by TEXT NOT NULL REFERENCES users(id),
        at TEXT NOT NULL,
        origin TEXT CHECK (origin IS NULL OR length(origin) BETWEEN 1 AND 32),
        CHECK (mrn_a < mrn_b)
    )""")
    db.execute("CREATE INDEX patient_links_pair ON patient_links (mrn_a, mrn_b, at)")
    for event in ("UPDATE", "DELETE"):
        db.execute(f"""CREATE TRIGGER patient_links_no_{event.lower()} BEFORE {event}
            ON patient_links
            BEGIN SELECT RAISE(ABORT, 'patient_links is append-only'); END""")


def names() -> list[str]:
    """Every migration this Needlepoint knows, oldest first."""
    return [m.name for m in migrations._migrations]
