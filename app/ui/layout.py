"""What a screen shows, as data: every visible button, label and slider with its text and
its rectangle in window pixels, so that a layout can be checked by a program as well as by
eye (`needlepoint screenshot --widgets`)."""

from __future__ import annotations

from kivy.uix.button import Button
from kivy.uix.label import Label
from kivy.uix.scrollview import ScrollView
from kivy.uix.slider import Slider


def _kind(w) -> str | None:
    if isinstance(w, Button):
        return "button"
    if isinstance(w, Slider):
        return "slider"
    if isinstance(w, Label):
        return "label"
    return None


def _rect(w) -> tuple[float, float, float, float]:
    """(left, bottom, right, top) in window pixels."""
    x0, y0 = w.to_window(w.x, w.y)
    return x0, y0, x0 + w.width, y0 + w.height


def _ancestors(w):
    """`w`'s parents up to the window (whose parent is itself)."""
    p = w.parent
    while p is not None and p is not w:
        yield p
        w, p = p, p.parent


def _shown(w) -> bool:
    """Drawn at all: it and every parent opaque, not folded to nothing."""
    return all(v.opacity > 0 and v.width > 0 and v.height > 0
               for v in (w, *_ancestors(w)))


def _clip(w, rect):
    """The part of `rect` inside every ScrollView around `w` (None when nothing is)."""
    left, bottom, right, top = rect
    for p in _ancestors(w):
        if isinstance(p, ScrollView):
            a, b, c, d = _rect(p)
            left, bottom, right, top = max(left, a), max(bottom, b), min(right, c), min(top, d)
    return (left, bottom, right, top) if right > left and top > bottom else None


def visible_widgets(root) -> list[dict]:
    """The current screen's buttons, labels and sliders that are drawn, each with `kind`,
    `cls`, its .kv `id` where it has one, `text` (a slider's value), `rect` [left, top,
    width, height]: the part of it in view, in window pixels with the origin at the top
    left (as in the PNG), `in_scroll` (inside a region that scrolls), and `clipped` with
    `whole` (its whole rectangle) when a scrolling region hides part of it."""
    from kivy.core.window import Window

    screen = root.current_screen if hasattr(root, "current_screen") else root
    names = _names(screen)
    out = []
    for w in screen.walk(restrict=True):
        kind = _kind(w)
        if kind is None or not _shown(w):
            continue
        rect = _rect(w)
        seen = _clip(w, rect)
        if seen is None:
            continue
        text = getattr(w, "text", "") if kind != "slider" else f"{w.value:g}"
        if kind == "label" and not str(text).strip():
            continue
        item = {"kind": kind, "cls": type(w).__name__, "id": names.get(id(w), ""),
                "text": str(text), "rect": _png_rect(seen, Window.height),
                "in_scroll": _in_scroll(w), "clipped": seen != rect}
        if item["clipped"]:
            item["whole"] = _png_rect(rect, Window.height)
        out.append(item)
    return out


def _png_rect(r, height: float) -> list[float]:
    """(left, bottom, right, top) from the window's bottom as [left, top, width, height]
    from its top."""
    left, bottom, right, top = r
    return [round(left, 1), round(height - top, 1), round(right - left, 1),
            round(top - bottom, 1)]


def _names(screen) -> dict[int, str]:
    """The .kv ids of the widgets under `screen`, by the widget's identity."""
    names = {}
    for w in screen.walk(restrict=True):
        for name, ref in w.ids.items():
            names[id(getattr(ref, "__self__", ref))] = name
    return names


def _in_scroll(w) -> bool:
    return any(isinstance(p, ScrollView) for p in _ancestors(w))
