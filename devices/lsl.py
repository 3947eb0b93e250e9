"""`lsl:<stream name>`: a Lab Streaming Layer stream, as most research amplifiers publish one.

    lsl:NeedleEMG                       the stream of that name
    lsl:NeedleEMG?type=EMG              the one of that type, where several share the name
    lsl:NeedleEMG?source_id=amp-0042    the one from that amplifier

Through pylsl, an optional extra (`pip install 'needlepoint[lsl]'`; its Linux x86-64
wheels carry liblsl). Rate and channel count come from the stream's own description, and
units from `desc/channels/channel/unit`: microvolts, millivolts or volts are converted to
microvolts (calibrated); a stream that names no voltage unit is passed through as counts,
UNCALIBRATED. Nobody has told the app whether the amplifier behind a stream may touch a
patient: its isolation is unknown.

A reader thread pulls chunks into a bounded queue. liblsl maps the stamps onto this host's
clock (clock synchronisation), and this module tells jitter from gaps: a jump in the stamps
of more than a few sample periods, and of several times their recent jitter, is a gap, and
`first_index` moves on by the samples missing. liblsl's own dejitter is not used: it fits a
line to the stamps against the sample count, so a gap melts into its fit (a 1000-sample gap
at 10 kHz came out as every later step 1.27 periods long instead of one step of 1001).
When the outlet goes away `status` says "no signal: reconnecting" until it is back; liblsl
recovers a stream with a source_id by itself, and this module looks for the stream again by
name when liblsl gives up on one.

liblsl's console log is limited to fatal errors unless LSLAPICFG or an lsl_api.cfg file
configures it: the device's `status` already says what liblsl would.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import numpy as np

from devices.base import Chunk, Device, DeviceInfo, Isolation
from devices.chunk_queue import ChunkQueue
from devices.errors import DeviceError, DeviceLost, UnknownDevice
from devices.uri import Param, Scheme, Uri, read_params

log = logging.getLogger(__name__)

PARAMS = {
    "type": Param(str, None, "the stream's type (its content-type, e.g. EMG or EEG), to "
                  "choose among streams of one name"),
    "source_id": Param(str, None, "the stream's source id (the amplifier's serial number, "
                       "as a rule), to choose among streams of one name"),
}
INSTALL = "pip install 'needlepoint[lsl]'"
RESOLVE_S = 2.0  # how long a named stream is looked for
INFO_S = 2.0  # how long its full description (channels, units) may take to come
DISCOVER_S = 0.3  # `needlepoint devices` waits this long for streams to answer
DISCOVER_INFO_S = 1.0  # and this long in all for their descriptions
PULL_S = 0.05  # a pull returns at least this often: stop and loss are noticed
NO_SIGNAL_S = 0.5  # nothing for this long: the outlet has gone
RETRY_S = 0.5  # a lost stream is looked for again this often
QUEUE_S = 2.0  # chunks kept for a reader that falls behind; older ones are dropped
GAP_PERIODS = 3.0  # a jump in the stamps of more than this many sample periods may be a gap
GAP_JITTERS = 2.0  # ... if it is also this many times the worst recent jitter
JITTER_WINDOW_S = 10.0  # the jitter that counts: the worst jump of this long (stream time)
WARMUP_S = 2.0  # before the stamps have shown their jitter, a jump must be this much larger
WARMUP_JUMP_S = 0.005  # ... than this to count as a gap
NEEDLE_EMG = ("needle EMG has energy to several kHz: the amplifier should sample at 10 kHz or "
              "more")
ISOLATION_NOTE = ("isolation unknown: an LSL stream does not say whether its amplifier is "
                  "rated for patient connection")

# Units of `desc/channels/channel/unit` that are a voltage, and microvolts per unit.
VOLT_UNITS = {
    "microvolts": 1.0, "microvolt": 1.0, "uv": 1.0, "\u00b5v": 1.0, "\u03bcv": 1.0,
    "millivolts": 1e3, "millivolt": 1e3, "mv": 1e3,
    "volts": 1e6, "volt": 1e6, "v": 1e6,
}
# pylsl's channel formats (cf_float32 = 1 ... cf_int64 = 7): name and numpy type.
FORMATS = {1: ("float32", np.float32), 2: ("double64", np.float64), 3: ("string", None),
           4: ("int32", np.int32), 5: ("int16", np.int16), 6: ("int8", np.int8),
           7: ("int64", np.int64)}
_INTEGER = {"int32", "int16", "int8", "int64"}
_configured = False


def load_pylsl():
    """The pylsl module, or one DeviceError line saying what to install."""
    global _configured
    try:
        import pylsl
    except ImportError:
        raise DeviceError(f"LSL input needs pylsl, which is not installed: {INSTALL}") from None
    except (OSError, RuntimeError) as e:  # pylsl raises RuntimeError when liblsl is missing
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DeviceError(
            f"LSL input needs liblsl, which pylsl cannot load ({first}): {INSTALL} (its "
            "Linux x86-64 wheels carry liblsl; elsewhere install liblsl itself)"
        ) from None
    if not _configured:
        _configured = True
        _quiet(pylsl)
    return pylsl


def _quiet(pylsl) -> None:
    """liblsl logs every reconnection attempt to the console; keep it to fatal errors
    unless the user configures liblsl, whose configuration this would override."""
    files = ("lsl_api.cfg", os.path.expanduser("~/lsl_api/lsl_api.cfg"),
             "/etc/lsl_api/lsl_api.cfg")
    if os.environ.get("LSLAPICFG") or any(os.path.exists(f) for f in files):
        return
    set_config = getattr(pylsl, "set_config_content", None)
    if set_config is None:
        return
    try:
        set_config("[log]\nlevel = -3\n")
    except Exception:  # an older liblsl without it (NotImplementedError): its default log
        log.debug("liblsl cannot be configured from here; its log stays as it is")


def lsl_errors(pylsl) -> tuple[type, type]:
    """pylsl's (TimeoutError, LostError): at the top level of older pylsl, in pylsl.util
    of newer ones."""
    for home in (pylsl, getattr(pylsl, "util", None), getattr(pylsl, "pylsl", None)):
        if home is not None and hasattr(home, "LostError"):
            return home.TimeoutError, home.LostError
    raise DeviceError(f"this pylsl ({getattr(pylsl, '__version__', '?')}) is not one "
                      f"Needlepoint knows: {INSTALL}")


@dataclass(frozen=True)
class Units:
    """What the stream's samples are: microvolts per sample unit for each channel, or
    None where the stream names no voltage unit (then it is UNCALIBRATED)."""

    names: tuple[str, ...]  # as the stream gives them ('' where none)
    uv_per_unit: tuple[float, ...] | None

    @property
    def calibrated(self) -> bool:
        return self.uv_per_unit is not None


def channel_fields(info, field: str) -> list[str]:
    """`desc/channels/channel/<field>` of each channel, '' where missing."""
    out = []
    ch = info.desc().child("channels").child("channel")
    while not ch.empty() and len(out) < info.channel_count():
        out.append(ch.child_value(field).strip())
        ch = ch.next_sibling("channel")
    return out + [""] * (info.channel_count() - len(out))


def read_units(info) -> Units:
    names = tuple(channel_fields(info, "unit"))
    scales = [VOLT_UNITS.get(n.lower()) for n in names]
    if all(s is not None for s in scales):
        return Units(names, tuple(scales))
    return Units(names, None)


def _literal(text: str) -> str:
    """`text` as an XPath 1.0 string literal (which has no escapes)."""
    if "'" not in text:
        return f"'{text}'"
    if '"' not in text:
        return f'"{text}"'
    return "concat(" + ", \"'\", ".join(f"'{p}'" for p in text.split("'")) + ")"


def _predicate(name: str, params: dict) -> str:
    parts = [f"name={_literal(name)}"]
    for key in ("type", "source_id"):
        if params[key] is not None:
            parts.append(f"{key}={_literal(params[key])}")
    return " and ".join(parts)


def _wanted(uri: Uri, params: dict) -> str:
    extra = [f"{k}={params[k]}" for k in ("type", "source_id") if params[k] is not None]
    return f"named '{uri.target}'" + (f" with {' and '.join(extra)}" if extra else "")


def _short(info) -> str:
    rate = f"{info.nominal_srate():g} Hz" if info.nominal_srate() > 0 else "irregular rate"
    return (f"'{info.name()}' ({info.type() or 'no type'}, {rate}, "
            f"{info.channel_count()} ch, source_id '{info.source_id()}')")


def resolve(uri: Uri, params: dict):
    """The one stream the URI names (its StreamInfo, as resolved: no description yet)."""
    pylsl = load_pylsl()
    if not uri.target:
        raise UnknownDevice(f"{uri.text} names no stream: write lsl:<stream name>")
    found = pylsl.resolve_bypred(_predicate(uri.target, params), 1, RESOLVE_S)
    if not found:
        seen = pylsl.resolve_streams(DISCOVER_S)
        listing = ("; streams seen: " + ", ".join(_short(s) for s in seen) if seen else
                   "; no LSL stream answered at all: is the amplifier's LSL program running, "
                   "on this network?")
        raise DeviceError(f"no LSL stream {_wanted(uri, params)} found within "
                          f"{RESOLVE_S:g} s{listing}")
    sources = {s.source_id() for s in found}
    if len(sources) > 1:
        raise DeviceError(f"several LSL streams are {_wanted(uri, params)}: "
                          f"{', '.join(_short(s) for s in found)}; choose one with "
                          "?source_id= or ?type=")
    return found[0]


def check_stream(info, where: str) -> None:
    """Refuse, in one line, a stream the app cannot use."""
    from dsp.chain import MIN_FS

    name, rate = info.name(), info.nominal_srate()
    if rate <= 0:
        raise DeviceError(
            f"{where}: LSL stream '{name}' has an irregular rate (nominal rate 0): "
            f"Needlepoint needs samples at a regular rate of at least {MIN_FS:g} Hz; "
            f"{NEEDLE_EMG}"
        )
    if rate < MIN_FS:
        raise DeviceError(
            f"{where}: LSL stream '{name}' samples at {rate:g} Hz: Needlepoint's analyser "
            f"needs at least {MIN_FS:g} Hz; {NEEDLE_EMG}"
        )
    label, dtype = FORMATS.get(info.channel_format(), ("unknown", None))
    if dtype is None:
        raise DeviceError(f"{where}: LSL stream '{name}' carries {label} values, not "
                          "samples: choose the amplifier's signal stream")


def full_info(resolved, where: str):
    """The stream's whole description (channels, units), which only its outlet holds."""
    pylsl = load_pylsl()
    timeout_error, lost_error = lsl_errors(pylsl)
    inlet = pylsl.StreamInlet(resolved, max_buflen=1, recover=False)
    try:
        return inlet.info(INFO_S)
    except timeout_error:
        raise DeviceError(f"{where}: the LSL stream '{resolved.name()}' did not send its "
                          f"description within {INFO_S:g} s: is its outlet still "
                          "running?") from None
    except lost_error:
        raise DeviceError(f"{where}: the LSL stream '{resolved.name()}' went away while "
                          "being described") from None
    finally:
        del inlet


