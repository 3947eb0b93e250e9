"""The app's own settings (last device, preset, sound, display), kept as JSON in the home
folder, written atomically; a damaged file is set aside and defaults used. No Kivy, and no
patient data ever goes here."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from devices import DEFAULT_URI
from devices.files import atomic_write, home


@dataclass
class Settings:
    device: str = DEFAULT_URI
    preset: str = "spontaneous"
    volume: float = 0.6
    negative_up: bool = True
    mains_hz: int = 0  # 0: off; 50 or 60 cancels hum
    output: str = ""  # sound output by name; "" the system's
    # The clinic's declaration for sound card preamps, by card name: "none", "BF", "CF" or
    # "unknown". A sound card cannot tell; the app never assumes.
    soundcard_isolation: dict = field(default_factory=dict)
    # Seconds without a touch or a key before the records lock: kept within 30 s and 30 min
    # (app.workflow.access); 0 no longer turns the lock off.
    lock_after_s: int = 120
    # The clinic's fewest digits for a new PIN: 4 to 12 (app.logbook.pins); PINs already set
    # keep working.
    pin_min_length: int = 4
    density: float = 0.0  # pixels per dp; 0: the screen's ppi / 160 (app.ui.display)
    fullscreen: bool = False  # on a desktop; Android always is
    # The key a foot pedal sends: it marks an injection whatever has focus (app.ui.pedal).
    pedal_key: str = "pagedown"


def path() -> Path:
    return home() / "settings.json"


def load() -> Settings:
    p = path()
    try:
        raw = json.loads(p.read_text())
        known = {f.name for f in fields(Settings)}
        return Settings(**{k: v for k, v in raw.items() if k in known})
    except FileNotFoundError:
        return Settings()
    except (ValueError, TypeError):
        p.replace(p.with_suffix(".damaged.json"))  # kept for a look, never lost
        return Settings()


def save(s: Settings) -> None:
    p = path()
    p.parent.mkdir(parents=True, exist_ok=True)
    # Owner-only, as it has always been: no patient data, but this user's set-up of the
    # tablet (devices, the clinic's isolation declarations), which nobody else needs to read.
    with atomic_write(p, 0o600) as f:
        json.dump(asdict(s), f, indent=2)
