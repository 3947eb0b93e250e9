"""`spikerbox:auto` and `spikerbox:/dev/ttyACM0`: the Backyard Brains protocol family
(SpikerBoxes, SpikerShields, Arduino sketches in SpikerBox framing) over a serial port.

    spikerbox:auto                          the first board found by its USB id
    spikerbox:/dev/ttyUSB0?baud=500000      a port by name (pseudo-terminals too)
    spikerbox:auto?uv_per_count=0.5         a scale given by hand instead of the stored one
    spikerbox:/dev/ttyACM0?channels=2       shields: 1 to 6 channels (the rate is shared)

Opening identifies the board (`b:;`, asked a few times at most; boards that never answer
but stream frames are taken as a generic 10-bit board), probes the baud rates of FTDI
boxes, and sends what the board needs to stream. Upside Down Labs boards speak their own
Chords protocol at 250-500 Hz behind surface-EMG front ends: one that streams Chords
packets, or answers `WHORU` when silent to `b:;`, is refused with the reason, and left out
of `spikerbox:auto` and of the listing for the rest of the process. A reader thread turns
bytes into chunks of microvolts through a bounded queue. A pulled cable sets `status` to
"no signal: reconnecting"; the thread keeps trying and resumes on its own when the port
returns, the missing time showing as a jump in `first_index`. None of these amplifiers is
isolated for patient connection: their DeviceInfo says so (Isolation.NONE and the warning
in `details`).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import threading
import time
from dataclasses import dataclass

import numpy as np

from devices import calibration
from devices.base import Chunk, Device, DeviceInfo
from devices.chunk_queue import ChunkQueue
from devices.errors import DeviceError, UnknownDevice
from devices.spikerbox.profiles import (
    BIOAMP_BAND_HZ,
    CHORDS_RATES,
    GENERIC,
    NOT_ISOLATED,
    Profile,
    is_bootloader,
    profile_for_hwt,
    profile_for_usb,
)
from devices.spikerbox.protocol import Decoder, find_chords
from devices.uri import Param, Scheme, Uri, read_params

PARAMS = {
    "uv_per_count": Param(float, None, "microvolts per count, overriding the stored "
                          "calibration", low=1e-9),
    "channels": Param(int, None, "channels to stream (default the board's own)", 1, 6),
    "baud": Param(int, None, "serial rate (default: the board's; FTDI boxes are probed at "
                  "222222 then 500000)", 1200, 4_000_000),
    "hwt": Param(str, None, "take the board to be this hardware type (skips `b:;`)"),
}
READ_TIMEOUT_S = 0.02  # a read returns at least this often: stop and unplug are noticed
IDENTIFY_TRIES = 3
IDENTIFY_WAIT_S = 0.25
ARDUINO_RESET_S = 0.3  # opening an Arduino-based board resets it
RETRY_S = 0.2  # how often a lost port is looked for again
QUEUE_S = 2.0  # chunks kept for a reader that falls behind; older ones are dropped
# Chords firmware reads a command until a second passes without a byte (Arduino's
# readString): WHORU must come that long after the last `b:;`, and its answer comes a
# second after WHORU.
CHORDS_QUIET_S = 1.1
CHORDS_ANSWER_S = 1.6
SNIFF_BYTES = 4096  # what identification keeps of the board's bytes, to look for Chords

log = logging.getLogger(__name__)
# Boards found in this process to be no amplifier (calibration_key -> why): `auto` and the
# listing pass them by. A USB id cannot tell them apart: an Arduino Uno is an Arduino Uno.
_refused: dict[str, str] = {}


@dataclass(frozen=True)
class Port:
    path: str
    profile: Profile | None  # from the USB id, when the port has one
    serial_number: str | None


def _comports() -> list:
    try:
        from serial.tools import list_ports
    except ImportError:  # pragma: no cover - pyserial is a core dependency
        return []
    try:
        return list(list_ports.comports())
    except OSError:
        return []


def find_ports() -> tuple[list[Port], list[str]]:
    """Boards of the family by USB id (less those found to be no amplifier), and the ports
    of boards sitting in a bootloader."""
    boards, bootloaders = [], []
    for p in _comports():
        if p.vid is None:
            continue
        if is_bootloader(p.vid, p.pid):
            bootloaders.append(p.device)
            continue
        profile = profile_for_usb(p.vid, p.pid)
        if profile is None:
            continue
        port = Port(p.device, profile, p.serial_number)
        why = _refused.get(calibration_key(port))
        if why is None:
            boards.append(port)
        else:
            log.info("left out %s: %s", p.device, why)
    return boards, bootloaders


def _port_for(target: str) -> Port:
    """The port a URI names, or for `auto` the first board found; what USB says of it."""
    boards, bootloaders = find_ports()
    if target != "auto":
        for p in _comports():
            if p.device == target and p.vid is not None and is_bootloader(p.vid, p.pid):
                raise DeviceError(_bootloader_message(target))
        known = next((b for b in boards if b.path == target), None)
        return known or Port(target, None, None)
    if boards:
        return boards[0]
    if bootloaders:
        raise DeviceError(_bootloader_message(bootloaders[0]))
    if _refused:
        raise DeviceError(f"no SpikerBox found on USB, only: {next(iter(_refused.values()))}")
    raise DeviceError("no SpikerBox found on USB: plug one in, or name its port "
                      "(spikerbox:/dev/ttyACM0); `needlepoint emulate spikerbox` makes one")


def _bootloader_message(path: str) -> str:
    return (f"the board on {path} is in its bootloader, waiting for firmware: unplug it and "
            "plug it in again (Needlepoint never talks to a bootloader)")


def calibration_key(port: Port) -> str:
    return f"spikerbox:{port.serial_number}" if port.serial_number else f"spikerbox:{port.path}"


def chords_message(path: str, board: str | None) -> str:
    """Why an Upside Down Labs board speaking Chords is refused, in one line."""
    lo, hi = BIOAMP_BAND_HZ
    rate = CHORDS_RATES.get(board or "")
    who = f"an Upside Down Labs board ({board})" if board else (
        "an Upside Down Labs board (it did not give its name)")
    speed = (f"at {rate} Hz (so nothing above {rate // 2} Hz)" if rate else
             "at 250-500 Hz (so nothing above 125-250 Hz)")
    return (f"{path} is {who} speaking the Chords protocol, not a SpikerBox: it samples "
            f"{speed}, and Upside Down Labs' Muscle BioAmp front ends are surface-EMG amplifiers "
            f"passing about {lo}-{hi} Hz, so it cannot show needle EMG; that needs a needle "
            "EMG amplifier sampling at 10 kHz or more, its band reaching several kHz, "
            "isolated for patient connection")


def _scale(params: dict, port: Port, profile: Profile) -> tuple[float, bool, str]:
    """(microvolts per count, calibrated?, where the scale came from)."""
    if params["uv_per_count"] is not None:
        return params["uv_per_count"], True, "given in the device URI"
    try:
        stored = calibration.load(calibration_key(port))
    except DeviceError as e:
        stored, why = None, str(e)
    else:
        why = "never calibrated: run needlepoint calibrate"
    if stored is not None:
        return stored.uv_per_count, True, f"calibrated {stored.when} ({stored.how})"
    guess = profile.nominal_uv_per_count
    return guess, False, f"UNCALIBRATED ({why}); {guess:.4g} uV per count assumed"


def _info(uri: Uri, params: dict, port: Port, profile: Profile, *, identified: str,
          baud: int | None = None) -> DeviceInfo:
    channels = params["channels"] or profile.channels
    try:
        fs = profile.fs_for(channels)
    except ValueError as e:
        raise UnknownDevice(f"{e} ({uri.text})") from None
    uv, calibrated, how = _scale(params, port, profile)
    name = f"{profile.name} on {port.path}" + ("" if calibrated else " (UNCALIBRATED)")
    return DeviceInfo(
        uri=uri.text, name=name, kind="serial", fs=fs, channels=channels,
        channel_labels=tuple(f"EMG{k + 1}" for k in range(channels)), uv_per_count=uv,
        calibrated=calibrated, isolation=profile.isolation,
        range_uv=uv * (profile.max_count - profile.zero),
        details={"warning": NOT_ISOLATED, "board": profile.key, "port": port.path,
                 "identified": identified, "calibration": how, "bits": profile.bits,
                 "baud": baud or profile.bauds[0],
                 "calibration_key": calibration_key(port)},
    )


@dataclass(frozen=True)
class _Named:
    """What a URI names, worked out once: its parameters, the port and the board as known
    before opening (the board's answer to `b:;` may refine type, rate and channels)."""

    params: dict
    port: Port
    profile: Profile
    identified: str

    @classmethod
    def of(cls, uri: Uri) -> _Named:
        params = read_params(uri, PARAMS)
        port = _port_for(uri.target or "auto")
        if params["hwt"]:
            return cls(params, port, profile_for_hwt(params["hwt"]), "given")
        if port.profile is not None:
            return cls(params, port, port.profile, "by USB id")
        return cls(params, port, GENERIC, "not yet (opens as generic)")

    def info(self, uri: Uri) -> DeviceInfo:
        return _info(uri, self.params, self.port, self.profile, identified=self.identified)


def describe(uri: Uri) -> DeviceInfo:
    """What the URI will open, as far as is known without opening it."""
    return _Named.of(uri).info(uri)


def _open_serial(path: str, baud: int):
    import serial

    try:
        return serial.Serial(path, baud, timeout=READ_TIMEOUT_S, exclusive=True)
    except serial.SerialException as e:
        raise DeviceError(_open_message(path, e)) from None
    except (OSError, ValueError) as e:
        raise DeviceError(f"cannot open {path}: {e}") from None


def _open_message(path: str, e: Exception) -> str:
    code = getattr(e, "errno", None)
    text = str(e)
    if code == errno.EACCES or "Permission denied" in text:
        return (f"permission denied on {path}: add your user to the dialout group "
                "(sudo usermod -aG dialout $USER, then log in again)")
    if code == errno.ENOENT or "No such file" in text:
        return (f"{path} does not exist: is the board plugged in? `needlepoint devices` "
                "lists what is connected")
    if code in (errno.EBUSY, errno.EAGAIN) or "exclusively lock" in text or "busy" in text:
        return (f"{path} is busy: another program (Spike Recorder, a serial monitor, another "
                "Needlepoint) has it open; close that first")
    return f"cannot open {path}: {text}"


class SpikerBoxDevice(Device):
    def __init__(self, uri: Uri, paced: bool = True):
        named = _Named.of(uri)
        super().__init__(named.info(uri))
        self.uri = uri
        self.params, self.port, self.profile = named.params, named.port, named.profile
        self.baud: int | None = None
        self.markers: list[tuple[int, str]] = []  # (frame index, EVNT value)
        self.reconnects = 0
        self._serial = None
        self._decoder: Decoder | None = None
        self._index = 0
        self._queue = ChunkQueue(QUEUE_S)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._asked_whoru = False

    # opening: link, identity, configuration --------------------------------------------
    def _open(self) -> None:
        self._asked_whoru = False
        bauds = (self.params["baud"],) if self.params["baud"] else self.profile.bauds
        last = None
        for baud in bauds:
            ser = _open_serial(self.port.path, baud)
            try:
                hwt, heard = self._identify(ser)
            except BaseException:
                ser.close()
                raise
            if hwt is not None or heard:
                self._serial, self.baud = ser, baud
                self._settle(hwt)
                return
            ser.close()
            last = baud
        tried = ", ".join(str(b) for b in bauds)
        raise DeviceError(
            f"{self.port.path} is not a SpikerBox: no answer to b:; (nor to Chords' WHORU) "
            f"and no samples at {tried} baud (last {last}); check the port, or give ?baud= "
            "and ?hwt="
        )

    def _identify(self, ser) -> tuple[str | None, bool]:
        """(hardware type or None, whether anything of the protocol was heard). A board
        speaking Chords instead is refused here."""
        if self.params["hwt"]:
            return self.params["hwt"], True
        if self.profile.shared_rate:
            time.sleep(ARDUINO_RESET_S)
        decoder = Decoder(1)
        heard = False
        sniffed = bytearray()
        for _ in range(IDENTIFY_TRIES):
            ser.write(b"b:;\n")
            asked = time.monotonic()
            deadline = asked + IDENTIFY_WAIT_S
            while time.monotonic() < deadline:
                data = ser.read(max(ser.in_waiting, 1))
                sniffed += data
                out = decoder.feed(data)
                heard = heard or out.frames.shape[0] > 0 or decoder.blocks > 0
                for kind, value in out.messages:
                    if kind == "HWT":
                        return value, True
            # Chords packets decode as frames too (C7 has its top bit set): look first.
            if find_chords(sniffed) is not None:
                name = _named_in(sniffed) or self._whoru(ser, asked, streaming=True)
                self._refuse(chords_message(self.port.path, name))
            del sniffed[:-SNIFF_BYTES]
        if not heard and not self._asked_whoru:
            self._asked_whoru = True
            board = self._whoru(ser, asked, streaming=False)
            if board is not None:
                self._refuse(chords_message(self.port.path, board))
        return None, heard

    def _whoru(self, ser, asked: float, *, streaming: bool) -> str | None:
        """A Chords board's answer to `WHORU`, sent once the firmware has given up on our
        last `b:;` (at `asked`): its name, or None. From a board already streaming packets
        only a known name can be picked out of the bytes."""
        time.sleep(max(0.0, asked + CHORDS_QUIET_S - time.monotonic()))
        ser.reset_input_buffer()
        ser.write(b"WHORU\n")
        deadline = time.monotonic() + CHORDS_ANSWER_S
        answer = bytearray()
        while time.monotonic() < deadline and len(answer) < SNIFF_BYTES:
            answer += ser.read(max(ser.in_waiting, 1))
            known = _named_in(answer)
            if known is not None:
                return known
            if not streaming and b"\n" in answer:
                break
        if streaming:
            return None
        line = bytes(answer).split(b"\n")[0].strip()
        if b"\n" not in answer or not 0 < len(line) <= 40 or not line.isascii():
            return None
        text = line.decode("ascii")
        return text if text.isprintable() else None

    def _refuse(self, why: str) -> None:
        _refused[calibration_key(self.port)] = why
        raise DeviceError(why)

    def _settle(self, hwt: str | None) -> None:
        """Take the identified board's profile, tell it what to stream, describe it."""
        if hwt is not None and not self.params["hwt"]:
            found = profile_for_hwt(hwt)
            if found is not GENERIC or self.port.profile is None:
                self.profile = found
        identified = f"HWT:{hwt}" if hwt else "no answer to b:; (generic board)"
        self.info = _info(self.uri, self.params, self.port, self.profile,
                          identified=identified, baud=self.baud)
        self._configure(self._serial)

    def _configure(self, ser) -> None:
        channels = self.info.channels
        if self.profile.shared_rate and channels != self.profile.channels:
            ser.write(f"c:{channels};\n".encode())
        if self.profile.needs_start:
            ser.write(b"start:;\n")
        self._decoder = Decoder(channels)

    # streaming ---------------------------------------------------------------------------
    def _start(self) -> None:
        if self._serial is None:  # restarted after a stop: the port was kept
            raise DeviceError(f"{self.info.uri} is not open")
        self._stopping.clear()
        self._queue.restart()
        self.status = "streaming"
        self._thread = threading.Thread(target=self._reader, name="spikerbox-reader",
                                        daemon=True)
        self._thread.start()

    def _stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        if self.profile.needs_start and self._serial is not None:
            with contextlib.suppress(Exception):  # a vanished port cannot be told to stop
                self._serial.write(b"h:;\n")

    def _close(self) -> None:
        if self._serial is not None:
            self._serial.close()
            self._serial = None

    def _read(self, timeout: float | None) -> Chunk | None:
        return self._queue.get(timeout)

    @property
    def dropped_chunks(self) -> int:
        """Chunks dropped because the session's reader fell behind (the gap shows)."""
        return self._queue.dropped

    def _reader(self) -> None:
        import serial

        while not self._stopping.is_set():
            ser = self._serial
            try:
                data = ser.read(max(ser.in_waiting, 1))
            except (serial.SerialException, OSError, TypeError, AttributeError):
                # TypeError/AttributeError: pyserial's fd vanished under it mid-read
                self._reconnect()
                continue
            if data:
                self._bytes(data)

    def _bytes(self, data: bytes) -> None:
        out = self._decoder.feed(data)
        for kind, value in out.messages:
            if kind == "EVNT":
                self.markers.append((self._index, value))
        n = out.frames.shape[0]
        if n == 0:
            return
        uv = (out.frames.astype(np.float32) - np.float32(self.profile.zero))
        uv *= np.float32(self.info.uv_per_count * self.info.sign)
        self._push(self._chunk(uv, self._index))
        self._index += n

    def _push(self, chunk: Chunk) -> None:
        self._queue.put(chunk, self.info.fs)

    # a pulled cable --------------------------------------------------------------------
    def _reconnect(self) -> None:
        lost_at = time.monotonic()
        self.status = "no signal: reconnecting"
        with contextlib.suppress(Exception):  # already gone with the cable
            self._serial.close()
        while not self._stopping.wait(RETRY_S):
            try:
                port = _port_for(self.uri.target or "auto")
                ser = _open_serial(port.path, self.baud or self.profile.bauds[0])
            except DeviceError:
                continue
            if self.profile.shared_rate:
                time.sleep(ARDUINO_RESET_S)
            try:
                self._configure(ser)
            except Exception:
                ser.close()
                continue
            self._serial = ser
            # Frames the board made while unplugged are gone: the clock moves on by them.
            self._index += round((time.monotonic() - lost_at) * self.info.fs)
            self.reconnects += 1
            self.status = "streaming"
            return


def _named_in(data: bytes) -> str | None:
    """A Chords board's name, where one of the known ones appears among its bytes."""
    return next((name for name in CHORDS_RATES if name.encode() in data), None)


def _discover() -> list[DeviceInfo]:
    boards, _ = find_ports()
    found = []
    for port in boards:
        uri = Uri("spikerbox", port.path, {}, f"spikerbox:{port.path}")
        found.append(_info(uri, read_params(uri, PARAMS), port, port.profile,
                           identified="by USB id"))
    return found


def make(uri: Uri, paced: bool = True) -> SpikerBoxDevice:
    return SpikerBoxDevice(uri, paced)


SCHEME = Scheme(
    name="spikerbox", help="Backyard Brains SpikerBox / SpikerShield (serial); NOT isolated "
    "for patient connection", describe=describe, make=make,
    discover=_discover, example="spikerbox:auto",
)
