"""One evaluation, three columns (issue 27): the analyser on the present simulator (`sim:`),
on the physiological generator (`physio:`, its reporting seeds) and the physiology checks on
the real PhysioNet records, side by side.

    .venv/bin/python -m tools.compare                      # -> docs/analyser-comparison.md
    .venv/bin/python -m tools.compare --quick              # 2 seeds each, small grids, stdout
    .venv/bin/python -m tools.compare --json after.json --before before.json

Per kind: F1, precision and recall pooled over each generator's grid, with the seed-to-seed
spread (the standard deviation of the per-seed figure, and its range); a confusion table
(true kind x given kind) per generator; `unclassified` is a miss for its true kind and never
a false positive (tools/scoring.py, rule 6). The real records have no per-potential truth:
their column is what the analyser calls in them per minute, and the physiology checks.

`--json FILE` keeps the figures; `--before FILE` (an earlier `--json`) adds a before/after
table and the verdict of the rules in docs/analyser.md ("Rules for changes").

One worker by default (`--jobs`): the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tools import evaluate
from tools.evaluate import Condition, Job, RunResult, Scenario, by, events_of
from tools.scoring import KIND_ORDER, UNCLASSIFIED, EventScore, ordered_kinds

DEFAULT_OUT = "docs/analyser-comparison.md"
SIM_SEEDS = (14001, 14002, 14003, 14004, 14005, 14006)  # the present generator's report set
PHYSIO_SEEDS = tuple(range(27001, 27011))  # set aside for reporting (docs/physio-generator.md)
PHYSIO_REPORT_RANGE = (27001, 27999)
FIGURES = ("f1", "precision", "recall")
SPONTANEOUS = ("fibrillation", "positive_sharp_wave", "end_plate_spike",
               "myotonic_discharge", "fasciculation")


# the grids -----------------------------------------------------------------------------------

def sim_grid(seeds) -> list[Job]:
    """The present generator: tools.evaluate's quick grid (8 scenarios, 4 conditions)."""
    return evaluate.grid(True, seeds)


def physio_scenarios(quick: bool) -> list[Scenario]:
    s = [Scenario("rest", "rest", "", 20, scheme="physio"),
         *(Scenario(f"denervated g{g}", "denervated", f"grade={g}", 20, scheme="physio")
           for g in ((2, 4) if quick else (1, 2, 3, 4))),
         Scenario("endplate", "endplate", "", 20, scheme="physio"),
         *(Scenario(f"voluntary {e}", "voluntary", f"effort={e}", 20, units=8, scheme="physio")
           for e in ((0.2,) if quick else (0.1, 0.2, 0.3))),
         Scenario("fasciculation", "fasciculation", "", 30, scheme="physio"),
         Scenario("myotonic", "myotonic", "", 20, scheme="physio"),
         Scenario("mixed", "mixed", "", 30, scheme="physio")]
    return s


def physio_conditions(quick: bool) -> list[Condition]:
    """Every rate of the issue (4, 10, 20, 48 kHz), each at 3 and 10 uV, hum on one of them
    in turn."""
    if quick:
        return [Condition(4000, 10, True), Condition(10000, 3, False),
                Condition(20000, 10, True), Condition(48000, 3, False)]
    return [Condition(4000, 3, False), Condition(4000, 10, True),
            Condition(10000, 3, True), Condition(10000, 10, False),
            Condition(20000, 3, False), Condition(20000, 10, True),
            Condition(48000, 3, True), Condition(48000, 10, False)]


def physio_grid(quick: bool, seeds) -> list[Job]:
    return [Job(s, c, seed) for seed in seeds for s in physio_scenarios(quick)
            for c in physio_conditions(quick)]


# figures ----------------------------------------------------------------------------------

def _value(score: EventScore, kind: str, figure: str) -> float:
    ks = score.kinds.get(kind)
    return math.nan if ks is None else float(getattr(ks, figure))


