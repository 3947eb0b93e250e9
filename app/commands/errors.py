"""The one error a command raises for bad input: main() prints its line and exits 2."""


class UsageError(Exception):
    """Bad input on the command line or in a file: one clear line, exit 2."""
