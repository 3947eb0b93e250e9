"""Where a snippet's EMG came from: the device's URI, whether that device was an amplifier
on a patient, the simulator or a replayed file, and whether its microvolt scale was
calibrated. Stored with every snippet and said by everything made from one, so that
nobody reading a record takes simulated or replayed EMG for the patient's, or counts for
microvolts.

Snippets stored before the logbook kept their source read as "source not recorded": the
logbook never guesses a source it was not told.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from urllib.parse import unquote

import numpy as np

from app.logbook.errors import LogbookError

KINDS = ("amplifier", "simulator", "replay")
# Far longer than any device URI (a path is at most 4096 bytes on Linux): the bound is there
# so that a field meant for a URI cannot carry a document.
MAX_URI = 8192
NOT_RECORDED = "source not recorded"
SIMULATED = "SIMULATED - not a patient"
UNCALIBRATED = "uncalibrated (counts)"


def validate(snippet: dict) -> dict:
    """The snippet's source as the logbook stores it ({source_uri, source_kind,
    calibrated}), or a LogbookError naming the field that is missing or wrong."""
    uri = snippet.get("source_uri")
    if not isinstance(uri, str) or not uri.strip():
        raise LogbookError("snippet source_uri must be the device URI the EMG came from "
                           "(a non-empty text)")
    if len(uri) > MAX_URI:
        raise LogbookError(f"snippet source_uri is {len(uri)} characters long; a device URI "
                           f"is at most {MAX_URI}")
    kind = snippet.get("source_kind")
    if kind not in KINDS:
        raise LogbookError(f"snippet source_kind must be one of {', '.join(KINDS)}, not "
                           f"{kind!r}")
    calibrated = snippet.get("calibrated")
    # 1 and 0 are refused on purpose: the caller says yes or no, it is not inferred.
    if not isinstance(calibrated, bool | np.bool_):
        raise LogbookError(f"snippet calibrated must be True or False (whether the device's "
                           f"microvolt scale was calibrated), not {calibrated!r}")
    return {"source_uri": uri.strip(), "source_kind": kind, "calibrated": int(calibrated)}


def source(kind: str | None, uri: str | None, calibrated) -> dict:
    """A stored snippet's source as records carry it: kind, URI, calibrated (True, False or
    None when not recorded) and the label that says it in words."""
    cal = None if calibrated is None else bool(calibrated)
    return {"kind": kind, "uri": uri, "calibrated": cal, "label": label(kind, uri, cal)}


def label(kind: str | None, uri: str | None, calibrated: bool | None) -> str:
    """A short line for screens and printouts: "SIMULATED - not a patient", "REPLAY:
    rec.edf", "amplifier: spikerbox:/dev/ttyACM0", with ", uncalibrated (counts)" when the
    scale was not calibrated, or "source not recorded"."""
    if kind is None:
        return NOT_RECORDED
    if kind == "simulator":
        text = SIMULATED
    elif kind == "replay":
        text = f"REPLAY: {file_name(uri)}"
    else:
        text = f"amplifier: {_without_query(uri)}"
    return text + (f", {UNCALIBRATED}" if calibrated is False else "")


def file_name(uri: str | None) -> str:
    """The recording's file name in a replay URI (file:/path/rec.edf?loop=0 -> rec.edf)."""
    target = unquote(_without_query(uri).split(":", 1)[-1])
    return PurePosixPath(target).name or target or "?"


def _without_query(uri: str | None) -> str:
    return (uri or "?").partition("?")[0]
