"""The clinic server's errors: one line each, naming what failed, never a password or a
patient."""


class ClinicError(Exception):
    """The clinic server could not be reached, refused, or is not what it should be."""


class BadInput(ClinicError):
    """A connection string or tablet name this Needlepoint will not use (a command: exit 2)."""
