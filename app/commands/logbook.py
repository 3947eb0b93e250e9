"""`needlepoint logbook ...`: record-keeping jobs from the command line.

    needlepoint logbook demo [--unsigned] [--no-snippets]   a demo patient and procedure
    needlepoint logbook list [--mrn MRN] [--json]
    needlepoint logbook show ID [--json]                     (an id prefix is enough)
    needlepoint logbook export --format csv|fhir|edf|pdf --out DIR [--procedure ID]
                               [--pseudonymise (csv)] [--mrn-system URI (fhir)]
    needlepoint logbook backup --out FILE
    needlepoint logbook restore FILE
    needlepoint logbook verify [--json] [--head HASH]
    needlepoint logbook catalogue [--json]

Every subcommand takes --db PATH (default: home()/logbook.db). list, show, lot, verify and
export open it read-only and never write it. Every failure is one line, never a traceback.
Nothing here prints patient data except `list`, `show` and the exports, which exist to
show it. Text for a person (`list`, `show`, `lot`) gives times in the local zone with its
offset, as the screens do (app.logbook.localtime); `--json` and the exports keep UTC.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

FORMATS = ("csv", "fhir", "edf", "pdf")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "logbook", help="procedure records: demo, list, show, lot, export, backup, restore, "
        "verify",
        description="The procedure logbook (SQLite). Every subcommand takes --db PATH; the "
        "default is logbook.db under NEEDLEPOINT_HOME (~/.local/share/needlepoint).")
    jobs = p.add_subparsers(dest="job", metavar="{demo,list,show,lot,export,backup,restore,"
                            "verify,catalogue}")
    jobs.required = True
    db = argparse.ArgumentParser(add_help=False)
    db.add_argument("--db", metavar="PATH", help="the logbook file (default: "
                    "$NEEDLEPOINT_HOME/logbook.db)")

    d = jobs.add_parser("demo", parents=[db], help="add a demo patient and a botulinum "
                        "procedure with simulated EMG snippets")
    d.add_argument("--unsigned", action="store_true", help="leave the procedure unsigned")
    d.add_argument("--no-snippets", action="store_true", help="log the injections without EMG")
    d.set_defaults(func=run_demo)

    ls = jobs.add_parser("list", parents=[db], help="procedures, newest first")
    ls.add_argument("--mrn", help="only this patient's")
    ls.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=run_list)

    s = jobs.add_parser("show", parents=[db], help="one procedure as it now reads")
    s.add_argument("id", help="procedure id (a unique prefix is enough)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=run_show)

    e = jobs.add_parser("export", parents=[db], help="procedures as CSV, FHIR R4 Bundles, "
                        "EDF+ snippets or PDF notes")
    e.add_argument("--format", required=True, choices=FORMATS)
    e.add_argument("--out", required=True, metavar="DIR")
    e.add_argument("--procedure", metavar="ID", help="only this procedure (default: all)")
    e.add_argument("--mrn-system", metavar="URI", help="fhir only: the system the MRNs "
                   "belong to (default: clinic_policy.fhir_mrn_system in the clinic's "
                   "products.json)")
    e.add_argument("--pseudonymise", action="store_true", help="csv only: leave out the "
                   "MRN, names and birth date (export-notes.txt beside the CSV names what "
                   "was left out and what free text is kept)")
    e.set_defaults(func=run_export)

    lot = jobs.add_parser("lot", parents=[db], help="lot recall: every patient and injection "
                          "that received a lot (matched trimmed, any case)")
    lot.add_argument("lot", help="the lot number, as on the vial")
    lot.add_argument("--json", action="store_true")
    lot.set_defaults(func=run_lot)

    b = jobs.add_parser("backup", parents=[db], help="a verified copy (SQLite online backup)")
    b.add_argument("--out", required=True, metavar="FILE")
    b.set_defaults(func=run_backup)

    r = jobs.add_parser("restore", parents=[db], help="replace the logbook with a backup "
                        "that passes verify (the current one is kept aside)")
    r.add_argument("file", metavar="FILE")
    r.set_defaults(func=run_restore)

    v = jobs.add_parser("verify", parents=[db], help="integrity check, schema and triggers, "
                        "audit chain, trail against tables, snippet hashes")
    v.add_argument("--json", action="store_true")
    v.add_argument("--head", action="append", default=[], metavar="HASH",
                   help="a head hash printed on a procedure note or carried by a backup: "
                   "is it still in this logbook's audit trail? (repeatable)")
    v.set_defaults(func=run_verify)

    c = jobs.add_parser("catalogue", help="the product and muscle catalogues in use")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=run_catalogue)


def _open(args, create: bool = False, readonly: bool = False, any_schema: bool = False):
    """The logbook; `readonly` for the jobs that only read (list, show, lot, verify,
    export): nothing is written, not even on opening, and read-only media work."""
    from app.commands.errors import UsageError
    from app.logbook import Logbook, LogbookError

    try:
        return Logbook(args.db, create=create, readonly=readonly, any_schema=any_schema)
    except LogbookError as e:
        raise UsageError(str(e)) from None


def _guard(fn):
    """LogbookError -> UsageError: one clear line and exit 2; and so for a file system's or
    SQLite's own error (read-only media, a full disk): one line, never a traceback."""
    def run(args: argparse.Namespace) -> int:
        import sqlite3

        from app.commands.errors import UsageError
        from app.logbook import LogbookError

        try:
            return fn(args)
        except LogbookError as e:
            raise UsageError(f"logbook {args.job}: {e}") from None
        except BrokenPipeError:
            raise  # the reader went away: the command line's own quiet exit
        except OSError as e:
            where = f" ({e.filename})" if e.filename else ""
            raise UsageError(f"logbook {args.job}: {e.strerror or e}{where}") from None
        except sqlite3.Error as e:
            raise UsageError(f"logbook {args.job}: the logbook could not be read or "
                             f"written ({e})") from None
    run.__doc__ = fn.__doc__
    return run


