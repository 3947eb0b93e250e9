"""Every snippet says where its EMG came from (an amplifier, the simulator or a replayed
file) and whether its scale was calibrated: stored, read back, refused when wrong, shown as
"source not recorded" for snippets from before, and said by every export (CSV, FHIR, EDF+,
the PDF note), the history the screens read, and the marks a live session makes."""

from __future__ import annotations

import csv
import dataclasses
import json
import sqlite3
from pathlib import Path

import edfio
import numpy as np
import pytest
from fhir.resources.R4B.bundle import Bundle

from app.logbook import Logbook, LogbookError, demo, export_csv, export_edf, export_fhir, note_pdf
from app.workflow import history
from app.workflow.snippet import from_mark

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "logbook"
SIM = {"source_uri": "sim:denervated?seed=3", "source_kind": "simulator", "calibrated": True}
REPLAY = {"source_uri": "file:/data/clinic/rec%20one.edf?loop=0", "source_kind": "replay",
          "calibrated": True}
AMP = {"source_uri": "spikerbox:/dev/ttyACM0?hwt=MUSCLESS", "source_kind": "amplifier",
       "calibrated": False}
LABELS = ["SIMULATED - not a patient", "REPLAY: rec one.edf",
          "amplifier: spikerbox:/dev/ttyACM0, uncalibrated (counts)"]


def _snippet(source: dict, seed: int = 1) -> dict:
    x = np.random.default_rng(seed).integers(-2000, 2000, 3000).astype(np.int16)
    return {"samples": x, "uv_per_count": 0.5, "fs": 2000.0, "injection_index": 1500,
            **source}


@pytest.fixture
def book(tmp_path):
    """A procedure with three snippets (simulator, replay, uncalibrated amplifier) and an
    injection without EMG."""
    with Logbook(tmp_path / "lb.db") as lb:
        doc, nurse = demo.users(lb)
        pt = demo.patient(lb, nurse["id"])
        proc = lb.start_procedure({"patient_id": pt["id"], "kind": "botulinum",
                                   "physician_id": doc["id"], "nurse_id": nurse["id"]},
                                  by=nurse["id"])
        vial = lb.add_vial(proc["id"], {"product": "onabotulinumtoxinA", "vial_units": 100,
                                        "diluent_ml": 2.0, "lot": "L1", "expiry": "2099-01"},
                           by=nurse["id"])
        logged = [lb.log_injection(proc["id"], {"vial_id": vial["id"], "units": 10,
                                                "muscle": "biceps_brachii", "side": "left"},
                                   nurse["id"], snippet=_snippet(src, k))
                  for k, src in enumerate((SIM, REPLAY, AMP))]
        lb.log_injection(proc["id"], {"vial_id": vial["id"], "units": 5}, nurse["id"])
        yield lb, proc["id"], logged


def _pdf_text(rec: dict, users: dict) -> str:
    """The note's text as a PDF reader gets it back."""
    import tempfile

    from tests.test_ui_clinic import pdf_text

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "note.pdf"
        path.write_bytes(bytes(note_pdf.note(rec, users).output()))
        return pdf_text(path)


# stored and read back ---------------------------------------------------------------------

def test_simulator_replay_and_amplifier_snippets_read_back_with_their_source(book):
    lb, proc_id, logged = book
    assert [i["emg_source"]["label"] for i in logged] == LABELS
    for inj, src, words in zip(logged, (SIM, REPLAY, AMP), LABELS, strict=True):
        s = lb.snippet(inj["id"])
        assert {k: s[k] for k in src} == src
        assert s["provenance"] == words
    rec = lb.procedure(proc_id)
    sources = [i["emg_source"] for i in rec["injections"]]
    assert [s and s["label"] for s in sources] == [*LABELS, None]
    assert [s and (s["kind"], s["uri"], s["calibrated"]) for s in sources[:3]] == [
        (src["source_kind"], src["source_uri"], src["calibrated"])
        for src in (SIM, REPLAY, AMP)]
    rep = lb.verify()
    assert rep["ok"], rep["problems"]
    # the source goes through the audit trail with the rest of the snippet
    new = json.loads(lb.db.execute("SELECT new FROM audit WHERE tbl = 'snippets' AND row_id = ?",
                                   [sources[0]["snippet_id"]]).fetchone()[0])
    assert (new["source_kind"], new["source_uri"], new["calibrated"]) == (
        "simulator", "sim:denervated?seed=3", 1)


def test_a_stored_source_is_never_rewritten_and_is_all_or_nothing(book):
    lb, _, logged = book
    inj = lb.log_injection(logged[0]["procedure_id"], {"units": 1}, logged[0]["created_by"])
    sid = logged[2]["emg_source"]["snippet_id"]
    with pytest.raises(sqlite3.IntegrityError, match="never rewritten"):
        lb.db.execute("UPDATE snippets SET calibrated = 1 WHERE id = ?", [sid])
    row = lb.db.execute("SELECT * FROM snippets WHERE id = ?", [sid]).fetchone()
    cols = [d[1] for d in lb.db.execute("PRAGMA table_info(snippets)").fetchall()]
    half = dict(zip(cols, row, strict=True))
    half.update(id="x", injection_id=inj["id"], calibrated=None)
    with pytest.raises(sqlite3.IntegrityError, match="together"):
        lb.db["snippets"].insert(half)
    for bad in ({"source_kind": "guess"}, {"calibrated": 2}, {"source_uri": "  "}):
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            lb.db["snippets"].insert({**half, "calibrated": 0, **bad})


