"""GS1 barcodes on vial entry: the parser (app.workflow.gs1), what a scan landing in a vial
field fills (app.workflow.vial_scan), and products.json's GTIN lists (catalogue)."""

from __future__ import annotations

import datetime
import json

import pytest

from app.logbook import LogbookError, catalogue
from app.workflow import fields, gs1, vial_scan

TODAY = datetime.date(2026, 12, 7)
GTIN = "00312345678906"  # the issue's example; GS1's own sample number
RAW = "01003123456789061730093010C5512"
GS = "\x1d"


def read(text: str) -> gs1.Scan:
    return gs1.parse(text, TODAY)


def facts(scan: gs1.Scan) -> tuple:
    return scan.gtin, scan.expiry, scan.lot


EXAMPLE = (GTIN, datetime.date(2030, 9, 30), "C5512")


@pytest.mark.parametrize("text", [
    RAW,  # a keyboard wedge: no brackets, no GS
    f"0100312345678906{GS}17300930{GS}10C5512",  # GS after fixed fields (allowed)
    f"010031234567890610C5512{GS}17300930",  # the lot first, ended by GS
    "(01)00312345678906(17)300930(10)C5512",
    f" {RAW}\r\n",
])
def test_the_issues_example_with_and_without_gs_and_bracketed(text):
    scan = read(text)
    assert facts(scan) == EXAMPLE and scan.messages == [] and not scan.ambiguous


@pytest.mark.parametrize("prefix", ["]d2", "]C1", "]Q3", "]e0", "]J1"])
def test_each_symbology_identifier_is_taken_off(prefix):
    for text in (prefix + RAW, prefix + f"010031234567890610C5512{GS}17300930"):
        scan = read(text)
        assert facts(scan) == EXAMPLE and scan.symbology == prefix and scan.messages == []


def test_another_identifier_is_taken_off_and_named():
    scan = read("]X9" + RAW)
    assert facts(scan) == EXAMPLE
    assert scan.messages == ["Symbology identifier ]X9 is not a GS1 carrier's: read as GS1 "
                             "all the same"]


def test_an_ean13_scan_is_a_bare_gtin():
    assert read("]E00312345678906").gtin == GTIN


def test_day_00_is_the_last_day_of_the_month_february_of_a_leap_year_too():
    assert read("0100312345678906" "17240200" "10C5").expiry == datetime.date(2024, 2, 29)
    assert read("(17)250200").expiry == datetime.date(2025, 2, 28)
    assert read("(17)301100").expiry == datetime.date(2030, 11, 30)
    assert read("(17)240229").expiry == datetime.date(2024, 2, 29)


def test_the_century_follows_the_sliding_window():
    assert gs1.gs1_date("300930", TODAY) == datetime.date(2030, 9, 30)
    assert gs1.gs1_date("760101", TODAY) == datetime.date(2076, 1, 1)  # 50 ahead: this one
    assert gs1.gs1_date("770101", TODAY) == datetime.date(1977, 1, 1)  # 51 ahead: the last
    assert gs1.gs1_date("020101", datetime.date(2090, 1, 1)) == datetime.date(2102, 1, 1)
    assert gs1.gs1_date("301301", TODAY) is None and gs1.gs1_date("300931", TODAY) is None


def test_a_wrong_check_digit_is_said_and_the_rest_is_kept():
    scan = read("01003123456789051730093010C5512")
    assert facts(scan) == (None, *EXAMPLE[1:])
    assert scan.messages == ["GTIN 00312345678905 has a wrong check digit (it would end in "
                             "6): the product is not picked from it"]


def test_an_unknown_ai_is_skipped_and_named():
    for text in ("(01)00312345678906(99)abc(17)300930(10)C5512",
                 f"0100312345678906991234{GS}17300930{GS}10C5512"):
        scan = read(text)
        assert facts(scan) == EXAMPLE and scan.skipped == ["99"]
        assert scan.messages == ["AI 99 is not one this app reads: skipped"]


def test_known_ais_the_form_does_not_use_are_stepped_over_by_their_length():
    # 11 production date (6), 3103 net weight (6), then the lot; no GS needed before it
    scan = read("0100312345678906" "11240115" "3103001250" "17300930" "10C5512")
    assert facts(scan) == EXAMPLE and scan.skipped == ["11", "3103"] and scan.messages == []


