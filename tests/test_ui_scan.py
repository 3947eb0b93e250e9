"""A vial label scanned into the set-up screen of the real app under Xvfb
(tests/scandriver.py): the raw GS1 string of issue 31, typed a character at a time into
Lot, fills Lot, Expiry and the product; a bracketed one landing in Expiry fills Lot too and
asks for the product its GTIN does not name. The filled form is shot into $SCAN_SHOTS when
set."""

from __future__ import annotations

import json
import os
from pathlib import Path

from app.logbook import catalogue
from tests.uiutil import display, result, start

DISPLAYS = range(120, 130)  # ours on this shared machine
RAW = "01003123456789061730093010C5512"
BRACKETED = "(01)00312345678913(17)281200(10)D7781"


def test_a_scan_in_the_lot_field_fills_lot_expiry_and_product(tmp_path):
    # The clinic's own copy of products.json, with its BOTOX box's GTIN.
    data = json.loads((catalogue.SHIPPED / "products.json").read_text(encoding="utf-8"))
    data["toxins"]["onabotulinumtoxinA"]["gtins"] = ["00312345678906"]
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "products.json").write_text(json.dumps(data), encoding="utf-8")
    shots = Path(os.environ.get("SCAN_SHOTS") or tmp_path)
    args = {"raw": RAW, "bracketed": BRACKETED, "shot": str(shots / "scan_vial_form.png")}
    with display(DISPLAYS) as disp:
        res = result(start("scan", args, tmp_path, disp, driver="tests.scandriver"), 180)
    assert res["started"]
    raw = res["raw"]
    assert (raw["lot"], raw["expiry"], raw["product"]) == ("C5512", "2030-09-30",
                                                           "onabotulinumtoxinA")
    assert raw["line"] == "Scanned: lot C5512, expiry 2030-09-30, product BOTOX"
    assert raw["lot_message"] == raw["expiry_message"] == ""
    assert raw["lot_scrolled"] == 0  # the lot shown from its first character
    bracketed = res["bracketed"]
    assert (bracketed["lot"], bracketed["expiry"]) == ("D7781", "2028-12-31")
    assert bracketed["product"] == "onabotulinumtoxinA"  # left as it was
    assert bracketed["line"] == ("Scanned: lot D7781, expiry 2028-12-31, GTIN 00312345678913 "
                                 "not in products.json: choose the product")
    assert bracketed["recon"] == raw["recon"]  # no other field touched
    typed = res["typed"]
    assert typed["lot"] == "C5512" and typed["lot_message"] == ""
    in_diluent = res["in_diluent"]
    assert in_diluent["keypad"] == "decimal" and in_diluent["diluent"] == "2"
    assert (in_diluent["lot"], in_diluent["expiry"]) == ("C5512", "2030-09-30")
    assert (shots / "scan_vial_form.png").stat().st_size > 10000
