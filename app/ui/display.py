"""The screen the app opens on: its density (so a dp is 1/160 inch on every screen) and
whether the window fills it. Kivy reads both when first imported: `prepare_display` runs
before.

Android reports its density and Kivy uses it. A desktop Linux session says nothing, and
Kivy then takes one pixel per dp: on a 2736x1824 tablet panel that halves every target.
Here the density comes from the X server's own size of the screen (pixels over
millimetres: ppi / 160), never below 1 (a desktop monitor, read from further away than a
tablet, keeps its pixels), unless the settings or the command line name one.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

DP_PER_INCH = 160.0
MM_PER_INCH = 25.4
DENSITY_MIN, DENSITY_MAX = 0.75, 4.0  # outside this a stated density is a typo


def screen_ppi() -> float | None:
    """Pixels per inch across the X screen, as its server states them; None without X
    (Wayland alone, no display) or when it states no size."""
    found = x_screen()
    if found is None:
        return None
    px, _, mm = found
    return px * MM_PER_INCH / mm if px > 0 and mm > 0 else None


def x_screen() -> tuple[int, int, int] | None:
    """The X screen's width and height in pixels and its width in millimetres, as its
    server states them; None without X."""
    name = ctypes.util.find_library("X11")
    if not name or not os.environ.get("DISPLAY"):
        return None
    try:
        x11 = ctypes.CDLL(name)
        x11.XOpenDisplay.restype = ctypes.c_void_p
        x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
        for f in (x11.XDefaultScreen, x11.XDisplayWidth, x11.XDisplayHeight,
                  x11.XDisplayWidthMM):
            f.restype = ctypes.c_int
        x11.XDefaultScreen.argtypes = [ctypes.c_void_p]
        for f in (x11.XDisplayWidth, x11.XDisplayHeight, x11.XDisplayWidthMM):
            f.argtypes = [ctypes.c_void_p, ctypes.c_int]
        x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
        d = x11.XOpenDisplay(None)
        if not d:
            return None
        try:
            screen = x11.XDefaultScreen(d)
            return (x11.XDisplayWidth(d, screen), x11.XDisplayHeight(d, screen),
                    x11.XDisplayWidthMM(d, screen))
        finally:
            x11.XCloseDisplay(d)
    except (OSError, AttributeError):
        return None


def check_density(value: float) -> float:
    """A stated density, or ValueError saying what is allowed."""
    if not DENSITY_MIN <= value <= DENSITY_MAX:
        raise ValueError(f"a density of {value:g} is outside {DENSITY_MIN:g}-{DENSITY_MAX:g} "
                         "(1 for 160 ppi, 2 for 320 ppi); 0 takes it from the screen")
    return float(value)


def choose_density(stated: float | None, ppi: float | None) -> tuple[float, str]:
    """(density, where it came from): the stated one when given (not 0), else the screen's
    ppi / 160, never below 1, else 1."""
    if stated:
        return check_density(stated), "stated"
    if ppi:
        return round(max(1.0, min(ppi / DP_PER_INCH, DENSITY_MAX)), 2), f"screen, {ppi:.0f} ppi"
    return 1.0, "default (the screen states no size)"


def on_android() -> bool:
    return "ANDROID_ARGUMENT" in os.environ or hasattr(sys, "getandroidapilevel")


def prepare_display(*, density: float | None = None, fullscreen: bool = False,
                    size: tuple[int, int] | None = None) -> tuple[float, str]:
    """Set Kivy's density and window before Kivy is imported. `size` fixes the window (a
    screenshot); otherwise it opens fullscreen on Android or when asked, else as a window
    the size of the screen, maximised (a window manager then leaves room for its bars).
    Returns the density in use and where it came from."""
    if "kivy.core.window" in sys.modules:
        raise RuntimeError("prepare_display must run before the Kivy window exists")
    if on_android() and not density:
        chosen, source = 0.0, "Android"  # Kivy takes the platform's
    else:
        chosen, source = choose_density(density, screen_ppi())
        os.environ["KIVY_METRICS_DENSITY"] = f"{chosen:g}"
    from kivy.config import Config

    if size is not None:
        Config.set("graphics", "width", str(size[0]))
        Config.set("graphics", "height", str(size[1]))
        Config.set("graphics", "resizable", "0")
        Config.set("graphics", "fullscreen", "0")
    elif fullscreen or on_android():
        Config.set("graphics", "fullscreen", "auto")
    else:
        found = x_screen()
        if found is not None and found[0] > 0 and found[1] > 0:
            Config.set("graphics", "width", str(found[0]))
            Config.set("graphics", "height", str(found[1]))
        Config.set("graphics", "window_state", "maximized")
    return chosen, source