def make_info(uri: Uri, info) -> DeviceInfo:
    units = read_units(info)
    label, _ = FORMATS.get(info.channel_format(), ("unknown", None))
    channels = info.channel_count()
    labels = channel_fields(info, "label")
    details = {"stream": info.name(), "type": info.type(), "source_id": info.source_id(),
               "hostname": info.hostname(), "format": label,
               "units": ",".join(units.names) if any(units.names) else "none given",
               "warning": ISOLATION_NOTE}
    if units.calibrated:
        scales = units.uv_per_unit
        # An integer stream's step is one unit; a float stream's step is not known.
        uv = scales[0] if label in _INTEGER and len(set(scales)) == 1 else None
        details["uv_per_unit"] = list(scales)
        if label in _INTEGER:
            details["step_uv"] = list(scales)
        details["calibration"] = (f"units from the stream ({', '.join(sorted(set(units.names)))}"
                                  "), converted to microvolts")
    else:
        uv = 1.0
        details["calibration"] = ("UNCALIBRATED: the stream names no voltage unit "
                                  "(desc/channels/channel/unit); its values are shown as "
                                  "counts")
    return DeviceInfo(
        uri=uri.text, name=f"LSL: {info.name()} from {info.hostname() or 'unknown host'}"
        + ("" if units.calibrated else " (UNCALIBRATED)"),
        kind="lsl", fs=float(info.nominal_srate()), channels=channels,
        channel_labels=tuple(lab or f"{info.name()} {k + 1}" for k, lab in enumerate(labels)),
        uv_per_count=uv, calibrated=units.calibrated, isolation=Isolation.UNKNOWN,
        details=details,
    )