@dataclass
class Figure:
    """A figure pooled over the grid and its seed-to-seed spread."""

    pooled: float
    sd: float  # standard deviation of the per-seed values (nan with fewer than 2)
    lo: float
    hi: float
    n_truth: int

    def cell(self) -> str:
        if math.isnan(self.pooled):
            return "-"
        sd = "" if math.isnan(self.sd) else f" ± {self.sd:.3f}"
        return f"{self.pooled:.3f}{sd}"

    def as_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v)
                for k, v in vars(self).items()}


def figures(results: list[RunResult]) -> dict[str, dict[str, Figure]]:
    """Per kind, per figure (f1, precision, recall): pooled and across seeds."""
    pooled = events_of(results)
    per_seed = [events_of(rs) for rs in by(results, lambda r: r.job.seed).values()]
    kinds = ordered_kinds(k for k in pooled.kinds if k != UNCLASSIFIED)
    out: dict[str, dict[str, Figure]] = {}
    for k in kinds:
        out[k] = {}
        for f in FIGURES:
            vals = np.array([_value(s, k, f) for s in per_seed])
            vals = vals[~np.isnan(vals)]
            out[k][f] = Figure(_value(pooled, k, f),
                               float(vals.std(ddof=1)) if vals.size > 1 else math.nan,
                               float(vals.min()) if vals.size else math.nan,
                               float(vals.max()) if vals.size else math.nan,
                               pooled.kinds[k].n_truth)
    return out


# the real records ------------------------------------------------------------------------

@dataclass
class Check:
    text: str
    passed: bool
    detail: str


def real_column(data: Path) -> tuple[list[dict], list[Check]]:
    """Per record: calls per minute of each kind; and the physiology checks."""
    from tools import realdata

    reports = [realdata.record_report(data / f"{name}.hea") for name in realdata.RECORDS]
    by_name = {r["record"]: r for r in reports}
    checks = []
    for r in reports:
        spont = {k: r["counts"].get(k, 0) for k in SPONTANEOUS}
        checks.append(Check(f"{r['record']}: no spontaneous-activity or myotonic call "
                            "(voluntary activity, nothing of the kind labelled)",
                            sum(spont.values()) == 0,
                            ", ".join(f"{k} {n}" for k, n in spont.items() if n) or "none"))
        # Issue 28's target: of the clear unit firings (here: potentials of 450 uV and
        # more), 95 % named motor unit; unclassified potentials are no wrong word.
        total = sum(r["counts"].values())
        named = total - r["counts"].get(UNCLASSIFIED, 0)
        share = r["clear_named_muap"] / r["clear"] if r["clear"] else math.nan
        checks.append(Check(f"{r['record']}: at least 95 % of clear unit firings (450 uV "
                            "and more) named motor unit", share >= 0.95,
                            f"{share:.1%} of {r['clear']}; of all {total} potentials "
                            f"{r['counts'].get('muap', 0) / total:.1%} named motor unit, "
                            f"{named} given a word"))
    h, m, n = (by_name[k] for k in realdata.RECORDS)
    nu, hu = n["median_unit_uv"] or 0.0, h["median_unit_uv"] or 0.0
    nm, mm = n["median_unit_ms"] or 0.0, m["median_unit_ms"] or 0.0
    checks.append(Check("neuropathic units larger than healthy ones (median unit amplitude)",
                        nu > hu > 0, f"{nu:.0f} against {hu:.0f} uV"))
    checks.append(Check("neuropathic units longer than myopathic ones (median unit duration)",
                        nm > mm > 0, f"{nm:.1f} against {mm:.1f} ms"))
    checks.append(Check("turns per mV RMS: myopathy > healthy > neuropathy",
                        m["turns_per_s_per_mv_rms"] > h["turns_per_s_per_mv_rms"]
                        > n["turns_per_s_per_mv_rms"],
                        " > ".join(f"{r['turns_per_s_per_mv_rms']:.0f}" for r in (m, h, n))))
    return reports, checks


# the report ---------------------------------------------------------------------------------

def _table(headers: list[str], rows: list[list]) -> str:
    return evaluate.table(headers, rows)


