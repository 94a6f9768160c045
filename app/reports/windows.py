"""Which reports' occurrence windows reach past an instant, written so that PostgreSQL reads
bounded index ranges instead of every later report.

"Started before t and ends at or after t" on the occurrence index (keyed on the window's end)
is a range from t to the end of time: for a period months back, every report since. Most
windows are short, so it is split in two: windows ending within LONG_WINDOW after t (a bounded
range of that index) and the long windows ending later (their own partial index,
ix_report_long_windows; any window that started before t and ends LONG_WINDOW or more after it
is longer than LONG_WINDOW, so the second part loses nothing). Used by the report point tiles
(app/gis/tiles.py). Not by the report lists (OGC API items, exports) with a period: there the
count is already an index-only scan, and a page is read newest first by reported_at, which the
split does not help (measured on 1,000,000 reports: the first page of a period months back
172-276 ms either way, and a recent period 27 -> 50 ms with it)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, literal_column

from app.reports.models import LONG_WINDOW, LONG_WINDOW_SQL, Report


def reaching_past(instant: dt.datetime) -> tuple[tuple[ColumnElement[bool], ...], tuple[ColumnElement[bool], ...]]:
    """Windows that start before ``instant`` and end at or after it, as two disjoint sets of
    conditions, each one bounded read: ending within LONG_WINDOW after it, and the long ones
    ending later."""
    # 24 hours later in UTC, as the index's interval '1 day' compares (a local day after a
    # midnight is 23 hours long on the spring DST night; windows of 23-24 h would fall between).
    a_day_after = instant.astimezone(dt.UTC) + LONG_WINDOW
    soon = (Report.occurred_to >= instant, Report.occurred_to < a_day_after, Report.occurred_from < instant)
    later = (Report.occurred_to - Report.occurred_from > literal_column(LONG_WINDOW_SQL),
             Report.occurred_to >= a_day_after, Report.occurred_from < instant)
    return soon, later

