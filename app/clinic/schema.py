"""The clinic server's schema (PostgreSQL), as migrations of its own.

Every table lives in the schema `needlepoint`; `needlepoint.migrations` records each
migration applied (name, when). A migration runs once, in one transaction with its record,
and once released never changes: a later change is a new migration (as on the tablet,
app/logbook/migrations.py).

The record tables mirror the tablet's (app/logbook/migrations.py, as of 0007), column for
column, with two differences:

- `tablet`: the tablet the row was written on (`needlepoint.tablets.name`). Rows are keyed
  by their UUIDs as on the tablet, so a row pushed twice is the same row.
- What must not leave a tablet stays there: a user's PIN hash arrives as its SHA-256 (the
  form the audit trail carries, `sha256:...`; the server refuses anything else), so no
  tablet can read another's PIN hashes and guess a four-digit PIN offline; the PIN lockout
  (`pin_attempts`) is the tablet's own. EMG samples arrive apart from their snippet's row
  (`emg_samples`), in the background (issue 32, item 2).

Times stay TEXT, as the tablet writes them (ISO 8601 UTC with microseconds and a Z):
the audit chain hashes the row values as text, and `verify` replays the trail into rows
and compares them, so a row must come back from the server byte for byte as it left the
tablet; a timestamptz would hand back another spelling ("+00", no trailing zeros). The
text sorts as it reads, and `(at)::timestamptz` reads it where the server needs a time.
The server's own bookkeeping (migrations, tablets) uses timestamptz.

Types: TEXT -> text, INTEGER -> integer (the audit's local sequence: bigint), REAL ->
double precision, BLOB -> bytea; flags stay 0/1 integers, as the tablet reads them back.
CHECK constraints are the tablet's. Foreign keys are the tablet's too, with the tablet of
origin, DEFERRABLE INITIALLY DEFERRED so that one push, in commit order within one
transaction, is checked when it commits.

Who may do what (tablet roles: INSERT their own rows, SELECT everyone's, nothing else) is
set here on the group role `<database>_tablets`; app/clinic/server.py enrols tablets into
it.
"""

from __future__ import annotations

from collections.abc import Callable

from app.logbook.audit import GENESIS

SCHEMA = "needlepoint"

# The tablet's record tables, in an order in which each one's parents come first: those of
# 0001 (its rights were granted on these), then those added since, each by its migration.
_RECORDS_0001 = ("users", "patients", "procedures", "vials", "injections", "snippets",
                 "emg_samples", "amendments", "dose_warnings", "observations",
                 "pending_marks", "audit")
RECORDS = (*_RECORDS_0001, "patient_links")

_TEXT_ID = "id text PRIMARY KEY"
_TABLET = f"tablet text NOT NULL REFERENCES {SCHEMA}.tablets(name)"
_DEFER = "DEFERRABLE INITIALLY DEFERRED"


def _ref(table: str) -> str:
    return f"REFERENCES {SCHEMA}.{table}(id) {_DEFER}"


_EMG_COLUMNS = """
        fs double precision NOT NULL CHECK (fs > 0),
        channels integer NOT NULL CHECK (channels >= 1),
        frames integer NOT NULL CHECK (frames >= 1),
        uv_per_count double precision NOT NULL CHECK (uv_per_count > 0),
        injection_index integer NOT NULL,
        encoding text NOT NULL,
        sha256 text NOT NULL,"""
_SIDE = "side text CHECK (side IN ('left', 'right', 'midline'))"
_SOURCE_KIND = "source_kind text CHECK (source_kind IN ('amplifier', 'simulator', 'replay'))"


