"""The clinic server's errors: one line each, naming what failed, never a password or a
patient."""


class ClinicError(Exception):
    """The clinic server could not be reached, refused, or is not what it should be."""


class BadInput(ClinicError):
    """A connection string or tablet name this Needlepoint will not use (a command: exit 2)."""


class Unreachable(ClinicError):
    """No connection to the clinic server: where it was looked for, and libpq's reason."""

    def __init__(self, where: str, why: str):
        super().__init__(f"cannot reach the clinic server ({where}): {why}")
        self.where, self.why = where, why
