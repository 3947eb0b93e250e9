"""Lot recall (`Logbook.lot_recall`, `needlepoint logbook lot`): every patient and
injection that received a lot, matched trimmed and in any case, grouped by product, the
records read as they now stand (amendments applied), voided injections counted apart."""

from __future__ import annotations

import json

import pytest

from app.commands import cli
from app.logbook import Logbook, LogbookError, demo, ids


def _clinic(path):
    with Logbook(path) as lb:
        doc, nurse = demo.users(lb)
        made = []
        for mrn, family, product, units_vial, lot in (
                ("R-1", "Alder", "onabotulinumtoxinA", 100, "AB12 "),
                ("R-2", "Birch", "abobotulinumtoxinA", 500, "ab12"),
                ("R-3", "Cedar", "onabotulinumtoxinA", 100, "ZZ9")):
            pt = lb.add_patient({"mrn": mrn, "family_name": family,
                                 "birth_date": "1960-01-01", "weight_kg": 70}, nurse["id"])
            proc = lb.start_procedure({"patient_id": pt["id"], "kind": "botulinum",
                                       "physician_id": doc["id"]}, nurse["id"])
            vial = lb.add_vial(proc["id"], {"product": product, "vial_units": units_vial,
                                            "diluent_ml": 2, "lot": lot, "expiry": "2099-01",
                                            "reconstituted_at": ids.now()}, nurse["id"])
            injs = [lb.log_injection(proc["id"], {"vial_id": vial["id"], "units": u,
                                                  "muscle": "biceps_brachii", "side": "left"},
                                     nurse["id"]) for u in (20, 30)]
            made.append((proc, vial, injs))
        # Alder's second injection was logged by mistake: not given
        lb.void_injection(made[0][2][1]["id"], "logged twice", nurse["id"])
        # Cedar's vial lot was written wrong; corrected after signing to the recalled lot
        lb.end_procedure(made[2][0]["id"], nurse["id"], pain_after=2)
        lb.sign_off(made[2][0]["id"], doc["id"])
        lb.amend(made[2][0]["id"], "vials", made[2][1]["id"], {"lot": "AB12"},
                 "lot misread from the label", doc["id"])
    return made


def test_a_lot_is_found_trimmed_in_any_case_grouped_by_product(tmp_path):
    _clinic(tmp_path / "lb.db")
    with Logbook(tmp_path / "lb.db") as lb:
        found = lb.lot_recall("  ab12")
        assert (found["patients"], found["injections"], found["voided"]) == (3, 5, 1)
        by = {p["product"]: p for p in found["products"]}
        assert list(by) == ["abobotulinumtoxinA", "onabotulinumtoxinA"]
        assert by["abobotulinumtoxinA"]["lots"] == ["ab12"]
        assert by["abobotulinumtoxinA"]["units"] == 50.0
        bo = by["onabotulinumtoxinA"]
        assert bo["lots"] == ["AB12"]  # as written (the logbook keeps lots trimmed)
        assert [(p["mrn"], [i["units"] for i in p["injections"]]) for p in bo["patients"]] == [
            ("R-1", [20.0]), ("R-3", [20.0, 30.0])]
        assert bo["units"] == 70.0  # never added to the other product's units
        assert lb.lot_recall("ZZ9")["injections"] == 0  # the lot as it now reads
        with pytest.raises(LogbookError, match="type the lot"):
            lb.lot_recall("   ")


def test_the_command_prints_the_recall_and_its_json(tmp_path, capsys):
    _clinic(tmp_path / "lb.db")
    assert cli.main(["logbook", "lot", "AB12", "--db", str(tmp_path / "lb.db")]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0] == ("Lot AB12 (matched trimmed, any case): 3 patient(s), "
                                    "5 injection(s); 1 voided, not given")
    assert "abobotulinumtoxinA, lot ab12: 2 injection(s), 50 U" in text
    assert "  R-2  Birch  born 1960-01-01" in text
    assert cli.main(["logbook", "lot", "ab12", "--json", "--db",
                     str(tmp_path / "lb.db")]) == 0
    assert json.loads(capsys.readouterr().out)["patients"] == 3
    assert cli.main(["logbook", "lot", "nope", "--db", str(tmp_path / "lb.db")]) == 0
    assert capsys.readouterr().out.startswith("No injection from lot 'nope'")