@_guard
def run_demo(args) -> int:
    from app.logbook import demo

    with _open(args, create=True) as lb:
        rec = demo.procedure(lb, sign=not args.unsigned, snippets=not args.no_snippets)
        print(f"demo procedure {rec['id']} in {lb.path}: {len(rec['injections'])} injections"
              f"{' with EMG snippets' if not args.no_snippets else ''}, "
              f"{'signed' if rec['signed_at'] else 'not signed'}")
    return 0


@_guard
def run_list(args) -> int:
    with _open(args, readonly=True) as lb:
        pid = None
        if args.mrn:
            patient = lb.find_patient(args.mrn)
            if patient is None:
                from app.logbook import LogbookError

                raise LogbookError("no patient with that MRN")
            pid = patient["id"]
        rows = lb.procedures(pid, limit=args.limit)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    from app.logbook import localtime

    table = [("ID", "STARTED", "MRN", "KIND", "INJ", "SIGNED", "AMEND")]
    for r in rows:
        table.append((r["id"][:8], localtime.date_time(r["started_at"]), r["mrn"], r["kind"],
                      str(r["injections"]), "yes" if r["signed_at"] else "no",
                      str(r["amendments"] or "")))
    _print_table(table)
    if not rows:
        print("(no procedures)")
    return 0


@_guard
def run_show(args) -> int:
    with _open(args, readonly=True) as lb:
        rec = lb.find_procedure(args.id)
        users = {u["id"]: u for u in lb.users()}
    if args.json:
        print(json.dumps(rec, indent=2))
        return 0
    print(format_record(rec, users))
    return 0


@_guard
def run_lot(args) -> int:
    from app.logbook import recall

    with _open(args, readonly=True) as lb:
        found = lb.lot_recall(args.lot)
    print(json.dumps(found, indent=2) if args.json else recall.text(found))
    return 0


