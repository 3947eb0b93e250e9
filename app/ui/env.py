"""Kivy reads its settings from the environment when first imported: set them before."""

from __future__ import annotations

import os
from pathlib import Path


def prepare_kivy(home: Path) -> None:
    os.environ.setdefault("KIVY_NO_ARGS", "1")  # our command line is ours, not Kivy's
    os.environ.setdefault("KIVY_HOME", str(home / "kivy"))  # never write ~/.kivy
    os.environ.setdefault("KIVY_CLIPBOARD", "sdl2")  # xclip can hang a pipeline on exit
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
    os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    Path(os.environ["KIVY_HOME"]).mkdir(parents=True, exist_ok=True)


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def gl_strings() -> dict:
    """The GL renderer and version in use (a window must be open), for reports."""
    try:
        from kivy.graphics.opengl import GL_RENDERER, GL_VERSION, glGetString

        return {"renderer": glGetString(GL_RENDERER).decode(errors="replace"),
                "version": glGetString(GL_VERSION).decode(errors="replace")}
    except Exception as e:  # noqa: BLE001 (a report, not a failure)
        return {"error": str(e)}
