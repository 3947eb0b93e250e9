"""The foot pedal's key. A USB foot pedal is a keyboard with one key; the key it sends
marks an injection whatever has focus, so it must be one no text field needs: the page
keys or a function key (docs/live-screen.md says which pedals send which). Space and Enter
mark too, from a keyboard, but only while nobody is typing."""

from __future__ import annotations

PEDAL_KEYS = ("pagedown", "pageup", *(f"f{n}" for n in range(1, 16)))
KEYBOARD_MARK_KEYS = {32, 13, 271}  # space, enter, keypad enter


def pedal_code(name: str) -> int:
    """Kivy's key code for a pedal key's name, or ValueError naming the choices."""
    from kivy.core.window import Keyboard

    key = name.strip().lower()
    if key not in PEDAL_KEYS:
        raise ValueError(f"pedal key {name!r} is not one text fields leave alone; choose one "
                         f"of {', '.join(PEDAL_KEYS)}")
    return Keyboard.keycodes[key]