@_guard
def run_export(args) -> int:
    out = Path(args.out)
    if args.pseudonymise and args.format != "csv":
        from app.commands.errors import UsageError

        raise UsageError("logbook export: --pseudonymise is for --format csv only")
    notes: list[str] = []
    with _open(args, readonly=True) as lb:
        if args.procedure:
            records = [lb.find_procedure(args.procedure)]
        else:
            records = [lb.procedure(r["id"]) for r in reversed(lb.procedures())]
        users = {u["id"]: u for u in lb.users()}
        if args.format == "csv":
            from app.logbook import export_csv

            files = export_csv.export(records, out, users, pseudonymise=args.pseudonymise)
        elif args.format == "fhir":
            from app.logbook import export_fhir

            mrn_system = args.mrn_system or export_fhir.clinic_mrn_system()
            files = export_fhir.export(records, out, users, mrn_system)
            if not mrn_system:
                notes.append("note: the MRN has no system (set clinic_policy.fhir_mrn_system "
                             "in the clinic's products.json, or give --mrn-system URI)")
        elif args.format == "edf":
            from app.logbook import export_edf

            files = export_edf.export(lb, records, out)
        else:
            from app.logbook import note_pdf

            files = note_pdf.export(records, out, users)
    from app.logbook import outdir

    where = files[0].parent if files else out
    exposed = outdir.exposure(files)
    print(f"{len(files)} {args.format} file(s) for {len(records)} procedure(s) in {where}"
          + ("" if exposed else " (owner-only)") if files else f"no {args.format} file "
          f"for {len(records)} procedure(s): nothing to export")
    if args.pseudonymise:
        from app.logbook import export_csv

        print(f"pseudonymised: left out {', '.join(export_csv.DROPPED)}; free text kept as "
              f"typed ({', '.join(export_csv.FREE_TEXT)}): see export-notes.txt")
    for note in [*notes, exposed]:
        if note:
            print(note)
    return 0


@_guard
def run_backup(args) -> int:
    from app.logbook import backup, default_path

    rep = backup.backup(args.db or default_path(), args.out)
    print(f"backup {rep['backup']}: {rep['bytes']} bytes, verified "
          f"({rep['audit_entries']} audit entries, head {rep['head'][:16]})")
    return 0


@_guard
def run_restore(args) -> int:
    from app.logbook import backup, default_path

    rep = backup.restore(args.file, args.db or default_path())
    kept = rep["previous_kept_as"]
    print(f"restored {rep['restored']} from {rep['from']}; verify "
          f"{'passed' if rep['ok'] else 'FAILED'}"
          + (f"; the previous logbook is kept as {kept}" if kept else ""))
    return 0 if rep["ok"] else 1


@_guard
def run_verify(args) -> int:
    with _open(args, readonly=True, any_schema=True) as lb:
        rep = lb.verify(tuple(args.head))
    if args.json:
        print(json.dumps(rep, indent=2))
    else:
        print(format_verify(rep, Path(lb.path)))
    return 0 if rep["ok"] else 1


def run_catalogue(args) -> int:
    from app.commands.errors import UsageError
    from app.logbook import LogbookError, catalogue

    try:
        cat = catalogue.default()
    except LogbookError as e:
        raise UsageError(f"logbook catalogue: {e}") from None
    if args.json:
        print(json.dumps({"files": cat.files, "toxins": cat.toxins,
                          "anaesthetics": cat.anaesthetics, "clinic_policy": cat.policy,
                          "muscles": cat.muscles}, indent=2))
        return 0
    print(f"products: {cat.files['products']}\nmuscles:  {cat.files['muscles']}")
    for key, t in cat.toxins.items():
        print(f"  {key} ({'/'.join(t.get('brands', []))}): {len(t.get('limits', []))} label "
              f"limits, vials {t.get('vial_units')} U")
    for key, a in cat.anaesthetics.items():
        print(f"  {key}: max {a.get('mg_per_kg_max')} mg/kg, {a.get('mg_max')} mg")
    by_region: dict[str, int] = {}
    for m in cat.muscles.values():
        by_region[m["region"]] = by_region.get(m["region"], 0) + 1
    print("  muscles: " + ", ".join(f"{r} {n}" for r, n in by_region.items()))
    print("Verify every figure against the current label; edit a copy in "
          "$NEEDLEPOINT_HOME/assets/, not the shipped file.")
    return 0


# formatting -------------------------------------------------------------------------------

def format_verify(rep: dict, path: Path) -> str:
    if not rep.get("counts"):
        return f"{path}: FAILED\n" + "\n".join(f"  {p}" for p in rep["problems"])
    counts = ", ".join(f"{v} {k}" for k, v in rep["counts"].items() if v)
    lines = [f"{path}: {'OK' if rep['ok'] else 'FAILED'}",
             f"  integrity check: {'ok' if rep['integrity'] else 'FAILED'}; schema "
             f"{', '.join(rep['schema'])}",
             f"  audit trail: {rep['audit_entries']} entries, head {rep['head']}",
             *[f"  head given: {h} " + (f"is entry {seq}" if seq else "NOT IN THIS TRAIL")
               for h, seq in rep.get("heads_given", {}).items()],
             *[f"  pulled from {tablet}: {p['entries']} entries, head {p['head']}"
               for tablet, p in rep.get("pulled", {}).items()],
             f"  snippets checked against their hashes: {rep['snippets_checked']}",
             f"  rows: {counts or 'none'}"]
    lines += [f"  problem: {p}" for p in rep["problems"]]
    return "\n".join(lines)


