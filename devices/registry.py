"""The registry that turns device URIs into devices: every scheme's description, maker and
discovery, simulator and file replay beside the hardware. The URI grammar is devices.uri."""

from __future__ import annotations

from devices import lsl, physio, replay, simulator, soundcard
from devices.base import Device, DeviceInfo
from devices.errors import UnknownDevice
from devices.spikerbox import device as spikerbox
from devices.uri import Scheme, Uri, parse_uri

DEFAULT_URI = "sim:denervated"  # something to see and hear on a fresh machine

SCHEMES: dict[str, Scheme] = {
    s.name: s for s in (simulator.SCHEME, physio.SCHEME, replay.SCHEME, spikerbox.SCHEME,
                        soundcard.SCHEME, lsl.SCHEME)
}


def schemes() -> list[Scheme]:
    return list(SCHEMES.values())


def scheme_list() -> str:
    return ", ".join(f"{s.name}:" for s in schemes())


def _parse(text: str) -> Uri:
    if ":" not in text:
        raise UnknownDevice(
            f"'{text}' is not a device URI: write scheme:target, one of {scheme_list()}"
        )
    return parse_uri(text)


def _scheme(uri: Uri) -> Scheme:
    if uri.scheme not in SCHEMES:
        raise UnknownDevice(
            f"unknown device scheme '{uri.scheme}:' in {uri.text}; valid schemes: "
            + "; ".join(f"{s.name}: ({s.help}, e.g. {s.example})" for s in schemes())
        )
    return SCHEMES[uri.scheme]


def describe(text: str) -> DeviceInfo:
    """What the URI names, without opening it."""
    uri = _parse(text)
    return _scheme(uri).describe(uri)


def make_device(text: str, *, paced: bool = True) -> Device:
    """An unopened device for the URI. `paced=False` lets simulator and replay run as fast
    as they are read; hardware ignores it."""
    uri = _parse(text)
    return _scheme(uri).make(uri, paced)


def open_device(text: str, *, paced: bool = True) -> Device:
    return make_device(text, paced=paced).open()


def discover() -> list[DeviceInfo]:
    """Everything that can be opened now, simulator first."""
    found: list[DeviceInfo] = []
    for s in schemes():
        found.extend(s.discover())
    return found