def _core(db: str) -> list[str]:
    s = SCHEMA
    return [
        f"""CREATE TABLE {s}.tablets (
            name text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9-]{{0,31}}$'),
            role text NOT NULL UNIQUE,
            enrolled_at timestamptz NOT NULL DEFAULT now(),
            last_seen timestamptz
        )""",
        f"""CREATE TABLE {s}.users (
            {_TEXT_ID}, {_TABLET},
            name text NOT NULL,
            role text NOT NULL CHECK (role IN ('physician', 'nurse', 'admin')),
            pin_hash text NOT NULL CHECK (pin_hash ~ '^sha256:[0-9a-f]{{64}}$'),
            active integer NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
            created_at text NOT NULL
        )""",
        # The MRN is not unique here: two tablets may each have made a row for the same
        # patient (the same MRN is the same person, linked when pulled; a name and birth
        # date under two MRNs is for a person to resolve: issue 32, item 4).
        f"""CREATE TABLE {s}.patients (
            {_TEXT_ID}, {_TABLET},
            mrn text NOT NULL,
            family_name text NOT NULL,
            given_name text,
            birth_date text,
            sex text CHECK (sex IN ('female', 'male', 'other', 'unknown')),
            weight_kg double precision CHECK (weight_kg IS NULL OR weight_kg > 0),
            created_at text NOT NULL
        )""",
        f"CREATE INDEX patients_mrn ON {s}.patients (mrn)",
        f"""CREATE TABLE {s}.procedures (
            {_TEXT_ID}, {_TABLET},
            patient_id text NOT NULL {_ref('patients')},
            kind text NOT NULL CHECK (kind IN ('botulinum', 'trigger_point', 'dry_needling')),
            indication text,
            physician_id text {_ref('users')},
            nurse_id text {_ref('users')},
            weight_kg double precision CHECK (weight_kg IS NULL OR weight_kg > 0),
            timeout_identity integer CHECK (timeout_identity IN (0, 1)),
            timeout_consent integer CHECK (timeout_consent IN (0, 1)),
            timeout_side integer CHECK (timeout_side IN (0, 1)),
            timeout_at text,
            started_at text NOT NULL,
            ended_at text,
            billing_codes text NOT NULL DEFAULT '[]',
            pain_before integer CHECK (pain_before BETWEEN 0 AND 10),
            pain_after integer CHECK (pain_after BETWEEN 0 AND 10),
            notes text,
            signed_at text,
            signed_by text {_ref('users')},
            created_at text NOT NULL,
            created_by text {_ref('users')}
        )""",
        f"CREATE INDEX procedures_patient ON {s}.procedures (patient_id, started_at)",
        f"""CREATE TABLE {s}.vials (
            {_TEXT_ID}, {_TABLET},
            procedure_id text NOT NULL {_ref('procedures')},
            product text NOT NULL,
            kind text NOT NULL CHECK (kind IN ('toxin', 'anaesthetic')),
            vial_units double precision CHECK (vial_units IS NULL OR vial_units > 0),
            mg_per_ml double precision CHECK (mg_per_ml IS NULL OR mg_per_ml > 0),
            lot text,
            expiry text,
            diluent text,
            diluent_ml double precision CHECK (diluent_ml IS NULL OR diluent_ml >= 0),
            volume_ml double precision CHECK (volume_ml IS NULL OR volume_ml > 0),
            reconstituted_at text,
            units_wasted double precision CHECK (units_wasted IS NULL OR units_wasted >= 0),
            created_at text NOT NULL,
            created_by text {_ref('users')}
        )""",
        f"CREATE INDEX vials_procedure ON {s}.vials (procedure_id)",
        f"CREATE INDEX vials_lot ON {s}.vials (upper(trim(lot)))",
        f"""CREATE TABLE {s}.injections (
            {_TEXT_ID}, {_TABLET},
            procedure_id text NOT NULL {_ref('procedures')},
            vial_id text {_ref('vials')},
            seq integer NOT NULL,
            at text NOT NULL,
            muscle text,
            {_SIDE},
            site integer CHECK (site IS NULL OR site >= 1),
            units double precision CHECK (units IS NULL OR units >= 0),
            volume_ml double precision CHECK (volume_ml IS NULL OR volume_ml >= 0),
            dose_mg double precision CHECK (dose_mg IS NULL OR dose_mg >= 0),
            needle_gauge integer,
            needle_length_mm double precision,
            guidance text CHECK (guidance IN ('emg', 'emg_stimulation', 'ultrasound',
                                              'palpation', 'landmarks')),
            emg_findings text,
            twitch integer CHECK (twitch IN (0, 1)),
            adverse_event text,
            voided integer NOT NULL DEFAULT 0 CHECK (voided IN (0, 1)),
            created_at text NOT NULL,
            created_by text {_ref('users')},
            UNIQUE (procedure_id, seq)
        )""",
        f"CREATE INDEX injections_vial ON {s}.injections (vial_id)",
        f"""CREATE TABLE {s}.snippets (
            {_TEXT_ID}, {_TABLET},
            injection_id text NOT NULL UNIQUE {_ref('injections')},{_EMG_COLUMNS}
            created_at text NOT NULL,
            source_uri text CHECK (source_uri IS NULL
                                   OR length(trim(source_uri)) BETWEEN 1 AND 8192),
            {_SOURCE_KIND},
            calibrated integer CHECK (calibrated IN (0, 1)),
            CHECK ((source_uri IS NULL)::int + (source_kind IS NULL)::int
                   + (calibrated IS NULL)::int IN (0, 3))
        )""",
        # A snippet's or pending mark's EMG (zlib int16, as the tablet stores it), keyed by
        # that row's id; it follows its row, in the background.
        f"""CREATE TABLE {s}.emg_samples (
            {_TEXT_ID}, {_TABLET},
            tbl text NOT NULL CHECK (tbl IN ('snippets', 'pending_marks')),
            samples bytea NOT NULL,
            sha256 text NOT NULL
        )""",
        f"""CREATE TABLE {s}.amendments (
            {_TEXT_ID}, {_TABLET},
            procedure_id text NOT NULL {_ref('procedures')},
            tbl text NOT NULL CHECK (tbl IN ('procedures', 'vials', 'injections')),
            row_id text NOT NULL,
            changes text NOT NULL,
            reason text NOT NULL CHECK (length(trim(reason)) > 0),
            by text NOT NULL {_ref('users')},
            at text NOT NULL
        )""",
        f"CREATE INDEX amendments_procedure ON {s}.amendments (procedure_id, at)",
        f"""CREATE TABLE {s}.dose_warnings (
            {_TEXT_ID}, {_TABLET},
            procedure_id text NOT NULL {_ref('procedures')},
            injection_id text {_ref('injections')},
            rule text NOT NULL,
            product text,
            message text NOT NULL,
            limit_value double precision,
            value double precision,
            source text,
            override_reason text,
            override_by text {_ref('users')},
            override_at text,
            created_at text NOT NULL,
            withdrawn_at text,
            withdrawn_by text {_ref('users')},
            withdrawn_note text
        )""",
        f"CREATE INDEX dose_warnings_procedure ON {s}.dose_warnings (procedure_id)",
        f"""CREATE TABLE {s}.observations (
            {_TEXT_ID}, {_TABLET},
            procedure_id text NOT NULL {_ref('procedures')},
            scale text NOT NULL,
            timepoint text NOT NULL CHECK (timepoint IN ('before', 'after', 'followup')),
            muscle text,
            {_SIDE},
            value double precision NOT NULL,
            at text NOT NULL,
            by text {_ref('users')},
            grade text CHECK (grade IS NULL OR grade IN ('0', '1', '1+', '2', '3', '4')),
            goal text CHECK (goal IS NULL OR length(trim(goal)) BETWEEN 1 AND 300),
            supersedes text {_ref('observations')},
            CHECK (scale <> 'pain_nrs' OR value BETWEEN 0 AND 10)
        )""",
        f"CREATE INDEX observations_procedure ON {s}.observations (procedure_id)",
        f"""CREATE UNIQUE INDEX observations_superseded_once ON {s}.observations (supersedes)
            WHERE supersedes IS NOT NULL""",
        f"""CREATE TABLE {s}.pending_marks (
            {_TEXT_ID}, {_TABLET},
            pressed_at text NOT NULL,
            procedure_id text {_ref('procedures')},{_EMG_COLUMNS}
            findings text,
            source_uri text NOT NULL,
            {_SOURCE_KIND.replace('text CHECK', 'text NOT NULL CHECK')},
            calibrated integer NOT NULL CHECK (calibrated IN (0, 1)),
            injection_id text UNIQUE {_ref('injections')},
            taken_at text,
            taken_by text {_ref('users')},
            discarded_at text,
            discarded_by text {_ref('users')},
            discard_reason text CHECK (discard_reason IS NULL
                                       OR length(trim(discard_reason)) > 2),
            created_at text NOT NULL,
            CHECK (injection_id IS NULL OR discarded_at IS NULL)
        )""",
        # Each tablet's chain: its own local sequence, one successor per entry.
        f"""CREATE TABLE {s}.audit (
            {_TEXT_ID}, {_TABLET},
            seq bigint NOT NULL,
            at text NOT NULL,
            user_id text,
            action text NOT NULL,
            tbl text NOT NULL,
            row_id text NOT NULL,
            old text,
            new text,
            reason text,
            prev_hash text NOT NULL,
            hash text NOT NULL UNIQUE,
            UNIQUE (tablet, seq),
            UNIQUE (tablet, prev_hash)
        )""",
    ]


