"""Procedure records in SQLite (sqlite-utils): schema, dose rules, audit trail, exports.
No Kivy here.

    from app.logbook import Logbook
    with Logbook(path) as lb:           # home()/logbook.db when path is None
        nurse = lb.add_user({"name": "...", "role": "nurse", "pin": "2468"})
        ...
        warnings = lb.check_injection(proc["id"], {"vial_id": v["id"], "units": 25, ...})
        lb.log_injection(proc["id"], {...}, nurse["id"], snippet={"samples": int16 array,
                         "uv_per_count": 0.5, "fs": 20000, "injection_index": 100000,
                         "findings": {...}, "source_uri": "spikerbox:/dev/ttyACM0",
                         "source_kind": "amplifier", "calibrated": True},
                         overrides={"per_site_max": "reason"}, override_by=physician["id"])

See docs/logbook.md.
"""

from app.logbook.errors import DiskFull, LogbookError, NotALogbook
from app.logbook.store import Logbook, default_path

__all__ = ["DiskFull", "Logbook", "LogbookError", "NotALogbook", "default_path"]
