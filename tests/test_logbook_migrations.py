"""Migrations: a logbook at every earlier schema version (fixtures kept as SQL text in
tests/fixtures/logbook/, one per released version) upgrades to the current schema with its
data, audit chain, amendments and snippets intact."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from app.logbook import Logbook
from app.logbook.migrations import names

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "logbook"
VERSIONS = sorted(p.stem for p in FIXTURES.glob("*.sql"))


def test_there_is_a_fixture_for_every_released_version():
    assert names() == VERSIONS


def _load(version: str, tmp_path) -> Path:
    path = tmp_path / f"{version}.db"
    conn = sqlite3.connect(path)
    conn.executescript((FIXTURES / f"{version}.sql").read_text(encoding="utf-8"))
    conn.close()
    return path


@pytest.mark.parametrize("version", VERSIONS)
def test_a_logbook_at_each_version_upgrades_with_its_data_intact(version, tmp_path):
    expected = json.loads((FIXTURES / f"{version}.json").read_text())
    path = _load(version, tmp_path)
    conn = sqlite3.connect(path)
    applied = [r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations ORDER BY id")]
    conn.close()
    assert applied == names()[:names().index(version) + 1]
    with Logbook(path) as lb:
        assert lb.schema_version() == names()
        rep = lb.verify()
        assert rep["ok"], rep["problems"]
        # the old chain is untouched: the entry that was its head is still there, same hash
        head = lb.db.execute("SELECT hash FROM audit WHERE seq = ?",
                             [expected["audit_entries"]]).fetchone()[0]
        assert head == expected["audit_head"]
        for table, n in expected["counts"].items():
            assert rep["counts"][table] == n, table
        rec = lb.procedure(expected["procedure_id"])
        assert [i["id"] for i in rec["injections"]] == expected["injections"]
        assert [i["units"] for i in rec["injections"]] == expected["units_now"]
        assert rec["signed_at"] and len(rec["amendments"]) == 1
        snip = lb.snippet(expected["injections"][0])
        raw = np.ascontiguousarray(snip["samples"], dtype="<i2").tobytes()
        assert hashlib.sha256(raw).hexdigest() == expected["snippet_sha256"]
        # a snippet from before its source was kept reads as not recorded, never a guess
        source = expected.get("snippet_source") or {}
        assert {k: snip[k] for k in ("source_uri", "source_kind")} == {
            k: source.get(k) for k in ("source_uri", "source_kind")}
        if not source.get("source_kind"):
            assert snip["provenance"] == "source not recorded"
            assert snip["calibrated"] is None
            assert rec["injections"][0]["emg_source"]["label"] == "source not recorded"
        # from 0007: an Ashworth grade stays its text, a correction stays linked
        for want in expected.get("observations", []):
            got = next(o for o in rec["observations"] if o["id"] == want["id"])
            assert {k: got[k] for k in want} == want
            assert got["current"] == (want["id"] not in {
                o["supersedes"] for o in expected["observations"]})
        # from 0008: another tablet's rows, pulled, are read with the patient's own (the
        # same MRN), chained to their own trail, and their users cannot sign in here
        if "pulled" in expected:
            want = expected["pulled"]
            assert rep["pulled"][want["tablet"]] == {"entries": want["entries"],
                                                      "head": want["head"]}
            hist = lb.patient_history(expected["patient_id"])["procedures"]
            assert [(p["id"], p["origin"]) for p in hist] == [
                (want["procedure_id"], want["tablet"]), (expected["procedure_id"], None)]
            assert all(not lb.check_pin(u["id"], "4321") for u in lb.users() if u["origin"])
        # from 0009: two MRNs a person decided are one patient (the later decision holding)
        if "links" in expected:
            want = expected["links"]
            assert want["patient_id"] in lb.same_patient(expected["patient_id"])
            assert lb.possible_duplicates(expected["patient_id"]) == []
            got = lb.duplicate_decisions(want["mrns"][0])
            assert [d["decision"] for d in got] == ["different", "same"]
            assert got[-1]["id"] == want["decision"]
        # and the upgraded logbook takes new records, new tables included
        doc = next(u for u in lb.users() if u["role"] == "physician" and not u.get("origin"))
        lb.add_observation(rec["id"], {"scale": "pain_nrs", "timepoint": "followup",
                                       "value": 1}, doc["id"])
        assert lb.verify()["ok"]


def test_0008_cut_off_after_its_commit_is_recorded_by_the_next_open(tmp_path):
    """0008_clinic_pull commits its own transaction (it rebuilds patients with foreign
    keys off) before sqlite-utils records it: a crash between the two leaves it done and
    unrecorded, and the next open finds the work done and only records it."""
    from sqlite_utils import Database

    from app.logbook.migrations import m0008_clinic_pull

    path = _load("0007_observation_grades", tmp_path)
    db = Database(path)
    m0008_clinic_pull(db)
    assert "origin" in db["patients"].columns_dict
    db.close()
    with Logbook(path) as lb:
        assert lb.schema_version() == names()
        assert lb.verify()["ok"]
