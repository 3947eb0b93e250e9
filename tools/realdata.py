"""What the analyser finds in the real needle recordings of shared/data (PhysioNet emgdb):
per-unit medians of the motor units it tracked, turns against amplitude, and spontaneous
activity calls (the healthy record should have almost none).

    python -m tools.realdata [--data ../shared/data/physionet-emgdb] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from devices.formats import read_recording
from dsp.analysis.features import MUAP_MIN_AMPLITUDE_UV
from dsp.chain import analyze

RECORDS = ("emg_healthy", "emg_myopathy", "emg_neuropathy")
MIN_POTENTIALS = 20
SPONTANEOUS = ("fibrillation", "positive_sharp_wave", "end_plate_spike")


def units(events) -> list[dict]:
    """Per tracked motor unit with at least MIN_POTENTIALS potentials: medians."""
    by_train: dict[int, list] = {}
    for e in events:
        if e.kind in ("muap", "fasciculation") and e.train is not None:
            by_train.setdefault(e.train, []).append(e)
    out = []
    for train, evs in sorted(by_train.items()):
        if len(evs) < MIN_POTENTIALS:
            continue
        rises = [e.rise_us for e in evs if e.rise_us is not None]
        out.append({"train": train, "n": len(evs),
                    "amplitude_uv": float(np.median([e.amplitude_uv for e in evs])),
                    "duration_ms": float(np.median([e.duration_ms for e in evs])),
                    "rise_us": float(np.median(rises)) if rises else float("nan")})
    return out


def record_report(path: Path) -> dict:
    rec = read_recording(path)
    a = analyze(rec.samples[:, 0], rec.fs, source=path.name)
    us = units(a.events)
    muaps = [e for e in a.events if e.kind == "muap"]
    # Clear motor unit firings, without annotations: potentials as large as only units get
    # (dsp.analysis.features.MUAP_MIN_AMPLITUDE_UV) in a voluntary contraction.
    clear = [e for e in a.events if e.amplitude_uv >= MUAP_MIN_AMPLITUDE_UV]
    mean_amp = float(np.mean([e.amplitude_uv for e in muaps])) if muaps else float("nan")
    minutes = a.duration_s / 60
    return {
        "record": path.stem, "duration_s": a.duration_s, "fs": a.fs,
        "rms_uv": a.summary["rms_uv"], "turns_per_s": a.summary["turns_per_s"],
        "muaps": len(muaps), "mean_muap_uv": mean_amp,
        "turns_per_s_per_mv_rms": a.summary["turns_per_s"] / (a.summary["rms_uv"] / 1000),
        "units": us,
        "median_unit_uv": float(np.median([u["amplitude_uv"] for u in us])) if us else None,
        "median_unit_ms": float(np.median([u["duration_ms"] for u in us])) if us else None,
        "counts": dict(a.summary["counts"]),
        "clear": len(clear), "clear_named_muap": sum(e.kind == "muap" for e in clear),
        "spontaneous": {k: a.summary["counts"].get(k, 0) for k in SPONTANEOUS},
        "spontaneous_per_min": sum(a.summary["counts"].get(k, 0) for k in SPONTANEOUS)
        / minutes,
        "segment_s": _segment_time(a),
    }


def _segment_time(a) -> dict:
    out: dict[str, float] = {}
    for s in a.segments:
        out[s.kind] = out.get(s.kind, 0.0) + s.end - s.start
    return out


def markdown(reports: list[dict], command: str) -> str:
    lines = ["# The analyser on real needle recordings", "",
             "PhysioNet \"Examples of Electromyograms\" (emgdb 1.0.0): concentric needle in "
             "tibialis anterior, gentle dorsiflexion then rest, 4 kHz, int16 at 0.1 uV. "
             "Open Data Commons Attribution License v1.0; Goldberger et al., Circulation "
             "101(23):e215-e220, 2000.", "",
             f"Produced by `{command}`.", "",
             "| record | s | RMS uV | turns/s | turns/s per mV RMS | MUAPs | units (>= 20 each) "
             "| median unit uV | median unit ms | fib/PSW/EPS calls | per minute |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in reports:
        sp = r["spontaneous"]
        calls = "/".join(str(sp[k]) for k in SPONTANEOUS)
        mu = f"{r['median_unit_uv']:.0f}" if r["median_unit_uv"] else "-"
        md = f"{r['median_unit_ms']:.1f}" if r["median_unit_ms"] else "-"
        lines.append(
            f"| {r['record']} | {r['duration_s']:.1f} | {r['rms_uv']:.0f} | "
            f"{r['turns_per_s']:.0f} | {r['turns_per_s_per_mv_rms']:.0f} | {r['muaps']} | "
            f"{len(r['units'])} | {mu} | {md} | {calls} | {r['spontaneous_per_min']:.1f} |")
    lines += ["", "Per unit (median over its potentials):", ""]
    for r in reports:
        cells = ", ".join(f"{u['amplitude_uv']:.0f} uV / {u['duration_ms']:.1f} ms / "
                          f"{u['rise_us']:.0f} us (n={u['n']})" for u in r["units"])
        lines.append(f"- {r['record']}: {cells or 'no unit tracked over 20 potentials'}")
    lines += ["", "Segments (seconds):", ""]
    for r in reports:
        segs = ", ".join(f"{k} {v:.1f}" for k, v in sorted(r["segment_s"].items()))
        lines.append(f"- {r['record']}: {segs or 'none'}")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.realdata")
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" /
                                         "data" / "physionet-emgdb"))
    p.add_argument("--out")
    args = p.parse_args(argv)
    data = Path(args.data)
    if not (data / "emg_healthy.hea").exists():
        print(f"python -m tools.realdata: no PhysioNet records in {data}: give --data",
              file=sys.stderr)
        return 2
    reports = [record_report(data / f"{name}.hea") for name in RECORDS]
    text = markdown(reports, "python -m tools.realdata" + (f" --out {args.out}"
                                                        if args.out else ""))
    if args.out:
        Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