def format_record(r: dict, users: dict) -> str:
    """The record as text for a person: times local with their zone, as on the screens
    (`--json` keeps the stored UTC)."""
    from app.logbook import localtime, scales, wording

    def who(uid):
        return (users.get(uid) or {}).get("name", uid[:8] if uid else "-")

    p = r["patient"]
    lines = [f"procedure {r['id']}  {r['kind']}  {r.get('indication') or ''}",
             f"patient   {p['family_name']}, {p.get('given_name') or ''}  MRN {p['mrn']}  "
             f"born {p.get('birth_date') or '?'}  weight {r.get('weight_kg') or '?'} kg",
             f"staff     physician {who(r.get('physician_id'))}, nurse {who(r.get('nurse_id'))}",
             f"time      {localtime.date_time(r['started_at'], seconds=True)} to "
             f"{localtime.date_time(r.get('ended_at'), seconds=True, missing='(open)')}",
             f"time-out  identity {_yn(r['timeout_identity'])}, consent "
             f"{_yn(r['timeout_consent'])}, side {_yn(r['timeout_side'])}",
             f"pain NRS  before {_v(r.get('pain_before'))}, after {_v(r.get('pain_after'))}",
             f"billing   {' '.join(r['billing_codes']) or '-'}"]
    for v in r["vials"]:
        lines.append(f"vial      {v['product']} {_v(v.get('vial_units'))} U lot "
                     f"{v.get('lot') or '?'} exp {v.get('expiry') or '?'} in "
                     f"{_v(v.get('volume_ml'))} mL, prepared "
                     f"{localtime.date_time(v.get('reconstituted_at'), missing='?')}")
    for i in r["injections"]:
        dose = (f"{i['units']:g} U" if i["units"] is not None else
                f"{i['dose_mg']:g} mg" if i["dose_mg"] is not None else "-")
        flags = (" VOIDED" if i["voided"] else "") + (" amended" if i.get("amended") else "")
        lines.append(f"  {i['seq']:>3} {localtime.time_of_day(i['at'], seconds=True)} "
                     f"{i.get('side') or '':<6} "
                     f"{i.get('muscle') or '?':<28} site {i.get('site') or '?'} {dose:>8} "
                     f"{'EMG' if i['has_snippet'] else '   '}{flags}")
        if i.get("emg_source"):  # never let simulated or replayed EMG pass for a patient's
            lines.append(f"          EMG: {i['emg_source']['label']}")
    for key, t in r["totals"].items():
        amount = f"{t['dose_mg']:g} mg" if t["dose_mg"] else f"{t['units']:g} U"
        lines.append(f"total     {key}: {amount} ({t['injections']} injections)")
    for w in r["dose_warnings"]:
        state = (f"overridden by {who(w['override_by'])}: {w['override_reason']}"
                 if w["override_reason"] else "NOT OVERRIDDEN")
        lines.append(f"warning   {w['message']} [{state}]")
    lines += [f"observed  {t}" for t in scales.lines(r.get("observations", []))]
    for a in r["amendments"]:
        changes = "; ".join(wording.change(k, c["old"], c["new"], users, local=True)
                            for k, c in a["changes"].items())
        lines.append(f"amended   {localtime.date_time(a['at'])} by {who(a['by'])}: {a['tbl']} "
                     f"{a['row_id'][:8]} {changes} ({a['reason']})")
    lines.append(f"signed    {localtime.date_time(r['signed_at'], seconds=True)} by "
                 f"{who(r.get('signed_by'))}"
                 if r.get("signed_at") else "signed    NOT SIGNED")
    return "\n".join(lines)


def _print_table(rows) -> None:
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())


def _yn(v) -> str:
    return "-" if v is None else ("yes" if v else "no")


def _v(v) -> str:
    return "-" if v is None else f"{v:g}"
