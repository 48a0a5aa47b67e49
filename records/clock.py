"""Time in the catalogue: everything is stored and compared in UTC.

SQLite hands back naive datetimes for ``DateTime(timezone=True)`` columns;
they are UTC, and :func:`as_utc` says so. Showing a time to a person in the
office's time zone is the interface's job (``web``), never the catalogue's.
"""
from __future__ import annotations

from datetime import datetime, timezone


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(value: datetime | None) -> datetime | None:
    """``value`` as an aware UTC datetime (a naive one is UTC already); None stays None."""
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value
