"""The clinic server: one PostgreSQL that every tablet of a clinic pushes its records to
and pulls the others' from (issue 32). No Kivy; the tablet's own logbook (app.logbook)
stays the one the app writes to, and neither it, dsp nor devices imports this package.

    dsn.py          which connection strings are allowed (a Unix socket or this machine,
                    else TLS with the server's certificate verified)
    schema.py       the server's tables, roles' rights, row-level security and the
                    audit chain's check on arrival, as migrations of its own
    server.py       init (apply the migrations) and join (enrol a tablet: its own role)
    credentials.py  the tablet's clinic.json in NEEDLEPOINT_HOME, owner-only, and its
                    record of the last push (clinic-pushed.json)
    sync.py         the push: the audit trail and its rows in commit order, then the EMG
    verify.py       every tablet's audit chain on the server, checked as the tablet checks
    status.py       what waits to push, when each tablet was last seen
"""