def _described(uri: Uri):
    """(parameters, the stream as resolved, its DeviceInfo). The resolved StreamInfo is the
    one to connect with: the full description lacks the outlet's address."""
    params = read_params(uri, PARAMS)
    resolved = resolve(uri, params)
    check_stream(resolved, uri.text)
    return params, resolved, make_info(uri, full_info(resolved, uri.text))


def describe(uri: Uri) -> DeviceInfo:
    return _described(uri)[2]


class GapCounter:
    """Frame indices for chunks of stamped samples: counted one by one, moved on where the
    stamps jump further than jitter explains.

    Each sample is compared with the one before, so a clock that runs a little fast or slow
    never adds up to a gap. Samples an outlet sends together carry stamps one period apart
    (liblsl deduces them); where they do not, the jump counts as a gap when it exceeds
    GAP_PERIODS sample periods and GAP_JITTERS times the worst jump of the last
    JITTER_WINDOW_S that did not count (and WARMUP_JUMP_S while the stream is young), so an
    outlet that stamps each chunk when it sends it is not read as losing samples. A jump
    back is jitter or a restarted outlet: the count goes on.
    """

    def __init__(self, fs: float):
        self.period = 1.0 / fs
        self.index = 0  # the next frame's index
        self.gaps = 0
        self.missing = 0
        # (stamp, size) of the jumps that were not gaps
        self._jitter: collections.deque = collections.deque()
        self._first_stamp: float | None = None
        self._next_stamp: float | None = None

    def tolerance(self, now: float) -> float:
        """How far the stamps may jump before the jump is a gap: a few periods, twice the
        worst jitter of the last JITTER_WINDOW_S, and more while the stream is young."""
        while self._jitter and self._jitter[0][0] < now - JITTER_WINDOW_S:
            self._jitter.popleft()
        worst = max((size for _, size in self._jitter), default=0.0)
        young = self._first_stamp is None or now - self._first_stamp < WARMUP_S
        return max(GAP_PERIODS * self.period, GAP_JITTERS * worst,
                   WARMUP_JUMP_S if young else 0.0)

    def split(self, stamps: np.ndarray) -> list[tuple[int, int, int]]:
        """(first row, end row, first_index) of each unbroken run of these samples."""
        stamps = np.asarray(stamps, np.float64)
        if stamps.size == 0:
            return []
        if self._first_stamp is None:
            self._first_stamp = float(stamps[0])
        expected = np.empty_like(stamps)
        expected[0] = stamps[0] if self._next_stamp is None else self._next_stamp
        expected[1:] = stamps[:-1] + self.period
        late = stamps - expected
        # Deduced stamps differ from one period by rounding alone.
        events = np.flatnonzero(np.abs(late) > 0.01 * self.period)
        runs, start = [], 0
        for row in events:
            jump, now = float(late[row]), float(stamps[row])
            tolerance = self.tolerance(now)
            if jump > tolerance:
                if row > start:
                    runs.append((start, int(row), self.index))
                    self.index += int(row) - start
                skipped = round(jump / self.period)
                self.index += skipped
                self.gaps += 1
                self.missing += skipped
                start = int(row)
            elif jump > -tolerance:
                self._jitter.append((now, abs(jump)))
        runs.append((start, stamps.size, self.index))
        self.index += stamps.size - start
        self._next_stamp = float(stamps[-1]) + self.period
        return runs


