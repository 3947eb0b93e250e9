"""Needlepoint: the application (live session, logbook, Kivy UI, command line)."""

import os

# One BLAS thread: numpy's helper threads spin on the second core after each call and
# compete with the sound callback and the UI on a two-core tablet.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
