"""`needlepoint bench dsp|serial|audio|e2e|ui|live|logbook|sync`: one subcommand per
benchmark, each defined beside its measurement in app/bench/. Figures come from one run on
this machine; targets are reported, never asserted."""

from __future__ import annotations

from app.bench import audio, dsp, e2e, live, logbook, serial, sync, ui

BENCHES = (dsp, serial, audio, e2e, ui, live, logbook, sync)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "bench", help="the benchmarks: dsp, serial, audio, e2e, ui, live, logbook, sync",
        description="Benchmarks of the app's parts. Figures come from one run on this "
        "machine; targets are reported, not asserted.",
    )
    names = ["dsp", "serial", "audio", "e2e", "ui", "live", "logbook", "sync"]
    kinds = p.add_subparsers(dest="bench", metavar="{" + ",".join(names) + "}")
    kinds.required = True
    for bench in BENCHES:
        bench.add_parser(kinds)