class LslDevice(Device):
    def __init__(self, uri: Uri, paced: bool = True):  # a stream keeps its own pace
        self.params, self._stream, info = _described(uri)
        super().__init__(info)
        self.uri = uri
        self.reconnects = 0
        _, self._dtype = FORMATS[self._stream.channel_format()]
        scales = info.details.get("uv_per_unit")
        self._scale = None if scales is None or set(scales) == {1.0} else np.float32(scales)
        self.gaps = GapCounter(info.fs)
        self._inlet = None
        self._queue = ChunkQueue(QUEUE_S)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # life cycle -------------------------------------------------------------------------
    def _open(self) -> None:
        self._inlet = self._connect(self._stream)

    def _connect(self, stream):
        pylsl = load_pylsl()
        # liblsl keeps up to max_buflen seconds for a reader that falls behind, then drops
        # the oldest: the stamps show the loss as a gap.
        inlet = pylsl.StreamInlet(stream, max_buflen=max(1, round(QUEUE_S)), recover=True,
                                  processing_flags=pylsl.proc_clocksync)
        try:
            inlet.open_stream(INFO_S)
        except lsl_errors(pylsl):
            del inlet
            raise DeviceError(f"{self.info.uri}: the LSL stream '{stream.name()}' did not "
                              f"let itself be opened within {INFO_S:g} s: is its outlet "
                              "still running?") from None
        return inlet

    def _start(self) -> None:
        if self._inlet is None:
            raise DeviceError(f"{self.info.uri} is not open")
        self._inlet.flush()  # what came while stopped shows as a gap, not as late samples
        self._stopping.clear()
        self._queue.restart()
        self._thread = threading.Thread(target=self._reader, name="lsl-reader", daemon=True)
        self._thread.start()

    def _stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            # A reader looking for a lost stream may be inside a resolve and an open.
            self._thread.join(timeout=2 * RETRY_S + INFO_S + 1.0)
            self._thread = None

    def _close(self) -> None:
        if self._inlet is not None:
            inlet, self._inlet = self._inlet, None
            try:
                inlet.close_stream()
            except Exception:  # a vanished outlet; the inlet is freed all the same
                log.debug("LSL inlet of %s closed with an error", self.info.uri)
            del inlet

    def _read(self, timeout: float | None) -> Chunk | None:
        return self._queue.get(timeout)

    @property
    def dropped_chunks(self) -> int:
        """Chunks dropped because the session's reader fell behind (the gap shows)."""
        return self._queue.dropped

    # the reader thread ------------------------------------------------------------------
    def _reader(self) -> None:
        pylsl = load_pylsl()
        _, lost_error = lsl_errors(pylsl)
        rows = max(int(self.info.fs * PULL_S * 4), 64)
        buf = np.empty((rows, self.info.channels), self._dtype)
        heard = time.monotonic()
        while not self._stopping.is_set():
            try:
                _, stamps = self._inlet.pull_chunk(timeout=PULL_S, max_samples=rows,
                                                   dest_obj=buf)
            except lost_error:
                self._reconnect(pylsl)
                heard = time.monotonic()
                continue
            except Exception as e:  # liblsl failed under us: say so to the reader
                self._fail(DeviceLost(f"{self.info.uri}: reading the LSL stream failed "
                                      f"({e}); open it again"))
                return
            n = len(stamps)
            if n == 0:
                if time.monotonic() - heard > NO_SIGNAL_S:
                    self.status = "no signal: reconnecting"
                continue
            heard = time.monotonic()
            self.status = "streaming"
            self._samples(buf[:n], np.asarray(stamps, np.float64))

    def _samples(self, raw: np.ndarray, stamps: np.ndarray) -> None:
        data = raw.astype(np.float32)
        if self._scale is not None:
            data *= self._scale
        for start, end, first in self.gaps.split(stamps):
            self._push(self._chunk(data[start:end], first))

    def _push(self, chunk: Chunk) -> None:
        self._queue.put(chunk, self.info.fs)

    def _fail(self, error: DeviceError) -> None:
        self.status = "lost"
        self._queue.fail(error)

    def _reconnect(self, pylsl) -> None:
        """liblsl gave the stream up (one without a source_id): look for it by name again.
        Its stamps, on this host's clock, then show the time away as a gap."""
        self.status = "no signal: reconnecting"
        self._close()
        while not self._stopping.wait(RETRY_S):
            found = pylsl.resolve_bypred(_predicate(self.uri.target, self.params), 1, RETRY_S)
            if not found:
                continue
            stream = found[0]
            if (stream.nominal_srate() != self.info.fs
                    or stream.channel_count() != self.info.channels
                    or stream.channel_format() != self._stream.channel_format()):
                self._fail(DeviceLost(f"{self.info.uri}: the LSL stream came back as "
                                      f"{_short(stream)}, no longer what was opened; open "
                                      "it again"))
                self._stopping.set()
                return
            try:
                self._inlet = self._connect(stream)
            except DeviceError:
                continue
            self.reconnects += 1
            return


