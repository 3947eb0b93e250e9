"""verify checks the schema (every protective trigger, table and index as the migrations
make them) and, given the head hash a printed note or a backup carries, whether the trail
still holds it: a trail edited with its entry and re-hashed from there on keeps a whole
chain, and only that head shows it."""

from __future__ import annotations

import json
import sqlite3

from app.commands import cli
from app.logbook import Logbook, audit, demo


def _triggers(path) -> dict[str, str]:
    con = sqlite3.connect(path)
    try:
        return dict(con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"))
    finally:
        con.close()


def test_dropped_triggers_are_each_named(tmp_path):
    path = tmp_path / "lb.db"
    with Logbook(path) as lb:
        demo.procedure(lb)
    triggers = _triggers(path)
    assert len(triggers) >= 21
    con = sqlite3.connect(path)
    for name in triggers:
        con.execute(f"DROP TRIGGER [{name}]")
    con.commit()
    con.close()
    with Logbook(path) as lb:
        rep = lb.verify()
    assert not rep["ok"]
    assert sorted(rep["problems"]) == sorted(f"schema: trigger {n} is missing"
                                             for n in triggers)


def test_a_weakened_trigger_and_an_added_one_are_named(tmp_path):
    path = tmp_path / "lb.db"
    with Logbook(path) as lb:
        demo.procedure(lb)
    con = sqlite3.connect(path)
    con.execute("DROP TRIGGER audit_no_update")
    con.execute("CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit WHEN 0 "
                "BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END")
    con.execute("CREATE TRIGGER helper AFTER INSERT ON audit BEGIN SELECT 1; END")
    con.commit()
    con.close()
    with Logbook(path) as lb:
        rep = lb.verify()
    assert rep["problems"] == ["schema: trigger audit_no_update differs from this "
                               "Needlepoint's", "schema: trigger helper is not this "
                               "Needlepoint's"]


def _rewrite_units_and_rehash(path, injection_id: str, units: float) -> None:
    """What a careful forger does: change the units and the audit entry that wrote them,
    re-hash the chain from there on, and put every trigger back as it was."""
    triggers = _triggers(path)
    con = sqlite3.connect(path)
    for name in triggers:
        con.execute(f"DROP TRIGGER [{name}]")
    con.execute("UPDATE injections SET units = ? WHERE id = ?", [units, injection_id])
    seq, new = con.execute("SELECT seq, new FROM audit WHERE tbl = 'injections' AND row_id = ?"
                           " AND action = 'insert'", [injection_id]).fetchone()
    con.execute("UPDATE audit SET new = ? WHERE seq = ?",
                [audit.canonical({**json.loads(new), "units": units}), seq])
    cur = con.execute("SELECT seq, id, at, user_id, action, tbl, row_id, old, new, reason, "
                      "prev_hash FROM audit WHERE seq >= ? ORDER BY seq", [seq])
    keys = [d[0] for d in cur.description]
    prev = con.execute("SELECT hash FROM audit WHERE seq < ? ORDER BY seq DESC LIMIT 1",
                       [seq]).fetchone()
    prev = prev[0] if prev else audit.GENESIS
    for values in cur.fetchall():
        e = dict(zip(keys, values, strict=True))
        h = audit.entry_hash(prev, e)
        con.execute("UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?",
                    [prev, h, e["seq"]])
        prev = h
    for sql in triggers.values():
        con.execute(sql)
    con.commit()
    con.close()


def test_a_rewritten_and_rehashed_trail_is_caught_by_the_head_on_paper(tmp_path, capsys):
    path = tmp_path / "lb.db"
    with Logbook(path) as lb:
        rec = demo.procedure(lb, sign=False)
        first = lb.procedure(rec["id"])["injections"][0]
        assert first["units"] != 40
        printed = lb.procedure(rec["id"])["audit_head"]["hash"]  # what the PDF note carries
    _rewrite_units_and_rehash(path, first["id"], 40.0)
    with Logbook(path) as lb:
        assert lb.procedure(rec["id"])["injections"][0]["units"] == 40
        rep = lb.verify()
        assert rep["ok"], rep["problems"]  # the chain, trail and schema all hold...
        rep = lb.verify((printed,))
    assert not rep["ok"]  # ...but the head on the paper is gone
    assert rep["problems"] == [f"head {printed} (from a note or a backup) is not in this "
                               "logbook's audit trail: the trail was rewritten or cut after it"]
    assert cli.main(["logbook", "verify", "--db", str(path), "--head", printed]) == 1
    out = capsys.readouterr().out
    assert f"head given: {printed} NOT IN THIS TRAIL" in out


def test_a_head_from_an_untouched_logbook_is_found(tmp_path, capsys):
    path = tmp_path / "lb.db"
    with Logbook(path) as lb:
        rec = demo.procedure(lb)
        printed = lb.procedure(rec["id"])["audit_head"]
        demo.procedure(lb)  # more entries after the note was printed
    assert cli.main(["logbook", "verify", "--db", str(path), "--head",
                     printed["hash"]]) == 0
    assert f"head given: {printed['hash']} is entry {printed['entries']}" in \
        capsys.readouterr().out
