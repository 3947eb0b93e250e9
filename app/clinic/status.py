"""`clinic status`: on a tablet, what is waiting to go to the clinic server (audit entries
and EMG samples it does not hold yet), when it last pulled the others' records, and when
each tablet was last seen there, in local time; or, when the server cannot be reached, one
line with what is waiting since the last push this tablet recorded (clinic-pushed.json,
written by every push).

Reads the logbook only (read-only, beside the app) and the server as the tablet's role.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg

from app.clinic import dsn, server
from app.clinic.credentials import last_push
from app.clinic.errors import ClinicError, Unreachable
from app.clinic.schema import SCHEMA
from app.logbook import Logbook, ids, localtime
from app.logbook.pulled import WITH_EMG


@dataclass
class Status:
    tablet: str
    where: str
    entries: int  # audit entries waiting
    emg: int | None = None  # EMG samples waiting (None: the server was not reached)
    seen: list[tuple[str, str | None]] = field(default_factory=list)  # (tablet, stamp)
    why: str | None = None  # why the server was not reached
    last_push: dict | None = None
    pulled: str | None = None  # when this tablet last pulled the others' records

    def lines(self) -> list[str]:
        if self.why is not None:
            since = (f"since the push of {localtime.date_time(self.last_push['at'])}"
                     if self.last_push else "no push recorded on this tablet")
            return [f"clinic server not reachable ({self.where}: {self.why}): "
                    f"{self.entries} entries waiting ({since})"]
        out = [f"clinic server {self.where}, this tablet {self.tablet}",
               f"waiting to push: {self.entries} audit entries, {self.emg} EMG samples",
               f"last pulled the other tablets' records: "
               f"{localtime.date_time(self.pulled, missing='never')}",
               "tablets last seen:"]
        width = max(len(name) for name, _ in self.seen) if self.seen else 0
        out += [f"  {name:<{width}}  {localtime.date_time(at, missing='never')}"
                f"{'  (this tablet)' if name == self.tablet else ''}"
                for name, at in self.seen]
        return out


def status(lb: Logbook, creds: dict) -> Status:
    tablet = creds["tablet"]
    try:
        conn = server.connect(creds["dsn"])
    except Unreachable as e:
        pushed = last_push(tablet)
        return Status(tablet, e.where, _after(lb, pushed["seq"] if pushed else 0),
                      why=e.why, last_push=pushed)
    with conn:
        try:
            last = conn.execute(f"SELECT coalesce(max(seq), 0) FROM {SCHEMA}.audit WHERE "
                                f"tablet = {SCHEMA}.my_tablet()").fetchone()[0]
            there = {r[0] for r in conn.execute(
                f"SELECT id FROM {SCHEMA}.emg_samples WHERE tablet = {SCHEMA}.my_tablet()")}
            seen = [(name, at and ids.stamp(at)) for name, at in conn.execute(
                f"SELECT name, last_seen FROM {SCHEMA}.tablets ORDER BY name")]
        except psycopg.Error as e:
            raise ClinicError(f"the clinic server refused to be read: "
                              f"{server.first_line(e)}") from None
        where = dsn.where(dsn.params(creds["dsn"]))
    local = {r[0] for t in WITH_EMG for r in lb.db.execute(
        f"SELECT id FROM {t} WHERE origin IS NULL")}  # pulled rows are not this tablet's to push
    return Status(tablet, where, _after(lb, last), len(local - there), seen,
                  pulled=lb.clinic_reached())


def _after(lb: Logbook, seq: int) -> int:
    return lb.db.execute("SELECT count(*) FROM audit WHERE seq > ?", [seq]).fetchone()[0]
