"""`needlepoint analyze FILE`: the live analyser run over a recording, as words or JSON."""

from __future__ import annotations

import argparse
import json
from collections import Counter

from app.commands.errors import UsageError
from app.session.activity import MIN_TRAIN_COUNT, rate_words
from devices.formats import READABLE, read_recording
from dsp.analysis.results import Analysis

RATES_LISTED = 6  # trains named with their rates in the summary; more are counted
WORDS = {
    "fibrillation": "Fibrillations", "positive_sharp_wave": "Positive sharp waves",
    "end_plate_spike": "End-plate spikes", "fasciculation": "Fasciculations",
    "muap": "Motor unit potentials", "myotonic_discharge": "Myotonic discharges",
    "unclassified": "Potentials not named (the evidence does not settle their kind)",
    "end_plate_noise": "End-plate noise", "insertional_activity": "Insertional activity",
    "local_twitch_response": "Local twitch responses", "tonic_activity": "Tonic activity",
    "lead_off": "Lead off",
}


def add_parser(sub) -> None:
    p = sub.add_parser("analyze", help="offline analysis of a recording",
                       description="Name the spontaneous activity in a recording: "
                       "potentials, trains, segments and a summary.")
    p.add_argument("file", help=f"a recording ({', '.join(READABLE)})")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--channel", type=int, default=0, help="which channel (default 0)")
    p.add_argument("--mains", type=int, choices=(50, 60),
                   help="cancel mains hum at this frequency (off by default)")
    p.add_argument("--uv-fs", type=float, dest="uv_fs",
                   help="microvolts at full scale, for a WAV file that does not say")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dsp.chain import analyze  # the filters and the analyser: scipy, when asked for

    rec = read_recording(args.file, uv_full_scale=args.uv_fs)
    if not 0 <= args.channel < rec.channels:
        raise UsageError(f"--channel {args.channel}: {args.file} has channels 0 to "
                         f"{rec.channels - 1}")
    result = analyze(rec.samples[:, args.channel], rec.fs, source=args.file,
                     channel=args.channel, mains_hz=args.mains,
                     step_uv=rec.step_uv[args.channel] if rec.step_uv else None)
    if args.json:
        print(json.dumps(as_design_json(result)))
    else:
        print(readable(result, calibrated=rec.calibrated))
    return 0


def as_design_json(a: Analysis) -> dict:
    """Exactly the keys DESIGN.md documents for `analyze --json`."""
    d = a.as_json()
    keep = ("t", "kind", "amplitude_uv", "duration_ms", "train")
    d["events"] = [{k: e[k] for k in keep} for e in d["events"]]
    return d


def readable(a: Analysis, calibrated: bool = True) -> str:
    s = a.summary
    unit = "uV" if calibrated else "uV (UNCALIBRATED scale)"
    lines = [f"{a.source}: {a.duration_s:.1f} s at {a.fs:g} Hz, channel {a.channel}",
             f"RMS {s['rms_uv']:.1f} {unit}, {s['turns_per_s']:.0f} turns/s, "
             f"noise {s['noise_uv']} uV RMS" if s.get("noise_uv") is not None else
             f"RMS {s['rms_uv']:.1f} {unit}, {s['turns_per_s']:.0f} turns/s"]
    lead = [g for g in a.segments if g.kind == "lead_off"]
    if lead:
        lines.append(f"LEAD OFF or poor contact for {sum(g.end - g.start for g in lead):.1f} s:"
                     " not analysed there")
    if s.get("clipped_s"):
        lines.append(f"Clipped for {s['clipped_s']:.2f} s: {s['clipped_potentials']} "
                     "potentials there not reported")
    if not a.events:
        lines.append("No potentials found.")
    for kind, n in Counter(e.kind for e in a.events).most_common():
        trains = [t.as_json() for t in a.trains if t.kind == kind
                  and t.count >= MIN_TRAIN_COUNT]
        train_words = (f"; {len(trains)} train{'s' * (len(trains) != 1)}, "
                       f"{rate_words(trains, RATES_LISTED)}" if trains else "")
        lines.append(f"{WORDS[kind]}: {n}{train_words}")
    for kind in ("end_plate_noise", "insertional_activity", "local_twitch_response",
                 "tonic_activity"):
        segs = [g for g in a.segments if g.kind == kind]
        if segs:
            total = sum(g.end - g.start for g in segs)
            lines.append(f"{WORDS[kind]}: {len(segs)} time{'s' * (len(segs) != 1)}, "
                         f"{total:.1f} s in all ({100 * total / a.duration_s:.0f} %)")
    return "\n".join(lines)
