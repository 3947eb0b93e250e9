"""Where samples come from: amplifiers, sound cards, files and the simulator. No Kivy here."""

from devices.base import Chunk, Device, DeviceInfo, Isolation, read_frames
from devices.errors import DeviceError, DeviceLost, UnknownDevice
from devices.registry import DEFAULT_URI, describe, discover, make_device, open_device

__all__ = [
    "DEFAULT_URI", "Chunk", "Device", "DeviceError", "DeviceInfo", "DeviceLost", "Isolation",
    "UnknownDevice", "describe", "discover", "make_device", "open_device", "read_frames",
]