def _access(db: str) -> list[str]:
    """Tablet roles (members of `<db>_tablets`): connect, read every record, insert rows of
    their own tablet only; no UPDATE, DELETE, TRUNCATE or anything else, enforced by the
    server (privileges, and row-level security on every record table)."""
    s, group = SCHEMA, quote(tablets_group(db))
    out = [f"REVOKE ALL ON DATABASE {quote(db)} FROM PUBLIC",
           f"GRANT CONNECT ON DATABASE {quote(db)} TO {group}",
           f"REVOKE ALL ON SCHEMA {s} FROM PUBLIC",
           f"GRANT USAGE ON SCHEMA {s} TO {group}",
           f"GRANT SELECT ON {s}.tablets TO {group}",
           # the tablet the connected role was enrolled as (NULL for any other role)
           f"""CREATE FUNCTION {s}.my_tablet() RETURNS text LANGUAGE sql STABLE
               SET search_path = pg_catalog
               AS $$ SELECT name FROM {s}.tablets WHERE role = session_user $$""",
           f"REVOKE ALL ON FUNCTION {s}.my_tablet() FROM PUBLIC",
           f"GRANT EXECUTE ON FUNCTION {s}.my_tablet() TO {group}",
           # a tablet says it was here; it can touch no other column or tablet
           f"""CREATE FUNCTION {s}.seen() RETURNS void LANGUAGE sql SECURITY DEFINER
               SET search_path = pg_catalog
               AS $$ UPDATE {s}.tablets SET last_seen = now()
                     WHERE role = session_user $$""",
           f"REVOKE ALL ON FUNCTION {s}.seen() FROM PUBLIC",
           f"GRANT EXECUTE ON FUNCTION {s}.seen() TO {group}"]
    for t in _RECORDS_0001:
        out += _record_rights(db, t)
    return out