def test_a_lot_of_20_characters_and_one_too_long():
    scan = read("010031234567890617300930" + "10" + "A" * 20)
    assert scan.lot == "A" * 20 and scan.messages == []
    scan = read("010031234567890617300930" + "10" + "A" * 21)
    assert scan.lot is None and scan.expiry == EXAMPLE[1]
    assert scan.messages == ["Lot '" + "A" * 21 + "' is longer than 20 characters: a "
                             "separator was lost; type it from the label"]


def test_a_lot_followed_by_gs_and_another_ai():
    scan = read(f"0100312345678906{GS}10C5512{GS}21SER-77{GS}17300930")
    assert facts(scan) == EXAMPLE and scan.serial == "SER-77" and not scan.ambiguous
    # With a GS seen, a field runs to the next GS: digits inside a lot are the lot's.
    scan = read(f"]d2010031234567890610C551217300930{GS}21S1")
    assert scan.lot == "C551217300930" and scan.expiry is None and not scan.ambiguous


def test_a_missing_gs_after_the_lot_is_split_only_with_a_checked_field_and_said():
    scan = read("010031234567890610C551217300930")
    assert facts(scan) == EXAMPLE and scan.ambiguous
    assert scan.messages == ["The scanner sent no separator after the lot: read as lot C5512 "
                             "then (17)300930; if the label's lot is C551217300930, type it"]
    # No real date after "17": the lot is taken whole, nothing to doubt.
    scan = read("010031234567890610C551217309930")
    assert scan.lot == "C551217309930" and not scan.ambiguous and scan.expiry is None
    # An expiry read before: a second 17 is not split off the lot.
    scan = read("01003123456789061729123110X17300930")
    assert scan.lot == "X17300930" and not scan.ambiguous
    # Too long to be a lot, one reading left: taken without doubt.
    scan = read("010031234567890610ABCDEFGHIJKLMNOPQRST17300930")
    assert scan.lot == "ABCDEFGHIJKLMNOPQRST" and scan.expiry == EXAMPLE[1]
    assert not scan.ambiguous


def test_two_possible_splits_give_no_lot():
    # lot "AB" then (11)300930 (17)300930, or lot "AB11300930" then (17)300930
    scan = read("0100312345678906" "10AB11300930" "17300930")
    assert scan.lot is None and scan.ambiguous
    assert scan.messages[0].startswith("The scanner sent no separator after the lot, and ")
    assert scan.messages[0].endswith("lot not read, type it from the label")


def test_the_same_ai_twice_with_different_values_reads_neither():
    scan = read(f"0100312345678906173009301729010110C5512{GS}")
    assert scan.expiry is None and scan.lot == "C5512"
    assert scan.messages == ["AI 17 (expiry) twice with different values: expiry not read"]


def test_what_looks_like_a_scan():
    for text in (RAW, "]d2xyz", "(17)300930", f"C55{GS}", "0100312345678905" + "17300930"):
        assert gs1.looks_like(text), text
    for text in ("C5512", "2030-09", "100", "0100312345678905", "17300930", ""):
        assert not gs1.looks_like(text), text


def test_the_form_fields_read_a_scan_too():
    assert fields.parse_lot(RAW).value == "C5512"
    assert fields.parse_expiry(RAW).value == "2030-09-30"
    assert fields.parse_expiry("17240200").value == "2024-02-29"
    assert fields.parse_lot("C5512").value == "C5512"
    assert fields.parse_lot("010031234567890610C551217300930").message.startswith(
        "The scanner sent no separator after the lot")
    assert fields.parse_expiry("(10)C5512").message == \
        "The scan holds no expiry (AI 17): type it (YYYY-MM)"


# -- the vial form ---------------------------------------------------------------------------

def products_with(tmp_path, gtins: dict[str, list]) -> catalogue.Catalogue:
    data = json.loads((catalogue.SHIPPED / "products.json").read_text(encoding="utf-8"))
    for key, listed in gtins.items():
        section = "toxins" if key in data["toxins"] else "anaesthetics"
        data[section][key]["gtins"] = listed
    path = tmp_path / "products.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return catalogue.load(path, catalogue.SHIPPED / "muscles.json")


