"""Possible duplicate patients (issue 32, item 4), and a person's decision on them.

The same MRN is the same patient. Two MRNs whose patient rows (this tablet's or pulled)
carry the same name and the same birth date may be one person registered twice, in two
rooms: the software never merges them. It shows them as a possible duplicate until a
person decides, and that decision is a `patient_links` row (migration 0009), audited and
synced like every record:

- "same": both MRNs are one patient wherever the logbook reads a patient's past (the dose
  rules, history, the plan carried forward, lot recall), as one MRN is. Decisions chain:
  A same as B and B same as C make A, B and C one patient.
- "different": the question is closed; each MRN stays its own patient.

The latest decision on a pair (by its time, then its id) is the one that holds; the
earlier ones stay, superseded.

"The same name": the family name and the given name each compared after Unicode NFC
normalisation (an accented letter typed as one character or as a letter and its accent is
the same letter), case folded ("LIMA" is "Lima"), and spaces trimmed and runs of spaces
made one. Accents are compared as typed: "Jose" and "José" are not the same name. The birth
date must be given on both and equal. Patients without a birth date are never flagged.
"""

from __future__ import annotations

import unicodedata

from sqlite_utils import Database

DECISIONS = {"same": "the same person", "different": "different people"}
NOT_COUNTED = "its injections are not counted until someone decides"


def name_key(text: str | None) -> str:
    """A name as it is compared: NFC, case folded, spaces trimmed and made single."""
    return " ".join(unicodedata.normalize("NFC", text or "").casefold().split())


def person_key(row: dict) -> tuple[str, str, str] | None:
    """What makes two patient rows a possible duplicate; None without a birth date."""
    if not row.get("birth_date"):
        return None
    return (name_key(row.get("family_name")), name_key(row.get("given_name")),
            row["birth_date"])


def pair(mrn: str, other: str) -> tuple[str, str]:
    """A pair of MRNs as patient_links stores it (mrn_a < mrn_b)."""
    return (mrn, other) if mrn < other else (other, mrn)


def current(db: Database) -> dict[tuple[str, str], dict]:
    """The decision that holds on each pair: the latest (time, then id)."""
    out: dict[tuple[str, str], dict] = {}
    for row in db.query("SELECT * FROM patient_links ORDER BY at, id"):
        out[(row["mrn_a"], row["mrn_b"])] = row
    return out


def _one_patient(decided: dict[tuple[str, str], dict]) -> dict[str, frozenset[str]]:
    """Each MRN decided the same as another: the MRNs it is one patient with (through
    others too: A same as B and B same as C make A, B, C one), itself included."""
    same: dict[str, set[str]] = {}
    for (a, b), row in decided.items():
        if row["decision"] == "same":
            same.setdefault(a, set()).add(b)
            same.setdefault(b, set()).add(a)
    groups: dict[str, frozenset[str]] = {}
    for start in same:
        if start in groups:
            continue
        found, todo = {start}, [start]
        while todo:
            for other in same[todo.pop()] - found:
                found.add(other)
                todo.append(other)
        group = frozenset(found)
        groups.update((m, group) for m in group)
    return groups


def linked(db: Database, mrn: str) -> set[str]:
    """Every MRN decided to be the same person as `mrn` (through others too), `mrn`
    included."""
    return set(_one_patient(current(db)).get(mrn, {mrn}))


def possible(db: Database, mrn: str | None = None) -> list[dict]:
    """Open possible duplicates: pairs of MRNs with the same name and birth date, no
    decision holding on them, and not already one patient through others; those of `mrn`
    (and of the MRNs decided the same as it) only, when given. Each {mrn, other, rooms:
    the tablets the other MRN's rows were recorded on (None: this one), family_name,
    given_name, birth_date}, `mrn` the given one's side when given."""
    decided = current(db)
    groups = _one_patient(decided)
    cols = "mrn, family_name, given_name, birth_date, origin"
    if mrn is None:
        rows = list(db.query(f"SELECT {cols} FROM patients ORDER BY origin IS NOT NULL, "
                             "created_at"))
        mine = None
    else:
        # only rows born on a day this patient was: a dose check reads this, so it does
        # not walk every patient of the clinic
        mine = groups.get(mrn, frozenset({mrn}))
        marks = ",".join("?" * len(mine))
        rows = list(db.query(
            f"SELECT {cols} FROM patients WHERE birth_date IN (SELECT birth_date FROM "
            f"patients WHERE mrn IN ({marks})) ORDER BY origin IS NOT NULL, created_at",
            sorted(mine)))
    by_key: dict[tuple, set[str]] = {}
    rooms: dict[str, list] = {}
    shown: dict[str, dict] = {}
    for r in rows:
        k = person_key(r)
        if k is not None:
            by_key.setdefault(k, set()).add(r["mrn"])
        if r["origin"] not in rooms.setdefault(r["mrn"], []):
            rooms[r["mrn"]].append(r["origin"])
        shown.setdefault(r["mrn"], r)
    pairs = {pair(a, b) for same in by_key.values() for a in same for b in same if a < b}
    out = []
    for a, b in sorted(pairs):
        if (a, b) in decided or b in groups.get(a, ()):
            continue  # decided, or one patient already through others
        if mine is not None and (a in mine) == (b in mine):
            continue  # not about this patient
        here, there = (a, b) if mine is None or a in mine else (b, a)
        if mine is not None and any(d["other"] == there for d in out):
            continue  # a duplicate of two MRNs already decided one patient: once
        p = shown[there]
        out.append({"mrn": here, "other": there, "rooms": rooms[there],
                    "family_name": p["family_name"], "given_name": p["given_name"],
                    "birth_date": p["birth_date"]})
    return out


def rooms_text(rooms: list[str | None]) -> str:
    return ", ".join(r or "this tablet" for r in rooms)


def line(d: dict) -> str:
    """One possible duplicate as the screens show it, where the patient is picked or
    opened."""
    name = ", ".join(x for x in (d["family_name"], d.get("given_name")) if x)
    return (f"Possible duplicate: MRN {d['other']} ({rooms_text(d['rooms'])}), {name}, born "
            f"{d['birth_date']}: same name and birth date; {NOT_COUNTED}")


def note(found: list[dict]) -> str | None:
    """What a dose check says beside its result while the patient has an open possible
    duplicate (the screen's words: MRNs are the clinical record there)."""
    if not found:
        return None
    return "; ".join(f"possible duplicate MRN {d['other']} ({rooms_text(d['rooms'])}), same "
                     f"name and birth date: {NOT_COUNTED}" for d in found)