@pytest.mark.parametrize(("change", "field"), [
    ({"source_uri": None}, "source_uri"), ({"source_uri": ""}, "source_uri"),
    ({"source_uri": "   "}, "source_uri"), ({"source_uri": 3}, "source_uri"),
    ({"source_uri": "file:/" + "a" * 9000}, "source_uri"),
    ({"source_kind": None}, "source_kind"), ({"source_kind": "file"}, "source_kind"),
    ({"source_kind": "Simulator"}, "source_kind"),
    ({"calibrated": None}, "calibrated"), ({"calibrated": 1}, "calibrated"),
    ({"calibrated": "yes"}, "calibrated")])
def test_bad_provenance_is_refused_naming_the_field(book, change, field):
    lb, proc_id, logged = book
    before = len(lb.procedure(proc_id)["injections"])
    with pytest.raises(LogbookError, match=f"snippet {field} "):
        lb.log_injection(proc_id, {"units": 1}, logged[0]["created_by"],
                         snippet={**_snippet(SIM), **change})
    missing = {k: v for k, v in _snippet(SIM).items() if k != field}
    with pytest.raises(LogbookError, match=f"snippet {field} "):
        lb.log_injection(proc_id, {"units": 1}, logged[0]["created_by"], snippet=missing)
    assert len(lb.procedure(proc_id)["injections"]) == before  # nothing was written


# a logbook from before sources were kept ----------------------------------------------------

