"""Procedure records in SQLite (sqlite-utils): schema, dose rules, audit trail, exports.
No Kivy here."""
