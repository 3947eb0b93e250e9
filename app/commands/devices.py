"""`needlepoint devices [--json]`: what can be opened now, and whether it may touch a
patient."""

from __future__ import annotations

import argparse
import json


def add_parser(sub) -> None:
    d = sub.add_parser("devices", help="what can be opened now")
    d.add_argument("--json", action="store_true", help="print JSON instead of a table")
    d.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from devices import discover

    infos = discover()
    if args.json:
        print(json.dumps([i.as_dict() for i in infos], indent=2))
        return 0
    rows = [("URI", "KIND", "RATE", "CH", "SCALE", "PATIENT USE")]
    for i in infos:
        scale = "calibrated" if i.calibrated else "UNCALIBRATED"
        rows.append((i.uri, i.kind, f"{i.fs:g} Hz", str(i.channels), scale,
                     _isolation_words(i)))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
    print("\nAlso: file:<path> replays a recording (.edf .bdf .wav .hea); "
          "sim:<scenario>?seed=3&fs=20000 sets simulator options;\n"
          "spikerbox:auto or spikerbox:<port> opens a SpikerBox-family board (NOT isolated "
          "for patient connection); soundcard:<index or name>?uv_per_fs=... a preamp into "
          "a sound card;\nlsl:<stream name>?type=...&source_id=... a Lab Streaming Layer "
          "stream (pip install 'needlepoint[lsl]').")
    return 0


def _isolation_words(info) -> str:
    from devices import Isolation

    if info.isolation is Isolation.NOT_APPLICABLE:
        return "no electrode"
    if info.isolation.patient_rated:
        return f"rated ({info.isolation.value})"
    if info.isolation is Isolation.UNKNOWN:
        return "NOT DECLARED"
    return "NOT FOR PATIENTS"