def test_an_old_logbook_migrates_and_reads_source_not_recorded(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript((FIXTURES / "0002_dose_warnings_observations.sql").read_text("utf-8"))
    conn.close()
    expected = json.loads((FIXTURES / "0002_dose_warnings_observations.json").read_text())
    with Logbook(path) as lb:
        rep = lb.verify()
        assert rep["ok"], rep["problems"]
        assert "0003_snippet_source" in rep["schema"]
        rec = lb.procedure(expected["procedure_id"])
        users = {u["id"]: u for u in lb.users()}
        inj = rec["injections"][0]
        snip = lb.snippet(inj["id"])
        assert (snip["source_uri"], snip["source_kind"], snip["calibrated"]) == (None,) * 3
        assert snip["provenance"] == "source not recorded"
        assert inj["emg_source"]["label"] == "source not recorded"
        assert rec["injections"][1]["emg_source"] is None  # no EMG kept: nothing to say
        # and it cannot be filled in afterwards, by a guess or otherwise
        with pytest.raises(sqlite3.IntegrityError, match="never rewritten"):
            lb.db.execute("UPDATE snippets SET source_kind = 'amplifier', calibrated = 1, "
                          "source_uri = 'spikerbox:auto'")
        row = next(export_csv.injection_rows(rec))
        assert (row["emg_source"], row["source_kind"], row["calibrated"]) == (
            "source not recorded", "", "")
        assert "EMG: source not recorded" in _pdf_text(rec, users)
        doc = export_fhir.bundle(rec, users)
        Bundle.model_validate(doc)
        (obs,) = [e["resource"] for e in doc["entry"]
                  if e["resource"]["resourceType"] == "Observation"]
        assert obs["device"] == {"display": "source not recorded"} and "extension" not in obs
        edf_path = tmp_path / "old.edf"
        export_edf.write_snippet(edf_path, snip, inj, rec["vials"][0])
        edf = edfio.read_edf(edf_path)
        fields = edf.local_recording_identification.split()
        assert "source_not_recorded" in fields
        assert "calibrated=0" in fields  # not known to be calibrated
        assert edf.signals[0].physical_dimension == "counts"


# exports ----------------------------------------------------------------------------------

def test_csv_says_simulated_and_uncalibrated(book, tmp_path):
    lb, proc_id, _ = book
    rec = lb.procedure(proc_id)
    _, injs = export_csv.export([rec], tmp_path)
    rows = list(csv.DictReader(injs.open()))
    assert [r["emg_source"] for r in rows] == [*LABELS, ""]
    assert [r["source_kind"] for r in rows] == ["simulator", "replay", "amplifier", ""]
    assert [r["source_uri"] for r in rows] == [
        SIM["source_uri"], REPLAY["source_uri"], AMP["source_uri"], ""]
    assert [r["calibrated"] for r in rows] == ["1", "1", "0", ""]


def test_fhir_observation_names_the_source_and_the_bundle_validates(book):
    lb, proc_id, logged = book
    rec = lb.procedure(proc_id)
    doc = export_fhir.bundle(rec, {u["id"]: u for u in lb.users()})
    Bundle.model_validate(doc)
    obs = [e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == "Observation"]
    assert [o["device"]["display"] for o in obs] == LABELS
    assert obs[0]["device"]["display"].startswith("SIMULATED")
    assert [o["partOf"] for o in obs] == [[{"reference": f"urn:uuid:{i['id']}"}]
                                          for i in logged]
    ext = {e["url"]: next(iter(v for k, v in e.items() if k.startswith("value")))
           for e in obs[2]["extension"][0]["extension"]}
    assert obs[2]["extension"][0]["url"] == export_fhir.EMG_SOURCE
    assert ext == {"kind": "amplifier", "uri": AMP["source_uri"], "calibrated": False}
    admins = [e["resource"] for e in doc["entry"]
              if e["resource"]["resourceType"] == "MedicationAdministration"]
    assert {"text": "EMG source: SIMULATED - not a patient"} in admins[0]["note"]
    assert all("EMG source" not in n["text"] for n in admins[3].get("note", []))


def test_edf_header_says_simulated_and_an_uncalibrated_signal_is_in_counts(book, tmp_path):
    lb, proc_id, logged = book
    rec = lb.procedure(proc_id)
    files = export_edf.export(lb, [rec], tmp_path)
    assert len(files) == 3
    sim, replay, amp = (edfio.read_edf(f) for f in files)
    fields = [edf.local_recording_identification.split() for edf in (sim, replay, amp)]
    assert "SIMULATED-not_a_patient" in fields[0]
    assert "REPLAY:rec_one.edf" in fields[1]
    assert "spikerbox:/dev/ttyACM0" in fields[2]
    assert all(f"calibrated={c}" in f for f, c in zip(fields, (1, 1, 0), strict=True))
    assert all(len(edf.local_recording_identification) <= 80 for edf in (sim, replay, amp))
    s = sim.signals[0]
    assert (s.label, s.physical_dimension) == ("EMG1", "uV")
    assert (s.physical_max - s.physical_min) / (s.digital_max - s.digital_min) == 0.5
    a = amp.signals[0]
    assert a.label == "UNCALIBRATED 1" and a.physical_dimension == "counts"
    assert "UNCALIBRATED" in a.transducer_type and "0.5 uV/count" in a.transducer_type
    assert (a.physical_min, a.physical_max) == (a.digital_min, a.digital_max)
    stored = lb.snippet(logged[2]["id"])["samples"][:, 0]
    assert np.array_equal(a.digital, stored) and np.array_equal(a.data, stored)
    # Needlepoint's own reader never takes the exported counts for microvolts
    from devices.errors import DeviceError
    from devices.formats import read_header

    assert [read_header(f).calibrated for f in files[:2]] == [True, True]
    with pytest.raises(DeviceError, match="not a voltage"):
        read_header(files[2])


def test_edf_equipment_fits_a_long_uri():
    s = {"source_kind": "amplifier", "source_uri": "soundcard:" + "x" * 200,
         "calibrated": True}
    assert len(export_edf.equipment(s)) == export_edf.EQUIPMENT_MAX


def test_pdf_note_says_simulated_replay_and_uncalibrated(book):
    lb, proc_id, _ = book
    text = _pdf_text(lb.procedure(proc_id), {u["id"]: u for u in lb.users()})
    for words in LABELS:
        assert f"EMG: {words}" in text
    assert text.count("EMG: ") == 3  # the injection without EMG says nothing of a source


# what the screens read, and where marks get their source ----------------------------------

def test_history_detail_and_timeline_carry_the_provenance(book):
    lb, proc_id, logged = book
    rec = lb.procedure(proc_id)
    rows = history.detail(lb.cat, rec)["injections"]
    assert [r["provenance"] for r in rows] == [*LABELS, ""]
    tl = history.timeline(lb, rec["patient_id"])
    assert tl["procedures"][0]["provenance"] == "; ".join(LABELS)
    (series,) = history.muscle_series(lb, rec["patient_id"]).values()
    assert series["points"][0]["provenance"] == "; ".join(LABELS)


def test_a_mark_carries_its_devices_source_into_the_snippet():
    from app.session.open import open_session

    session = open_session("sim:denervated?seed=5", sound=False, paced=False)
    try:
        sim = session.mark_injection()
        real = session.info
        session.info = dataclasses.replace(real, kind="file", uri="file:/r/a.edf",
                                           calibrated=False)
        replay = session.mark_injection()
        for kind in ("serial", "soundcard"):
            session.info = dataclasses.replace(real, kind=kind, uri=f"{kind}:x")
            amp = session.mark_injection()
            assert (amp.source_kind, amp.source_uri, amp.calibrated) == (
                "amplifier", f"{kind}:x", True)
    finally:
        session.info = real
        session.close()
    assert (sim.source_kind, sim.source_uri, sim.calibrated) == (
        "simulator", real.uri, True)
    assert (replay.source_kind, replay.source_uri, replay.calibrated) == (
        "replay", "file:/r/a.edf", False)
    replay.raw = np.zeros((100, 1), np.float32)
    replay.press_offset = 50
    snip = from_mark(replay)
    assert (snip["source_kind"], snip["source_uri"], snip["calibrated"]) == (
        "replay", "file:/r/a.edf", False)
