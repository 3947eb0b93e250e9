"""Writing EDF+ and BDF+ through edfio, with the scaling chosen by us.

Two properties matter more than squeezing the last bit of resolution:

- a signal that is already quantised (a WFDB record, an ADC, an EDF we wrote) is stored on
  its own grid when it fits, so nothing is lost;
- anything else gets a symmetric physical range rounded up to two significant digits, so
  writing a replay of our own file chooses the same range again and gives the same digital
  values: records of records do not drift.

Every number we put in the header is an exact short decimal, because edfio rounds values
that do not fit the 8-character fields with floor/ceil (and float noise such as
3276.7000000000003 becomes 3276.701).
"""

from __future__ import annotations

import datetime
import json
import math
import warnings
from collections.abc import Iterable, Sequence

import edfio
import numpy as np

from devices.errors import DeviceError
from devices.formats.edf import SETTINGS_PREFIX

_RECORD_BYTES = 61440  # the EDF spec's recommended ceiling for one data record
_HEADER_TEXT = 80
_GRID_TOLERANCE = 0.01  # of a step: float32 keeps int16 counts far closer than this
_SETTINGS_TEXT = 512  # the longest annotation pads every data record, so keep it short


def write(file, samples: np.ndarray, fs: float, *, bdf: bool, labels: Sequence[str],
          device_uri: str, settings: dict, annotations: Iterable, step_uv: Sequence,
          start: datetime.datetime) -> None:
    cls, edf_cls = (edfio.BdfSignal, edfio.Bdf) if bdf else (edfio.EdfSignal, edfio.Edf)
    spr, duration = record_layout(samples.shape[0], fs, (3 if bdf else 2) * samples.shape[1])
    fs_header = spr / duration  # what a reader will compute; equals fs unless inexact
    notes = [edfio.EdfAnnotation(float(t), d, _clean(text, 1000)) for t, d, text in annotations]
    notes.insert(0, edfio.EdfAnnotation(0.0, None, _settings_text(device_uri, settings)))
    try:
        signals = [
            _signal(cls, samples[:, j], fs_header, labels[j], step_uv[j], settings)
            for j in range(samples.shape[1])
        ]
        edf = new_file(edf_cls, signals, start=start,
                       recording=_recording(device_uri, settings, start),
                       data_record_duration=duration, annotations=notes)
        edf.write(file)
    except ValueError as e:
        kind = "BDF" if bdf else "EDF"
        raise DeviceError(f"cannot write this recording as {kind}: {e}") from None


def new_file(edf_cls, signals, *, start: datetime.datetime, **fields):
    """An edfio Edf or Bdf starting at `start` to the microsecond: EDF+ keeps the part of a
    second in its first annotation (the header's own field holds whole seconds), and edfio
    writes and reads it. Cut to the second, a recording's clock times came out up to a
    second early."""
    with warnings.catch_warnings():  # edfio says it makes EDF+C for this: it is EDF+C anyway
        warnings.filterwarnings("ignore", message=r"Creating .*microsecond starttime")
        return edf_cls(signals, starttime=start.time().replace(tzinfo=None), **fields)


# scaling ---------------------------------------------------------------------------------

def _signal(cls, x: np.ndarray, fs: float, label: str, step, settings: dict):
    dlo, dhi = cls._default_digital_range  # edfio's own limits: 16 or 24 bits
    for lo, hi, plo, phi, clip in range_candidates(x, step, dlo, dhi):
        stored = stored_range(cls, plo, phi, lo, hi)
        if stored is None:
            continue
        digital = _quantise(x, lo, hi, *stored, clip=clip)
        if digital is None:
            continue
        return cls.from_digital(
            digital.astype(cls._digital_dtype), fs,
            label=_label(label, cls), transducer_type=_clean(
                str(settings.get("transducer", "needle electrode")), _HEADER_TEXT),
            physical_dimension="uV", physical_range=stored, digital_range=(lo, hi),
            prefiltering=_prefiltering(settings),
        )
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    raise DeviceError(
        f"samples reach {peak:.6g} uV, more than an EDF header can state in microvolts: "
        "check the device's scale"
    )


def range_candidates(x: np.ndarray, step, dlo: int, dhi: int):
    """The (digital min, digital max, physical min, physical max, clip) ranges that could
    hold the samples `x` (microvolts), best first, for a format whose digital values run
    from `dlo` to `dhi`. With `step` (microvolts per count) given and `x` on its grid, the
    first ones keep every sample exactly (clip False), with physical ends that are exact
    short decimals; the last is always a symmetric range rounded up to two significant
    digits, which may need clipping (clip True). Check each with `stored_range`."""
    if step and math.isfinite(step) and step > 0 and _on_grid(x, step):
        tol = 1e-6 * step
        k = np.rint(x.astype(np.float64) / step)
        kmin, kmax = (k.min(), k.max()) if len(k) else (0, 0)
        for lo, hi in ((dlo, dhi), (-dhi, dhi), *((-d, d) for d in _round_counts(dhi))):
            plo, phi = _decimal(lo * step, tol), _decimal(hi * step, tol)
            if lo <= kmin and kmax <= hi and plo is not None and phi is not None:
                yield lo, hi, plo, phi, False
    peak = _ceil_2_digits(float(np.max(np.abs(x))) if len(x) else 0.0)
    yield -dhi, dhi, -peak, peak, True


def _on_grid(x: np.ndarray, step: float) -> bool:
    k = x.astype(np.float64) / step
    return bool(np.all(np.abs(k - np.rint(k)) <= _GRID_TOLERANCE))


def _round_counts(top: int):
    """1-2-5 counts below `top`: digital ranges whose physical ends stay short decimals."""
    for exponent in range(len(str(top)), -1, -1):
        for mantissa in (5, 2, 1):
            d = mantissa * 10**exponent
            if d < top:
                yield d


