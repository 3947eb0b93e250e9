"""The tests' throwaway PostgreSQL: app/bench/pgserver.py, where `needlepoint bench sync`
finds it too (app/ never imports tests/)."""

from app.bench.pgserver import DEBIAN_PACKAGE, PgServer, Unavailable, bindir, glob, shutil

__all__ = ["DEBIAN_PACKAGE", "PgServer", "Unavailable", "bindir", "glob", "shutil"]