def three_columns(sim: dict, phys: dict, real: list[dict]) -> str:
    kinds = [k for k in KIND_ORDER if k in sim or k in phys or
             any(r["counts"].get(k) for r in real)]
    rows = []
    for k in kinds:
        cells = [k]
        for fig in (sim, phys):
            for f in FIGURES:
                cells.append(fig[k][f].cell() if k in fig else "")
            cells.append(fig[k]["f1"].n_truth if k in fig else "")
        cells.append(" / ".join(f"{r['counts'].get(k, 0) / (r['duration_s'] / 60):.1f}"
                                for r in real))
        rows.append(cells)
    head = ["kind"] + [f"{g} {f}" for g in ("sim:", "physio:") for f in (*FIGURES, "truth")]
    head.append("real records: calls/min (healthy / myopathy / neuropathy)")
    return _table(head, rows)


def confusion(score: EventScore) -> str:
    return evaluate.confusion_table(score)


def main_confusions(score: EventScore, n: int = 8) -> str:
    """The largest off-diagonal cells (true kind named as another, or missed)."""
    cells = []
    for t, row in score.confusion.items():
        for given, count in row.items():
            if t != given:
                cells.append((count, t, given))
    cells.sort(reverse=True)
    return "\n".join(f"- {t} -> {g}: {c}" for c, t, g in cells[:n])


def per_seed_table(results: list[RunResult]) -> str:
    groups = {s: events_of(rs) for s, rs in by(results, lambda r: r.job.seed).items()}
    kinds = ordered_kinds(k for s in groups.values() for k in s.kinds)
    rows = [[seed, *(_fmt(_value(s, k, "f1")) for k in kinds)] for seed, s in groups.items()]
    return _table(["seed", *(f"F1 {k}" for k in kinds)], rows)


def _fmt(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.3f}"


def before_after(before: dict, after: dict) -> str:
    """The rules' table: each kind's figures before and after on both generators, the change
    against the larger of the two seed spreads, and the real records' checks."""
    rows = []
    for gen in ("physio", "sim"):
        for k in ordered_kinds(set(before[gen]) | set(after[gen])):
            for f in FIGURES:
                b, a = before[gen].get(k, {}).get(f), after[gen].get(k, {}).get(f)
                if not b or not a or b["pooled"] is None or a["pooled"] is None:
                    continue
                spread = max(b["sd"] or 0.0, a["sd"] or 0.0)
                d = a["pooled"] - b["pooled"]
                word = ("better" if d > spread else "worse" if d < -spread else "within spread")
                rows.append([gen, k, f, f"{b['pooled']:.3f}", f"{a['pooled']:.3f}",
                             f"{d:+.3f}", f"{spread:.3f}", word])
    real_b = {c["text"]: c["passed"] for c in before["real_checks"]}
    real_a = {c["text"]: c["passed"] for c in after["real_checks"]}
    lost = [t for t, ok in real_b.items() if ok and not real_a.get(t, False)]
    gained = [t for t, ok in real_a.items() if ok and not real_b.get(t, False)]
    verdict = verdict_of(before, after)
    return "\n".join([
        _table(["generator", "kind", "figure", "before", "after", "change", "spread", ""],
               rows), "",
        f"Real records: checks lost {len(lost)}{': ' + '; '.join(lost) if lost else ''}, "
        f"gained {len(gained)}{': ' + '; '.join(gained) if gained else ''}.", "",
        f"**Verdict by the rules of docs/analyser.md: {verdict}**"])


def verdict_of(before: dict, after: dict) -> str:
    """Keep: some F1 on physio better by more than its spread, no F1 on sim worse by more
    than its spread, no real-record check lost."""
    def moves(gen: str) -> list[float]:
        out = []
        for k, b in before[gen].items():
            a = after[gen].get(k)
            if a and b["f1"]["pooled"] is not None and a["f1"]["pooled"] is not None:
                spread = max(b["f1"]["sd"] or 0.0, a["f1"]["sd"] or 0.0)
                out.append((a["f1"]["pooled"] - b["f1"]["pooled"]) / spread
                           if spread else math.copysign(math.inf, a["f1"]["pooled"]
                                                        - b["f1"]["pooled"]))
        return out
    up = any(m > 1 for m in moves("physio"))
    down_p = any(m < -1 for m in moves("physio"))
    down_s = any(m < -1 for m in moves("sim"))
    real_ok = all(c["passed"] for c in after["real_checks"]
                  if any(b["text"] == c["text"] and b["passed"] for b in before["real_checks"]))
    if up and not down_s and not down_p and real_ok:
        return "KEEP"
    why = [w for w, bad in (("no physio F1 better by more than its spread", not up),
                            ("a physio F1 worse by more than its spread", down_p),
                            ("a sim: F1 worse by more than its spread", down_s),
                            ("a real-record check lost", not real_ok)) if bad]
    return "DO NOT KEEP (" + "; ".join(why) + ")"


