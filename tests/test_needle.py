"""The needle, asked once per procedure: the kind's default from assets/needles.json,
carried onto every injection logged after it, changed for this injection and the next
ones, and on the note's injection lines."""

from __future__ import annotations

import json

import pytest

from app.logbook import LogbookError, note_pdf
from app.workflow import needle
from app.workflow.procedure import ProcedureFlow


def _started(lb, staff, kind="botulinum"):
    doc, nurse = (u["id"] for u in staff)
    flow = ProcedureFlow(lb)
    flow.patient = lb.add_patient({"mrn": "N1", "family_name": "Ngata",
                                   "birth_date": "1966-06-06"}, by=nurse)
    proc, msgs = flow.start({"kind": kind, "indication": "x", "physician_id": doc,
                             "pain_before": "5", "timeout_identity": 1,
                             "timeout_consent": 1, "timeout_side": 1}, nurse)
    assert proc and not msgs, msgs
    return flow, nurse


def test_each_injection_carries_the_procedures_needle(lb, staff):
    flow, nurse = _started(lb, staff)
    assert flow.needle == {"gauge": 27, "length_mm": 37}  # the botulinum default
    first = flow.new_entry(nurse)
    # a deep muscle: a longer needle for this injection and the ones after it
    assert flow.set_needle(first, nurse, length_mm=50.0) == ""
    second = flow.new_entry(nurse)
    got = [(r["needle_gauge"], r["needle_length_mm"]) for r in
           (lb.row("injections", e.injection_id) for e in (first, second))]
    assert got == [(27, 50.0), (27, 50.0)]
    assert needle.text(flow.needle) == "27G x 50 mm"
    # the note says which needle went in (it printed "?G - mm" when none was asked)
    rec = lb.procedure(flow.procedure["id"])
    lines = " ".join(t for _k, t in note_pdf._content(rec, {}))
    assert "needle 27G 50 mm" in lines


def test_a_kind_without_a_gauge_records_the_length_only(lb, staff):
    flow, nurse = _started(lb, staff, kind="dry_needling")
    e = flow.new_entry(nurse)
    row = lb.row("injections", e.injection_id)
    assert (row["needle_gauge"], row["needle_length_mm"]) == (None, 40.0)


def test_a_broken_needles_file_says_what_it_needs(tmp_path, monkeypatch):
    (tmp_path / "needles.json").write_text(json.dumps({"defaults": {}}))
    monkeypatch.setenv("NEEDLEPOINT_ASSETS", str(tmp_path))
    with pytest.raises(LogbookError, match="needs 'defaults' by kind, 'gauges' and"):
        needle.load()
