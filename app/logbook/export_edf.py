"""EDF+ export of each EMG snippet, with an annotation at the injection sample.

The stored int16 counts become the file's digital samples unchanged, whatever the scale. The
digital range is chosen (as devices.formats does for recordings) so that its physical ends,
counts times microvolts per count, are exact decimals of the header's 8 characters when
such a range holds the samples; otherwise it is the full int16 range and the header rounds
the physical ends, which moves the scale a reader computes by a few ppm (0.4882813 uV per
count over the full range: 3 ppm), never a sample. The EDF patient field
is left anonymous ("X"): a snippet is linked to its record by the procedure id in its name.

The header says where the EMG came from. The recording field's equipment is
"SIMULATED-not_a_patient", "REPLAY:<file name>", the amplifier's URI, or
"source_not_recorded". Only a snippet whose scale is known to be calibrated is written in
uV; any other is written in counts (physical = digital, dimension "counts"), with the
scale it was stored with in the transducer field, "calibrated=0" in the recording field
(the token Needlepoint's recordings use for a scale not to trust) and, when the device was
uncalibrated, UNCALIBRATED as the signal's label.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import edfio
import numpy as np

from app.logbook import ids, outdir, provenance
from devices.files import atomic_write
from devices.formats.edf_write import new_file, range_candidates, record_layout, stored_range

DMIN, DMAX = -32768, 32767
EQUIPMENT_MAX = 40  # leaves room for "calibrated=0" in the recording field's 80 characters


def export(lb, records: list[dict], out: Path) -> list[Path]:
    def writer(i: dict, vial: dict):
        return lambda path: write_snippet(path, lb.snippet(i["id"]), i, vial)

    files = []
    for r in records:
        vials = {v["id"]: v for v in r["vials"]}
        # a snippet pulled from another tablet whose EMG is still on the clinic server has
        # no samples here to write
        files += [(f"{r['id']}_{i['seq']:03d}.edf", writer(i, vials.get(i["vial_id"], {})))
                  for i in r["injections"] if i["has_snippet"]
                  and not i["emg_source"].get("on_clinic_server")]
    return outdir.write_all(out, files)


def write_snippet(path: Path, s: dict, injection: dict, vial: dict) -> None:
    fs, stored_scale = float(s["fs"]), float(s["uv_per_count"])
    calibrated = s.get("calibrated") is True
    # Counts are not microvolts: unless the scale is known to be calibrated, the physical
    # values are the counts themselves and the dimension says so.
    scale, unit = (stored_scale, "uV") if calibrated else (1.0, "counts")
    transducer = "needle electrode" + (
        "" if calibrated else
        f"; {'UNCALIBRATED' if s.get('calibrated') is False else 'calibration not recorded'}"
        f", stored {stored_scale:.7g} uV/count")
    counts = s["samples"]
    spr, duration = record_layout(counts.shape[0], fs, 2 * counts.shape[1])
    t_inj = s["injection_index"] / fs
    start = ids.parse(injection["at"]) - datetime.timedelta(seconds=t_inj)
    signals = []
    for c in range(counts.shape[1]):
        digital = np.ascontiguousarray(counts[:, c])
        drange, prange = _ranges(digital, scale)
        signals.append(edfio.EdfSignal.from_digital(
            digital, spr / duration, label=_label(c, s.get("calibrated")),
            transducer_type=transducer, physical_dimension=unit, physical_range=prange,
            digital_range=drange))
    dose = (f"{injection['units']:g} U" if injection.get("units") is not None else
            f"{injection['dose_mg']:g} mg" if injection.get("dose_mg") is not None else
            "no drug")
    text = (f"injection {injection['seq']}: {injection.get('muscle') or 'muscle?'} "
            f"{injection.get('side') or ''} site {injection.get('site') or '?'} {dose} "
            f"{vial.get('product') or ''}")
    note = edfio.EdfAnnotation(t_inj, None, " ".join(text.split())[:200])
    # to the microsecond (EDF+ keeps it): the injection's clock time reads back exact
    edf = new_file(edfio.Edf, signals, start=start, recording=_recording(start.date(), s),
                   data_record_duration=duration, annotations=[note])
    # Owner-only, as the logbook: the start time and the injection's note place the EMG
    # in a patient's record.
    with atomic_write(path, outdir.FILE_MODE, binary=True) as f:
        edf.write(f)


def _label(channel: int, calibrated: bool | None) -> str:
    return f"UNCALIBRATED {channel + 1}" if calibrated is False else f"EMG{channel + 1}"


def equipment(s: dict) -> str:
    """The recording field's equipment subfield: what the EMG came from, in printable ASCII
    without spaces (EDF+ subfields are separated by spaces)."""
    kind = s.get("source_kind")
    if kind == "simulator":
        text = "SIMULATED-not_a_patient"
    elif kind == "replay":
        text = "REPLAY:" + provenance.file_name(s.get("source_uri"))
    elif kind == "amplifier":
        text = (s.get("source_uri") or "?").partition("?")[0]
    else:
        text = "source_not_recorded"
    text = "".join(c if " " < c <= "~" else "_" for c in text)
    return text if len(text) <= EQUIPMENT_MAX else text[:EQUIPMENT_MAX - 3] + "..."


def _recording(startdate: datetime.date, s: dict) -> edfio.Recording:
    extra = ["calibrated=1" if s.get("calibrated") is True else "calibrated=0",
             "Needlepoint"]
    # "Startdate dd-MMM-yyyy X X " takes 26 of the field's 80 characters.
    room = 80 - 26 - len(equipment(s))
    kept = []
    for token in extra:
        if len(token) + 1 <= room:
            kept.append(token)
            room -= len(token) + 1
    return edfio.Recording(startdate=startdate, equipment_code=equipment(s), additional=kept)


def _ranges(counts: np.ndarray, scale: float) -> tuple[tuple[int, int], tuple[float, float]]:
    """(digital range, physical range) holding these counts on the grid of `scale`."""
    for lo, hi, plo, phi, clip in range_candidates(counts * scale, scale, DMIN, DMAX):
        if clip:
            break
        if stored_range(edfio.EdfSignal, plo, phi, lo, hi) is not None:
            return (lo, hi), (plo, phi)
    return (DMIN, DMAX), (DMIN * scale, DMAX * scale)
