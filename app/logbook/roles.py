"""Who may do what, in one table (docs/logbook.md prints it). The logbook asks here before
every write; the screens only hide what would be refused.

An admin sets the tablet up (adds the first physicians and nurses, and other admins) but
records nothing clinical: the records are the clinicians'. Only a physician decides about a
dose: overrides a warning, signs, or amends a signed record's doses or its physician."""

from __future__ import annotations

from app.logbook.errors import LogbookError

ROLES = ("physician", "nurse", "admin")
ALLOWED = {
    "add_physician": ("physician", "admin"),
    "add_nurse": ("physician", "nurse", "admin"),
    "add_admin": ("admin",),
    "record": ("physician", "nurse"),  # patients, procedures, vials, injections, voids
    "override": ("physician",),
    "sign": ("physician",),
    "amend": ("physician", "nurse"),  # a signed record's other fields
    "amend_dose": ("physician",),  # a signed record's doses, and its physician
}
WORDS = {
    "add_physician": "add a physician", "add_nurse": "add a nurse", "add_admin": "add an admin",
    "record": "write clinical records", "override": "override a dose warning",
    "sign": "sign a procedure", "amend": "amend a signed procedure",
    "amend_dose": "amend a signed dose or the procedure's physician",
}
# Amending these needs a physician: they are the dose, where it went, and who answers for it.
DOSE_FIELDS = {"units", "volume_ml", "dose_mg", "vial_id", "muscle", "side", "voided",
               "vial_units", "mg_per_ml", "diluent_ml", "product", "physician_id"}


def require(user: dict, action: str) -> None:
    """LogbookError unless `user` (an active users row) may do `action`."""
    if user["role"] not in ALLOWED[action]:
        who = " or ".join(ALLOWED[action])
        raise LogbookError(f"only a {who} may {WORDS[action]}")


def add_action(role: str | None) -> str:
    if role not in ROLES:
        raise LogbookError(f"role: one of {', '.join(ROLES)}")
    return f"add_{role}"
