"""PINs stored as salted, deliberately slow hashes (scrypt from the standard library)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from app.logbook.errors import LogbookError

# scrypt's memory-hard cost: about 16 MB and tens of ms here; a PIN has few digits, so the
# hash must be slow for the file alone to be worth little to a thief.
N, R, P = 2**14, 8, 1


def hash_pin(pin: str) -> str:
    if not isinstance(pin, str) or not 4 <= len(pin) <= 32:
        raise LogbookError("a PIN is 4 to 32 characters")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=N, r=R, p=P, dklen=32)
    return f"scrypt${N}${R}${P}${salt.hex()}${digest.hex()}"


def check_pin(pin: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    got = hashlib.scrypt(str(pin).encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r),
                         p=int(p), dklen=len(digest) // 2)
    return hmac.compare_digest(got.hex(), digest)
