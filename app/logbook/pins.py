"""PINs: digits only, the clinic's minimum length to 12, stored as salted scrypt hashes.

The threat model (docs/logbook.md, "PINs: threat model"): a PIN of a few digits falls to an
offline search whatever the hash costs, so the lockout (app.logbook.lockout) protects the
screen, the file's mode and the device's encryption protect the file, and the hash's cost
only protects a longer PIN used elsewhere too. Each stored hash carries its own parameters,
so a hash made at another cost (an older Needlepoint's 2^14) stays verifiable.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from app.logbook.errors import LogbookError

FLOOR, MAX_LENGTH = 4, 12  # no clinic may go below FLOOR digits; none above MAX_LENGTH
MIN_LENGTH = FLOOR  # the clinic's minimum for a new PIN: set_min_length (settings)

# scrypt's cost (n, r, p): n=2^15, r=8 takes 32 MB and about 0.1 s on the development
# machine, a few tenths on a slow tablet, which a sign-in can afford. The tests set a cheap
# COST (tests/conftest.py); PRODUCTION_COST is what the app uses.
PRODUCTION_COST = (2**15, 8, 1)
COST = PRODUCTION_COST
# A stored hash asking for more than this is refused rather than computed.
MAX_N, MAX_R, MAX_P = 2**20, 16, 4


def set_min_length(n: int) -> int:
    """The clinic's minimum number of digits for a new PIN, kept within FLOOR to MAX_LENGTH
    (a settings file cannot lower it below FLOOR). PINs already set keep working."""
    global MIN_LENGTH
    MIN_LENGTH = min(max(int(n), FLOOR), MAX_LENGTH)
    return MIN_LENGTH


def rule(new: bool = True) -> str:
    """A PIN in words: a new PIN needs the clinic's minimum; one typed to sign in may be any
    PIN a user can have (an older, shorter one included)."""
    return f"{MIN_LENGTH if new else FLOOR} to {MAX_LENGTH} digits"


def well_formed(pin, new: bool = True) -> bool:
    low = MIN_LENGTH if new else FLOOR
    return (isinstance(pin, str) and pin.isascii() and pin.isdigit()
            and low <= len(pin) <= MAX_LENGTH)


def hash_pin(pin: str) -> str:
    """A new PIN's stored form. Refuses (naming the field, never echoing the PIN) anything
    but the clinic's MIN_LENGTH to MAX_LENGTH ASCII digits."""
    if not well_formed(pin):
        raise LogbookError(f"pin: a PIN is {rule()}")
    n, r, p = COST
    salt = secrets.token_bytes(16)
    return f"scrypt${n}${r}${p}${salt.hex()}${_scrypt(pin, salt, n, r, p, 32).hex()}"


def check_pin(pin: str, stored: str) -> bool:
    """Is `pin` the one `stored` was made from? False for anything malformed."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        n, r, p, salt = int(n), int(r), int(p), bytes.fromhex(salt)
    except (AttributeError, ValueError):
        return False
    if (scheme != "scrypt" or not isinstance(pin, str) or not 1 < n <= MAX_N
            or not 0 < r <= MAX_R or not 0 < p <= MAX_P):
        return False
    try:
        got = _scrypt(pin, salt, n, r, p, len(digest) // 2)
    except ValueError:  # n not a power of two, a PIN that cannot be encoded
        return False
    return hmac.compare_digest(got.hex(), digest)


def _scrypt(pin: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    # OpenSSL's default memory cap is 32 MB, which n=2^15 at r=8 (128*n*r bytes) reaches.
    return hashlib.scrypt(pin.encode(), salt=salt, n=n, r=r, p=p, dklen=dklen,
                          maxmem=2 * 128 * n * r * p + 2**20)
