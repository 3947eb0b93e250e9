"""Errors a device can raise. Each message says what to change."""


class DeviceError(Exception):
    """A device could not be named, opened or read. The message is for the user."""


class UnknownDevice(DeviceError):
    """The URI names a scheme, scenario or parameter that does not exist."""


class DeviceLost(DeviceError):
    """The source went away while running (cable pulled, file removed)."""
