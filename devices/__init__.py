"""Where samples come from: amplifiers, sound cards, files and the simulator. No Kivy here.

The registry (every device module, the simulators and scipy with them) is imported the
first time one of its names is asked for, not with the package: `devices.files`, which
the logbook and every export use, then costs a few milliseconds instead of a second in
each command that never opens a device."""

from devices.base import Chunk, Device, DeviceInfo, Isolation, read_frames
from devices.errors import DeviceError, DeviceLost, UnknownDevice

_REGISTRY = ("DEFAULT_URI", "describe", "discover", "make_device", "open_device")

__all__ = [
    "DEFAULT_URI", "Chunk", "Device", "DeviceError", "DeviceInfo", "DeviceLost", "Isolation",
    "UnknownDevice", "describe", "discover", "make_device", "open_device", "read_frames",
]


def __getattr__(name: str):
    if name in _REGISTRY:
        from devices import registry

        value = getattr(registry, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'devices' has no attribute {name!r}")
