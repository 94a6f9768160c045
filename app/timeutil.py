"""Time at the edges: UTC in storage, Europe/Stockholm for people.

A timestamp without an offset is read as Swedish local time (what a person in the field
means), never as UTC.
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def utcnow() -> dt.datetime:
    """The current instant, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


def to_utc(value: dt.datetime) -> dt.datetime:
    """Aware -> UTC; naive -> interpreted as Europe/Stockholm, then UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=STOCKHOLM)
    return value.astimezone(dt.UTC)


def local_iso(value: dt.datetime | None) -> str | None:
    """ISO 8601 in Europe/Stockholm with its offset (e.g. 2026-11-21T22:15:00+01:00)."""
    return None if value is None else value.astimezone(STOCKHOLM).isoformat()