def report(sim_results, phys_results, real, checks, info: dict) -> str:
    sim_fig, phys_fig = figures(sim_results), figures(phys_results)
    sim_all, phys_all = events_of(sim_results), events_of(phys_results)
    sims = ", ".join(map(str, info["sim_seeds"]))
    phys = ", ".join(map(str, info["physio_seeds"]))
    reporting = all(PHYSIO_REPORT_RANGE[0] <= s <= PHYSIO_REPORT_RANGE[1]
                    for s in info["physio_seeds"])
    lines = [
        "# The analyser on two generators and on real records",
        "",
        f"Made with `{info['command']}` at commit {info['commit']} on "
        f"{time.strftime('%Y-%m-%d')}, in {info['elapsed_s']:.0f} s.",
        "",
        f"- **sim:** the present simulator (devices/simulator), tools.evaluate's quick grid "
        f"({len(evaluate.scenarios(True))} scenarios x "
        f"{'; '.join(c.label for c in evaluate.conditions(True))}), seeds {sims}: "
        f"{len(sim_results)} runs, {evaluate.minutes(sim_results):.0f} min.",
        f"- **physio:** the physiological generator (devices/physio, "
        f"[physio-generator.md](physio-generator.md)), {len(physio_scenarios(info['quick']))} "
        f"scenarios x {'; '.join(c.label for c in physio_conditions(info['quick']))}, seeds "
        f"{phys} ({'the reporting seeds' if reporting else '**not the reporting seeds**'}): "
        f"{len(phys_results)} runs, {evaluate.minutes(phys_results):.0f} min.",
        "- **real records:** PhysioNet emgdb (tools/realdata.py): voluntary activity with no "
        "labelled spontaneous activity; no per-potential truth, so calls per minute and "
        "the physiology checks below.",
        "",
        "Scoring as tools/evaluate.py (tools/scoring.py): F1 counts potentials of at least "
        "5 x the noise RMS; `unclassified` is a miss for its true kind and never a false "
        "positive. Figures are pooled over the grid; ± is the standard deviation of the "
        "per-seed figure (each seed's runs pooled), the seed-to-seed spread a change must "
        "beat (docs/analyser.md, Rules for changes).",
        "",
        "## Per kind, side by side",
        "",
        three_columns(sim_fig, phys_fig, real),
        "",
        "Seed ranges (min-max of the per-seed F1):",
        "",
        *(f"- {g} {k}: {v['f1'].lo:.3f}-{v['f1'].hi:.3f}"
          for g, fig in (("sim:", sim_fig), ("physio:", phys_fig)) for k, v in fig.items()
          if not math.isnan(v["f1"].lo)),
        "",
        "## Physiology checks on the real records",
        "",
        *(f"- {'PASS' if c.passed else 'FAIL'} {c.text}: {c.detail}" for c in checks),
        "",
        "## Confusion: sim: (true kind x given kind)",
        "",
        confusion(sim_all),
        "",
        main_confusions(sim_all),
        "",
        "## Confusion: physio: (true kind x given kind)",
        "",
        confusion(phys_all),
        "",
        main_confusions(phys_all),
        "",
        "## The classifier's rules: what each named (true kinds, matched by time)",
        "",
        "sim:",
        "",
        evaluate.rules_table(sim_results),
        "",
        "physio:",
        "",
        evaluate.rules_table(phys_results),
        "",
        "## physio: F1 by scenario (scored truth in brackets)",
        "",
        evaluate.slice_table(phys_results, lambda r: r.job.scenario.label, "scenario"),
        "",
        "## physio: F1 by rate",
        "",
        evaluate.slice_table(phys_results, lambda r: f"{r.job.condition.fs / 1000:g} kHz",
                             "rate"),
        "",
        "## physio: by scenario, counts",
        "",
        evaluate.scenario_table(phys_results),
        "",
        "## physio: recall by amplitude (found by any kind; truth count in brackets)",
        "",
        evaluate.bins_table(phys_all, right_kind=False),
        "",
        "## Per seed: sim:",
        "",
        per_seed_table(sim_results),
        "",
        "## Per seed: physio:",
        "",
        per_seed_table(phys_results),
        *info.get("extra", []),
        ""]
    return "\n".join(lines)