def _discover() -> list[DeviceInfo]:
    # Listing never fails for want of LSL: without pylsl there is simply nothing to list.
    try:
        pylsl = load_pylsl()
        errors = (DeviceError, *lsl_errors(pylsl))
    except DeviceError:
        return []
    streams = pylsl.resolve_streams(DISCOVER_S)
    names = collections.Counter(s.name() for s in streams)
    deadline = time.monotonic() + DISCOVER_INFO_S
    found = []
    for s in streams:
        params = {"source_id": s.source_id()} if names[s.name()] > 1 and s.source_id() else {}
        text = f"lsl:{quote(s.name(), safe=' ')}" + (f"?{urlencode(params)}" if params else "")
        uri = Uri("lsl", s.name(), params, text)
        try:
            check_stream(s, text)
            left = deadline - time.monotonic()
            if left <= 0:
                log.info("LSL stream %s left out: no time left to read its description", text)
                continue
            inlet = pylsl.StreamInlet(s, max_buflen=1, recover=False)
            try:
                info = inlet.info(left)
            finally:
                del inlet
        except errors as e:
            log.info("LSL stream %s left out: %s", text, e)
            continue
        found.append(make_info(uri, info))
    return found


def make(uri: Uri, paced: bool = True) -> LslDevice:
    return LslDevice(uri, paced)


SCHEME = Scheme(
    name="lsl", help="a Lab Streaming Layer stream (research amplifiers), via pylsl; "
    "isolation unknown", describe=describe, make=make, discover=_discover,
    example="lsl:NeedleEMG",
)
