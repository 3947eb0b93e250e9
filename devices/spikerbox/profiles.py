"""What each board of the SpikerBox protocol family is, as data: how it identifies itself
(USB ids, the `HWT:` string), how fast it samples, how many bits, how to talk to it.

Facts from reference/spikerbox-protocol.md and Backyard Brains' USB guide (R7). None of
these amplifiers is rated for connection to a patient.
"""

from __future__ import annotations

from dataclasses import dataclass

from devices.base import Isolation
from devices.spikerbox.protocol import zero_for

NOT_ISOLATED = (
    "Not isolated for patient connection (no IEC 60601-1 type BF/CF rating): training and "
    "research only, or a battery-only tablet on an isolated set-up at the clinician's own "
    "judgement."
)

AVR_CLOCK_PPM = (2e6 / 199 / 10_000 - 1) * 1e6  # 16 MHz AVR timer: 10 050.25 Hz, not 10 kHz
BRIDGE_BAUDS = (222_222, 500_000)  # behind a USB-serial bridge the rate must be right
NATIVE_BAUDS = (230_400,)  # native USB ignores it; any value opens the port
# No public gain figure exists: an uncalibrated board is read as if its ADC spanned 5 mV
# (the emulator's ADC does, so an emulated board reads true microvolts before calibration).
NOMINAL_RANGE_UV = 5000.0
BOOTLOADERS = ((0x2E73, 0x0005), (0x2E73, 0x000A), (0x2E73, 0x000B))

_UNO = (0x2341, 0x0043)
_LEONARDO = (0x2341, 0x8036)
_FTDI = (0x0403, 0x6015)


@dataclass(frozen=True)
class Profile:
    """One board. `fs` is the nominal rate per channel at `channels`; on boards whose
    rate is shared (`shared_rate`, the Arduino ones) it is `fs * channels / n` at n
    channels, and boards with `expanded_fs` drop to it beyond `channels`."""

    key: str
    name: str
    hwt: tuple[str, ...]  # hardware type substrings that name this board
    fs: float
    channels: int
    max_channels: int
    bits: int
    usb: tuple[tuple[int, int], ...] = ()
    bauds: tuple[int, ...] = NATIVE_BAUDS
    needs_start: bool = False  # streams only after `start:;`
    shared_rate: bool = False
    expanded_fs: float | None = None
    clock_ppm: float = 0.0  # the board's known clock error
    isolation: Isolation = Isolation.NONE
    warning: str = NOT_ISOLATED

    @property
    def zero(self) -> int:
        return zero_for(self.bits)

    @property
    def nominal_uv_per_count(self) -> float:
        return NOMINAL_RANGE_UV / self.zero

    @property
    def max_count(self) -> int:
        return (1 << self.bits) - 1

    def fs_for(self, channels: int) -> float:
        """Nominal rate per channel when `channels` channels stream."""
        if not 1 <= channels <= self.max_channels:
            raise ValueError(f"{self.name} streams 1 to {self.max_channels} channels, "
                             f"not {channels}")
        if self.shared_rate:
            return self.fs * self.channels / channels
        if self.expanded_fs is not None and channels > self.channels:
            return self.expanded_fs
        return self.fs


def _arduino(key: str, name: str, hwt: tuple[str, ...], usb: tuple[int, int], *,
             max_channels: int = 6) -> Profile:
    """A board built on a 16 MHz AVR: 10 kHz shared by 1-6 channels, 10 bits."""
    return Profile(
        key=key, name=name, hwt=hwt, fs=10_000.0, channels=1, max_channels=max_channels,
        bits=10, usb=(usb,), bauds=NATIVE_BAUDS if usb == _LEONARDO else BRIDGE_BAUDS,
        shared_rate=True, clock_ppm=AVR_CLOCK_PPM,
    )


GENERIC = Profile(
    key="generic", name="generic 10-bit, 1 channel, 10 kHz Arduino sketch in SpikerBox "
    "framing", hwt=(), fs=10_000.0, channels=1, max_channels=6, bits=10,
    bauds=BRIDGE_BAUDS, shared_rate=True, clock_ppm=AVR_CLOCK_PPM,
)

