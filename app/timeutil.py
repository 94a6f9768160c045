"""Time at the edges: UTC in storage, Europe/Stockholm for people.

A timestamp without an offset is read as Swedish local time (what a person in the field
means), never as UTC.
"""
from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np

STOCKHOLM = ZoneInfo("Europe/Stockholm")
DAY_US = 86_400_000_000


def utcnow() -> dt.datetime:
    """The current instant, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


def local_today() -> dt.date:
    """Today's date in Sweden (the EST cycles, actions and lägesbild periods are Swedish days)."""
    return utcnow().astimezone(STOCKHOLM).date()


def to_utc(value: dt.datetime) -> dt.datetime:
    """Aware -> UTC; naive -> interpreted as Europe/Stockholm, then UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=STOCKHOLM)
    return value.astimezone(dt.UTC)


def local_iso(value: dt.datetime | None) -> str | None:
    """ISO 8601 in Europe/Stockholm with its offset (e.g. 2026-11-21T22:15:00+01:00)."""
    return None if value is None else value.astimezone(STOCKHOLM).isoformat()


@lru_cache(maxsize=100_000)
def _stockholm_offset_s(hour: int) -> int:
    """UTC offset of Europe/Stockholm in seconds during UTC hour ``hour`` (since the epoch).
    Offsets change only on whole UTC hours, so one lookup per hour is exact."""
    return int(dt.datetime.fromtimestamp(hour * 3600, STOCKHOLM).utcoffset().total_seconds())


def local_iso_array(epoch_s: np.ndarray, *, spreadsheet: bool = False) -> list[str | None]:
    """Vectorised :func:`local_iso` to the second, for exports: UTC epoch seconds (NaN for
    missing) -> ``2026-11-21T22:15:00+01:00``, or with ``spreadsheet`` the wall-clock time
    ``2026-11-21 22:15:00`` that Excel reads as a date. One zone lookup per distinct hour
    instead of one conversion per value."""
    epoch = np.asarray(epoch_s, dtype=np.float64)
    missing = np.isnan(epoch)
    seconds = np.floor(np.where(missing, 0.0, epoch)).astype(np.int64)
    hours, where = np.unique(seconds // 3600, return_inverse=True)
    offsets = np.array([_stockholm_offset_s(int(h)) for h in hours.tolist()], dtype=np.int64)[where.ravel()]
    text = np.datetime_as_string((seconds + offsets).astype("datetime64[s]"), unit="s").tolist()
    if spreadsheet:
        out = [t.replace("T", " ") for t in text]
    else:
        out = [t + ("+02:00" if o == 7200 else "+01:00") for t, o in zip(text, offsets.tolist())]
    for i in np.flatnonzero(missing).tolist():
        out[i] = None
    return out


@lru_cache(maxsize=100_000)
def _wall_day_offsets_us(day: int) -> tuple[int, int]:
    """Europe/Stockholm's UTC offset at 00:00 and at 23:00 wall-clock time on day ``day``
    (since 1970) in microseconds: equal unless the clocks change that day."""
    def offset_us(hour: int) -> int:
        local = (dt.datetime(1970, 1, 1) + dt.timedelta(days=day, hours=hour)).replace(tzinfo=STOCKHOLM)
        return local.utcoffset() // dt.timedelta(microseconds=1)

    return offset_us(0), offset_us(23)


def stockholm_wall_to_utc_us(wall_us: np.ndarray) -> np.ndarray:
    """Swedish wall-clock times (microseconds since 1970 as if the clock read UTC) -> UTC
    microseconds, vectorised: the offset is looked up once per calendar day (and remembered:
    a feed sends the same days again and again), and only times on a day the clocks change go
    through :func:`to_utc` one by one (an hour that occurs twice is its first occurrence, a
    skipped hour is read with the offset before the change, as Python's ``fold=0``)."""
    wall_us = np.asarray(wall_us, dtype=np.int64)
    days, inverse = np.unique(wall_us // DAY_US, return_inverse=True)
    offsets = np.array([_wall_day_offsets_us(d) for d in days.tolist()], dtype=np.int64).reshape(-1, 2)
    first, last = offsets[:, 0], offsets[:, 1]
    utc = wall_us - first[inverse]
    for i in np.flatnonzero((first != last)[inverse]):  # a day with a clock change
        local = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=int(wall_us[i]))
        utc[i] = (to_utc(local) - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)
    return utc