def test_a_scan_in_any_field_fills_lot_expiry_and_product(tmp_path):
    cat = products_with(tmp_path, {"onabotulinumtoxinA": [GTIN]})
    # Into Lot, which was empty.
    got = vial_scan.landed(cat, RAW, "", today=TODAY)
    assert (got.keep, got.lot, got.expiry, got.product) == ("", "C5512", "2030-09-30",
                                                           "onabotulinumtoxinA")
    assert got.line == "Scanned: lot C5512, expiry 2030-09-30, product BOTOX"
    # Into the diluent field after its "2": it keeps "2".
    got = vial_scan.landed(cat, "2" + "]d2" + RAW, "2", today=TODAY)
    assert (got.keep, got.lot, got.expiry) == ("2", "C5512", "2030-09-30")
    # Into the reconstitution time, with nothing known of what it held: found all the same.
    got = vial_scan.landed(cat, "08:30" + RAW, today=TODAY)
    assert got.keep == "08:30" and got.lot == "C5512"
    # Another product chosen: the GTIN's is picked, and the line says what it replaced.
    got = vial_scan.landed(cat, RAW, chosen="abobotulinumtoxinA", today=TODAY)
    assert got.line.endswith("product BOTOX (was DYSPORT)")


def test_a_gtin_not_listed_asks_for_the_product_and_an_expired_lot_is_said(tmp_path):
    cat = products_with(tmp_path, {})
    got = vial_scan.landed(cat, "(01)00312345678906(17)200131(10)C4471", today=TODAY)
    assert got.product is None and got.lot == "C4471" and got.expiry == "2020-01-31"
    assert got.line == ("Scanned: lot C4471, expiry 2020-01-31 EXPIRED, GTIN 00312345678906 "
                        "not in products.json: choose the product")


def test_typing_is_not_a_scan_and_a_doubtful_lot_says_so():
    cat = catalogue.load()
    assert vial_scan.landed(cat, "C5512", today=TODAY) is None
    assert vial_scan.landed(cat, "100", "10", today=TODAY) is None
    got = vial_scan.landed(cat, "010031234567890610C551217300930", today=TODAY)
    assert got.lot == "C5512" and got.lot_message.startswith("The scanner sent no separator")
    assert got.line.startswith("Scanned: lot C5512 (check it), expiry 2030-09-30, GTIN ")
    got = vial_scan.landed(cat, "01003123456789051730093010C5512", today=TODAY)
    assert got.product is None and got.lot == "C5512"
    assert got.line.endswith("the product is not picked from it")


# -- products.json's GTINs -------------------------------------------------------------------

def test_the_shipped_catalogue_lists_no_gtin_yet():
    cat = catalogue.load()
    assert cat.gtins == {}
    assert all(p["gtins"] == [] for p in [*cat.toxins.values(), *cat.anaesthetics.values()])


def test_gtins_are_checked_when_the_catalogue_is_read(tmp_path):
    cat = products_with(tmp_path, {"onabotulinumtoxinA": [GTIN, "00312345678913"],
                                   "lidocaine": ["00312345678920"]})
    assert cat.product_of_gtin(GTIN) == "onabotulinumtoxinA"
    assert cat.product_of_gtin("00312345678920") == "lidocaine"
    assert cat.product_of_gtin("00000000000000") is None and cat.product_of_gtin(None) is None
    path = tmp_path / "products.json"
    with pytest.raises(LogbookError, match=rf"{path}: onabotulinumtoxinA: GTIN '0312345678906'"
                                           r" is not 14 digits"):
        products_with(tmp_path, {"onabotulinumtoxinA": ["0312345678906"]})
    with pytest.raises(LogbookError, match=rf"{path}: abobotulinumtoxinA: GTIN 00312345678905 "
                                           r"has a wrong check digit \(it would end in 6\)"):
        products_with(tmp_path, {"abobotulinumtoxinA": ["00312345678905"]})
    with pytest.raises(LogbookError, match=rf"{path}: GTIN {GTIN} is listed under both "
                                           "onabotulinumtoxinA and incobotulinumtoxinA"):
        products_with(tmp_path, {"onabotulinumtoxinA": [GTIN], "incobotulinumtoxinA": [GTIN]})
    with pytest.raises(LogbookError, match="gtins is a list"):
        products_with(tmp_path, {"lidocaine": GTIN})