# A USB id shared by several boards resolves to the first one listed here: right about the
# link, provisional about the rest until the board answers `b:;`.
PROFILES: tuple[Profile, ...] = (
    _arduino("muscle-shield", "Muscle SpikerShield", ("MUSCLESS",), _UNO),
    _arduino("neuron-shield", "Neuron SpikerShield", ("NEURONSS",), _UNO),
    _arduino("heart-shield", "Heart and Brain SpikerShield", ("HEARTSS",), _UNO),
    _arduino("claw", "Claw (EXTCLAW)", ("EXTCLAW",), _UNO),
    _arduino("plant", "Plant SpikerBox", ("PLANTSS",), _LEONARDO, max_channels=1),
    _arduino("heart-leonardo", "Heart and Brain SpikerBox (Leonardo)", ("HBLEOSB",),
             _LEONARDO),
    _arduino("muscle-box", "Muscle SpikerBox", ("MUSCUSB1",), _FTDI),
    _arduino("heart-box", "Heart and Brain SpikerBox", ("HBSBPRO",), _FTDI),
    _arduino("hhi", "Human-Human Interface", ("HHIBOX",), _FTDI),
    Profile(
        key="muscle-pro", name="Muscle SpikerBox Pro", hwt=("MSBPCDC", "MUSCLESB"),
        fs=10_000.0, channels=2, max_channels=4, bits=10, usb=((0x2E73, 0x0006),),
        needs_start=True, expanded_fs=5_000.0,
    ),
    Profile(
        key="neuron-pro", name="Neuron SpikerBox Pro", hwt=("NSBPCDC", "NEURONSB"),
        fs=10_000.0, channels=2, max_channels=4, bits=10, usb=((0x2E73, 0x0007),),
        needs_start=True, expanded_fs=5_000.0,
    ),
    Profile(
        key="neuron-pro-14", name="Neuron SpikerBox Pro (14-bit)", hwt=("NRNSBPRO",),
        fs=10_000.0, channels=2, max_channels=4, bits=14, usb=((0x2E73, 0x0009),),
        needs_start=True, expanded_fs=5_000.0,
    ),
    Profile(
        key="human", name="Human SpikerBox", hwt=("HUMANSB",), fs=5_000.0, channels=2,
        max_channels=4, bits=14, usb=((0x2E73, 0x0004),),
    ),
    Profile(
        key="spike-station", name="Spike Station", hwt=("UNIBOX",), fs=42_661.0,
        channels=1, max_channels=1, bits=14, usb=((0x2E73, 0x000D),),
    ),
    GENERIC,
)


def profile_for_hwt(text: str) -> Profile:
    """The board whose hardware type appears in `text` (an `HWT:` value or a whole reply),
    or the generic profile when none does."""
    upper = text.upper()
    for profile in PROFILES:
        if any(name in upper for name in profile.hwt):
            return profile
    return GENERIC


def profile_for_usb(vid: int, pid: int) -> Profile | None:
    """The board a USB id belongs to (the first listed, where several share it); None for
    ids outside the family, bootloaders included."""
    for profile in PROFILES:
        if (vid, pid) in profile.usb:
            return profile
    return None


def is_bootloader(vid: int, pid: int) -> bool:
    """A board waiting for firmware: never open it."""
    return (vid, pid) in BOOTLOADERS


# Upside Down Labs boards run their own Chords firmware, not this protocol: `WHORU` answered
# with the board's name, `START` / `STOP`, packets at 250 or 500 Hz (facts from their
# Chords-Arduino-Firmware and Chords-Python's chords_serial.py). Their Muscle BioAmp front
# ends are surface-EMG amplifiers with an analogue band of about 72-720 Hz. Such a board is
# recognised only to be refused: no firmware makes it a needle EMG amplifier.
CHORDS_RATES = {
    "UNO-R3": 250, "UNO-CLONE": 250, "GENUINO-UNO": 250, "UNO-R4": 500,
    "RPI-PICO-RP2040": 500, "NANO-CLONE": 250, "NANO-CLASSIC": 250,
    "STM32F4-BLACK-PILL": 500, "STM32G4-CORE-BOARD": 500, "MEGA-2560-R3": 250,
    "MEGA-2560-CLONE": 250, "GIGA-R1": 500, "NPG-LITE": 500,
}
BIOAMP_BAND_HZ = (72, 720)