def _ceil_2_digits(peak: float) -> float:
    """The peak rounded up to two significant digits, at least 1 uV. The 1e-6 slack keeps a
    value that is already round (3300, or 3300 plus float32 noise) where it is."""
    if peak <= 1.0:
        return 1.0
    exponent = math.floor(math.log10(peak)) - 1
    unit = 10.0**exponent
    top = math.ceil(peak / unit * (1 - 1e-6)) * unit
    return float(f"{top:.{max(0, -exponent)}f}")


def _decimal(value: float, tol: float) -> float | None:
    """The shortest decimal of at most 8 characters within `tol` of value (positional:
    EDF readers do not all take '1e-05')."""
    for places in range(8):
        text = f"{value:.{places}f}"
        if len(text) > 8:
            return None
        if abs(float(text) - value) <= tol:
            return float(text)
    return None


def stored_range(cls, plo: float, phi: float, lo: int, hi: int) -> tuple[float, float] | None:
    """The physical range (plo, phi) over digital lo..hi as edfio's signal class `cls`
    (EdfSignal or BdfSignal) will store it in the header, or None if the header's 8
    characters would alter it (then the scale a reader computes would differ from ours)."""
    try:
        probe = cls.from_digital(np.zeros(1, cls._digital_dtype), 1.0,
                                 physical_range=(plo, phi), digital_range=(lo, hi))
    except ValueError:
        return None
    if (probe.physical_min, probe.physical_max) != (plo, phi):
        return None
    return plo, phi


def _quantise(x: np.ndarray, lo: int, hi: int, plo: float, phi: float, *, clip: bool):
    # Same gain and offset as edfio uses to read, so what is written is what comes back.
    gain = (phi - plo) / (hi - lo)
    offset = phi / gain - hi
    k = np.rint(x.astype(np.float64) / gain - offset)
    if clip:
        return np.clip(k, lo, hi)
    if len(k) and (k.min() < lo or k.max() > hi):
        return None
    return k


# layout ----------------------------------------------------------------------------------

def record_layout(frames: int, fs: float, bytes_per_frame: int) -> tuple[int, float]:
    """(samples per data record, record duration) for `frames` samples at `fs` with
    `bytes_per_frame` bytes per sample instant over all signals: whole records, no padding,
    a duration that is an exact short decimal; ideally 0.1 to 1 s and within the EDF
    spec's recommended record size."""
    divisors = _divisors(frames)
    exact = {n: d for n in divisors if (d := _decimal(n / fs, 1e-12 * n / fs)) is not None}
    short = [n for n in exact if 0.1 * fs <= n <= fs]
    small = [n for n in short if n * bytes_per_frame <= _RECORD_BYTES]
    if small:
        return max(small), exact[max(small)]
    if short:
        return min(short), exact[min(short)]
    if frames in exact:
        return frames, exact[frames]
    below = [n for n in exact if n <= fs]
    if below:
        return max(below), exact[max(below)]
    # No exact decimal exists (44100 Hz and an odd length): one record, its duration
    # rounded, which shifts the rate a reader computes by under 1 ppm.
    duration = _decimal(frames / fs, 1e-6 * frames / fs)
    if duration is None:
        raise DeviceError(
            f"{frames} frames at {fs:g} Hz cannot be laid out in EDF data records: "
            "record a whole number of seconds, or write .wav"
        )
    return frames, duration


def _divisors(n: int) -> list[int]:
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return sorted({*small, *(n // d for d in small)})


# header text -----------------------------------------------------------------------------

def _clean(text: str, limit: int) -> str:
    """Printable ASCII, as the EDF header demands."""
    ascii_text = "".join(c if " " <= c <= "~" else "?" for c in str(text))
    return ascii_text[:limit].rstrip()


def _label(label: str, cls) -> str:
    text = _clean(label, 16)
    return "EMG" if not text or text == f"{cls._fmt} Annotations" else text


def _subfield(text: str) -> str:
    return _clean(text, len(text)).replace(" ", "_") or "X"


def _recording(device_uri: str, settings: dict, start: datetime.datetime) -> edfio.Recording:
    equipment = _subfield(device_uri)
    if len(equipment) > 40:  # keep the scheme and the end of a long path
        scheme = equipment.split(":", 1)[0]
        tail = equipment[-(35 - len(scheme)):]
        equipment = f"{scheme}:...{tail[tail.find('/'):] if '/' in tail else tail}"
    used = len("Startdate 01-JAN-2000 X X ") + len(equipment)
    extra = []
    for key, value in settings.items():
        token = _subfield(f"{key}={_short_value(value)}")
        if used + len(token) + 1 <= _HEADER_TEXT:
            extra.append(token)
            used += len(token) + 1
    return edfio.Recording(startdate=start.date(), equipment_code=equipment, additional=extra)


def _short_value(value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _settings_text(device_uri: str, settings: dict) -> str:
    items = {"device": device_uri, **settings}
    text = json.dumps(items, separators=(",", ":"), default=str, ensure_ascii=False)
    while len(text) > _SETTINGS_TEXT and len(items) > 1:
        items.popitem()
        text = json.dumps(items, separators=(",", ":"), default=str, ensure_ascii=False)
    return SETTINGS_PREFIX + text[:_SETTINGS_TEXT]


def _prefiltering(settings: dict) -> str:
    if settings.get("prefiltering"):
        return _clean(settings["prefiltering"], _HEADER_TEXT)
    parts = [f"{tag}:{settings[key]:g}Hz" for tag, key in
             (("HP", "highpass_hz"), ("LP", "lowpass_hz"), ("N", "notch_hz"))
             if isinstance(settings.get(key), int | float)]
    return " ".join(parts)
