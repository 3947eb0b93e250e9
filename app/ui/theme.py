"""Colours of the dark theme, for dim procedure rooms: one place, used by every .kv file."""

BACKGROUND = (0.05, 0.06, 0.08, 1)
PANEL = (0.1, 0.12, 0.15, 1)
BUTTON = (0.16, 0.2, 0.26, 1)
CHOSEN = (0.2, 0.42, 0.36, 1)
TEXT = (0.9, 0.93, 0.95, 1)
DIM = (0.6, 0.66, 0.72, 1)
ACCENT = (0.55, 0.9, 0.75, 1)
MARK = (0.15, 0.45, 0.7, 1)
ALARM_BG = (0.62, 0.16, 0.1, 1)
TEXT_ON_ALARM = (1, 0.95, 0.9, 1)
METER = (0.3, 0.75, 0.55, 1)