def _record_rights(db: str, t: str) -> list[str]:
    """A record table's rights for tablets: read every row, insert rows of their own
    tablet, nothing else (row-level security)."""
    s, group = SCHEMA, quote(tablets_group(db))
    return [f"ALTER TABLE {s}.{t} ENABLE ROW LEVEL SECURITY",
            f"GRANT SELECT, INSERT ON {s}.{t} TO {group}",
            f"CREATE POLICY read_all ON {s}.{t} FOR SELECT TO {group} USING (true)",
            f"""CREATE POLICY insert_own ON {s}.{t} FOR INSERT TO {group}
                WITH CHECK (tablet = {s}.my_tablet())"""]


def tablets_group(db: str) -> str:
    """The role every tablet of this clinic database is a member of."""
    return f"{db}_tablets"


def quote(name: str) -> str:
    """An SQL identifier, quoted (names here come from the DSN and checked tablet names)."""
    return '"' + name.replace('"', '""') + '"'


def _m0001_tablets_and_records(db: str) -> list[str]:
    group = tablets_group(db)
    # Roles belong to the whole server, not to one database: made only if missing.
    make_group = f"""DO $$ BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {literal(group)}) THEN
            CREATE ROLE {quote(group)} NOLOGIN;
        END IF; END $$"""
    return [make_group, *_core(db), *_access(db)]


# The chain's start and an entry's hash, as app/logbook/audit.py makes them:
# sha256(prev_hash || "\n" || json.dumps([id, at, user_id, action, tbl, row_id, old, new,
# reason], separators=(",", ":"), ensure_ascii=False)) in hex. PostgreSQL's to_json(text)
# escapes a string as Python's json does with ensure_ascii=False (", \\, \b \f \n \r \t,
# any other control character as \\u00xx in lower-case hex, everything else as it is); NULL
# is `null`; the text goes to sha256() as UTF-8. tests/test_clinic_chain.py compares it with
# Python's byte for byte.
_FIELDS = ("id", "at", "user_id", "action", "tbl", "row_id", "old", "new", "reason")


