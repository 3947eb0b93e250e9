"""Device URIs (`scheme:target?key=value&...`): parsing them, reading their typed
parameters, and what a scheme must provide. The registry (devices.registry) gathers the
schemes; each device module defines its own `SCHEME` with these pieces."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

from devices.base import Device, DeviceInfo
from devices.errors import UnknownDevice


@dataclass(frozen=True)
class Uri:
    scheme: str
    target: str
    params: dict[str, str]
    text: str


def parse_uri(text: str) -> Uri:
    if ":" not in text:
        raise UnknownDevice(f"'{text}' is not a device URI: write scheme:target")
    scheme, rest = text.split(":", 1)
    target, _, query = rest.partition("?")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise UnknownDevice(
            f"cannot read the parameters '{query}' of {text}: write key=value&key=value"
        ) from None
    params: dict[str, str] = {}
    for key, value in pairs:
        if key in params:
            raise UnknownDevice(f"parameter '{key}' is given twice in {text}")
        params[key] = value
    return Uri(scheme.lower(), unquote(target), params, text)


@dataclass(frozen=True)
class Param:
    """A URI parameter a scheme accepts: its type, default and a line of help."""

    kind: type
    default: object
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple | None = None


def read_params(uri: Uri, spec: dict[str, Param]) -> dict[str, object]:
    """Typed values for every parameter in `spec`, defaults filled in; a clear error names
    any unknown key or unusable value."""
    unknown = sorted(set(uri.params) - set(spec))
    if unknown:
        raise UnknownDevice(
            f"unknown parameter {', '.join(unknown)} in {uri.text}; "
            f"valid: {', '.join(sorted(spec)) or 'none'}"
        )
    out: dict[str, object] = {}
    for key, p in spec.items():
        if key not in uri.params:
            out[key] = p.default
            continue
        raw = uri.params[key]
        out[key] = _convert(key, raw, p, uri.text)
    return out


def _convert(key: str, raw: str, p: Param, where: str) -> object:
    try:
        if p.kind is bool:
            if raw.lower() in ("1", "true", "yes", "on", ""):
                value: object = True
            elif raw.lower() in ("0", "false", "no", "off"):
                value = False
            else:
                raise ValueError
        elif p.kind is int:
            value = int(raw)
        elif p.kind is float:
            value = float(raw)
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError
        else:
            value = raw
    except ValueError:
        raise UnknownDevice(
            f"{key}={raw} in {where} is not a valid {p.kind.__name__}"
        ) from None
    if p.choices is not None and value not in p.choices:
        raise UnknownDevice(
            f"{key}={raw} in {where}: choose one of {', '.join(map(str, p.choices))}"
        )
    if p.low is not None and value < p.low or p.high is not None and value > p.high:
        raise UnknownDevice(f"{key}={raw} in {where} is outside {p.low} to {p.high}")
    return value


@dataclass(frozen=True)
class Scheme:
    name: str
    help: str
    describe: Callable[[Uri], DeviceInfo]
    make: Callable[[Uri, bool], Device]  # (uri, paced) -> unopened device
    discover: Callable[[], list[DeviceInfo]]
    example: str