def as_json(sim_results, phys_results, checks, info) -> dict:
    return {"info": {k: v for k, v in info.items() if k != "extra"},
            "sim": {k: {f: fig.as_dict() for f, fig in v.items()}
                    for k, v in figures(sim_results).items()},
            "physio": {k: {f: fig.as_dict() for f, fig in v.items()}
                       for k, v in figures(phys_results).items()},
            "real_checks": [vars(c) for c in checks]}


# command line ----------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tools.compare", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="2 seeds each and smaller grids; the report goes to stdout")
    p.add_argument("--sim-seeds", type=evaluate.seed_list, help="default 14001-14006")
    p.add_argument("--physio-seeds", type=evaluate.seed_list,
                   help="default 27001-27010, the reporting seeds")
    p.add_argument("--out", help=f"markdown report (default {DEFAULT_OUT}; stdout with "
                   "--quick)")
    p.add_argument("--json", help="write the figures here, for a later --before")
    p.add_argument("--before", help="an earlier --json: add the before/after table")
    p.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" /
                                         "data" / "physionet-emgdb"))
    return p


def _progress(name: str) -> Callable[[int, int], None]:
    def say(done: int, n: int) -> None:
        if done == n or done % max(1, n // 10) == 0:
            print(f"tools.compare: {name} {done}/{n} runs", file=sys.stderr, flush=True)
    return say


def main(argv: list[str] | None = None, analyze=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    analyze = analyze or evaluate.load_analyser()
    if analyze is None:
        return 2
    data = Path(args.data)
    if not (data / "emg_healthy.hea").exists():
        print(f"tools.compare: no PhysioNet records in {data}: give --data", file=sys.stderr)
        return 2
    sim_seeds = args.sim_seeds or (SIM_SEEDS[:2] if args.quick else SIM_SEEDS)
    phys_seeds = args.physio_seeds or (PHYSIO_SEEDS[:2] if args.quick else PHYSIO_SEEDS)
    t0 = time.perf_counter()
    commit = evaluate.commit_id()  # what ran: the commit at the start
    sim_results = evaluate.run_all(sim_grid(sim_seeds), analyze, args.jobs,
                                   _progress("sim:"))
    phys_results = evaluate.run_all(physio_grid(args.quick, phys_seeds), analyze, args.jobs,
                                    _progress("physio:"))
    real, checks = real_column(data)
    info = {"command": shlex.join([".venv/bin/python", "-m", "tools.compare", *argv]),
            "commit": commit, "elapsed_s": time.perf_counter() - t0,
            "sim_seeds": list(sim_seeds), "physio_seeds": list(phys_seeds),
            "quick": args.quick, "extra": []}
    figs = as_json(sim_results, phys_results, checks, info)
    if args.before:
        before = json.loads(Path(args.before).read_text())
        info["extra"] = ["", "## Before and after", "", before_after(before, figs)]
    if args.json:
        Path(args.json).write_text(json.dumps(figs, indent=1))
    text = report(sim_results, phys_results, real, checks, info)
    out = args.out or (None if args.quick else DEFAULT_OUT)
    if out:
        Path(out).write_text(text)
        print(f"tools.compare: wrote {out}", file=sys.stderr)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