def _m0002_audit_chain_checked(db: str) -> list[str]:
    """The server checks each tablet's chain as its entries arrive (issue 32, item 5): an
    entry is stored only if it follows the tablet's previous entry on the server (seq one
    more, prev_hash its hash; the first: seq 1 and the chain's start) and its hash is its
    content's. Else the INSERT fails, and with it the push's whole transaction."""
    s = SCHEMA
    fields = ", ',', ".join(f"coalesce(to_json(e.{f})::text, 'null')" for f in _FIELDS)
    return [
        """DO $$ BEGIN
            IF pg_encoding_to_char((SELECT encoding FROM pg_database
                                    WHERE datname = current_database())) <> 'UTF8' THEN
                RAISE EXCEPTION 'the clinic database must be UTF8 (createdb -E UTF8): the '
                    'audit chain is hashed as UTF-8';
            END IF; END $$""",
        f"""CREATE FUNCTION {s}.audit_hash(e {s}.audit) RETURNS text LANGUAGE sql IMMUTABLE
            SET search_path = pg_catalog
            AS $$ SELECT encode(sha256(convert_to(
                e.prev_hash || E'\\n' || concat('[', {fields}, ']'), 'UTF8')), 'hex') $$""",
        f"""CREATE FUNCTION {s}.audit_chained() RETURNS trigger LANGUAGE plpgsql
            SET search_path = pg_catalog
            AS $$
            DECLARE
                before text := {literal(GENESIS)};
            BEGIN
                IF NEW.seq <> 1 THEN
                    SELECT a.hash INTO before FROM {s}.audit a
                        WHERE a.tablet = NEW.tablet AND a.seq = NEW.seq - 1;
                    IF NOT FOUND THEN
                        RAISE EXCEPTION 'audit entry % of tablet % breaks its chain: entry % '
                            'is not on the server', NEW.seq, NEW.tablet, NEW.seq - 1
                            USING ERRCODE = 'integrity_constraint_violation';
                    END IF;
                END IF;
                IF NEW.prev_hash IS DISTINCT FROM before THEN
                    RAISE EXCEPTION 'audit entry % of tablet % breaks its chain: it does not '
                        'follow entry % (removed, reordered or rewritten)', NEW.seq,
                        NEW.tablet, NEW.seq - 1
                        USING ERRCODE = 'integrity_constraint_violation';
                END IF;
                IF NEW.hash IS DISTINCT FROM {s}.audit_hash(NEW) THEN
                    RAISE EXCEPTION 'audit entry % of tablet % breaks its chain: its hash '
                        'does not match its contents (altered)', NEW.seq, NEW.tablet
                        USING ERRCODE = 'integrity_constraint_violation';
                END IF;
                RETURN NEW;
            END $$""",
        f"""CREATE TRIGGER audit_chained BEFORE INSERT ON {s}.audit
            FOR EACH ROW EXECUTE FUNCTION {s}.audit_chained()""",
        f"GRANT EXECUTE ON FUNCTION {s}.audit_hash({s}.audit) TO {quote(tablets_group(db))}",
    ]


def _m0003_patient_links(db: str) -> list[str]:
    """A person's decision on two MRNs that may be one patient (issue 32, item 4; the
    tablet's 0009_patient_links), pushed and pulled like every record, with the same
    rights."""
    s = SCHEMA
    return [
        f"""CREATE TABLE {s}.patient_links (
            {_TEXT_ID}, {_TABLET},
            mrn_a text NOT NULL,
            mrn_b text NOT NULL,
            decision text NOT NULL CHECK (decision IN ('same', 'different')),
            reason text NOT NULL CHECK (length(trim(reason)) > 2),
            by text NOT NULL {_ref('users')},
            at text NOT NULL,
            -- byte order, as the tablet orders the pair (Python's str, SQLite's BINARY)
            CHECK (mrn_a COLLATE "C" < mrn_b COLLATE "C")
        )""",
        f"CREATE INDEX patient_links_pair ON {s}.patient_links (mrn_a, mrn_b, at)",
        *_record_rights(db, "patient_links"),
    ]


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# name -> the statements for the database named `db`, oldest first
MIGRATIONS: list[tuple[str, Callable[[str], list[str]]]] = [
    ("0001_tablets_and_records", _m0001_tablets_and_records),
    ("0002_audit_chain_checked", _m0002_audit_chain_checked),
    ("0003_patient_links", _m0003_patient_links),
]
