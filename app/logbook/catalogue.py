"""The product and muscle catalogues of assets/, loaded as data.

Where a file comes from, first match wins, file by file: the folder named by
NEEDLEPOINT_ASSETS, the clinic's copy under home()/assets, the assets/ folder of the
checkout. A clinic edits a copy, never the shipped file, so an update cannot overwrite its
figures silently; `Catalogue.files` says which file was used.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from app.logbook.errors import LogbookError
from devices.files import home

SHIPPED = Path(__file__).resolve().parents[2] / "assets"
FILES = ("products.json", "muscles.json")
REGIONS = ("cervical", "upper_limb", "lower_limb", "trunk", "face")


def search_path() -> list[Path]:
    dirs = []
    if os.environ.get("NEEDLEPOINT_ASSETS"):
        dirs.append(Path(os.environ["NEEDLEPOINT_ASSETS"]))
    dirs += [home() / "assets", SHIPPED]
    return dirs


def find(name: str) -> Path:
    for folder in search_path():
        if (folder / name).is_file():
            return folder / name
    raise LogbookError(f"catalogue file {name} not found in "
                       + ", ".join(str(d) for d in search_path()))


@dataclass
class Catalogue:
    toxins: dict[str, dict]
    anaesthetics: dict[str, dict]
    policy: dict
    muscles: dict[str, dict]  # id -> {id, name, region, typical_doses}
    files: dict[str, str] = field(default_factory=dict)
    gtins: dict[str, str] = field(default_factory=dict)  # GTIN-14 -> product key

    def product_of_gtin(self, gtin: str | None) -> str | None:
        """The product whose box carries this GTIN, as the clinic listed it."""
        return self.gtins.get(gtin or "")

    def product(self, key: str) -> dict | None:
        return self.toxins.get(key) or self.anaesthetics.get(key)

    def kind_of(self, key: str) -> str | None:
        if key in self.toxins:
            return "toxin"
        if key in self.anaesthetics:
            return "anaesthetic"
        return None

    def region_of(self, muscle: str | None) -> str | None:
        m = self.muscles.get(muscle or "")
        return m["region"] if m else None


def load(products: Path | None = None, muscles: Path | None = None) -> Catalogue:
    """Read both catalogues; a malformed file is named in one clear error."""
    p_path, m_path = products or find("products.json"), muscles or find("muscles.json")
    prod, mus = _read(p_path), _read(m_path)
    try:
        table = {}
        for region, entries in mus["regions"].items():
            if region not in REGIONS:
                raise LogbookError(f"{m_path}: unknown region {region!r} (one of "
                                   f"{', '.join(REGIONS)})")
            for m in entries:
                table[m["id"]] = {**m, "region": region, "typical_doses":
                                  m.get("typical_doses") or {}}
        cat = Catalogue(toxins=dict(prod["toxins"]), anaesthetics=dict(prod["anaesthetics"]),
                        policy=dict(prod.get("clinic_policy") or {}), muscles=table,
                        files={"products": str(p_path), "muscles": str(m_path)})
        for key, t in cat.toxins.items():
            for lim in t.get("limits", []):
                _check_limit(p_path, key, lim)
        cat.gtins = _gtins(p_path, {**cat.toxins, **cat.anaesthetics})
        if not _positive_or_null(cat.policy.get("anaesthetic_combined_max")):
            raise LogbookError(f"{p_path}: clinic_policy: anaesthetic_combined_max must be a "
                               "positive number or null")
    except (KeyError, TypeError, AttributeError) as e:
        raise LogbookError(f"{p_path} or {m_path} is not a catalogue this Needlepoint "
                           f"reads ({type(e).__name__}: {e})") from None
    return cat


RULES = ("per_site_max", "per_session_max", "per_kg_max", "rolling_window_max",
         "min_interval_days", "per_muscle_max")
# What a limit's total counts: the whole session (default) or one limb (region and side), as
# a label gives e.g. "200 Units per single upper limb".
SCOPES = (None, "session", "limb")
LIMBS = ("upper_limb", "lower_limb")


def _check_limit(path: Path, key: str, lim: dict) -> None:
    if lim["rule"] not in RULES:
        raise LogbookError(f"{path}: {key}: unknown rule {lim['rule']!r} (one of "
                           f"{', '.join(RULES)})")
    if not _positive_or_null(lim.get("value")):
        raise LogbookError(f"{path}: {key}: {lim['rule']} must be a positive number or null")
    if lim["rule"] == "rolling_window_max" and not lim.get("window_days"):
        raise LogbookError(f"{path}: {key}: rolling_window_max needs window_days")
    if lim.get("population") not in (None, "adult", "pediatric"):
        raise LogbookError(f"{path}: {key}: population is adult, pediatric or null")
    if lim.get("scope") not in SCOPES:
        raise LogbookError(f"{path}: {key}: scope is session, limb or absent")
    if lim.get("scope") == "limb" and not (lim.get("regions") and set(lim["regions"]) <= set(
            LIMBS)):
        raise LogbookError(f"{path}: {key}: a per-limb {lim['rule']} needs regions among "
                           f"{', '.join(LIMBS)}")


def gtin_check_digit(digits: str) -> int:
    """The GS1 mod-10 check digit of `digits` (a GTIN without its last digit): weights 3
    and 1 alternating from the right."""
    total = sum(int(c) * (3 if i % 2 == 0 else 1) for i, c in enumerate(reversed(digits)))
    return (10 - total % 10) % 10


def _gtins(path: Path, products: dict[str, dict]) -> dict[str, str]:
    """Each product's `gtins`: 14 digits with a right check digit, none under two products
    (a scan must name one product or none)."""
    table: dict[str, str] = {}
    for key, p in products.items():
        listed = p.get("gtins") or []
        if not isinstance(listed, list):
            raise LogbookError(f"{path}: {key}: gtins is a list of 14-digit GTINs")
        for g in listed:
            if not (isinstance(g, str) and len(g) == 14 and g.isdigit()):
                raise LogbookError(f"{path}: {key}: GTIN {g!r} is not 14 digits (a GTIN-13 "
                                   "from the box takes a leading 0)")
            if gtin_check_digit(g[:-1]) != int(g[-1]):
                raise LogbookError(f"{path}: {key}: GTIN {g} has a wrong check digit (it "
                                   f"would end in {gtin_check_digit(g[:-1])}): copy it again "
                                   "from the box")
            if table.get(g, key) != key:
                raise LogbookError(f"{path}: GTIN {g} is listed under both {table[g]} and "
                                   f"{key}: a box names one product")
            table[g] = key
    return table


def _positive_or_null(value) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool)
                             and value > 0)


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise LogbookError(f"cannot read catalogue {path}: {e}") from None


_cached: tuple[tuple, Catalogue] | None = None


def default() -> Catalogue:
    """The catalogue in use, re-read when a file on the search path changes."""
    global _cached
    paths = (find("products.json"), find("muscles.json"))
    key = tuple((str(p), p.stat().st_mtime_ns) for p in paths)
    if _cached is None or _cached[0] != key:
        _cached = (key, load(*paths))
    return _cached[1]
