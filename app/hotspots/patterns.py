"""The weekday × hour matrix: when incidents happen, with windows spread over their hours.

Rows are ISO weekdays Monday–Sunday, columns local hours 0–23. An instant adds 1 to its cell;
an occurrence window ("between 22:00 and 06:00") adds its share to each hour it covers
(aoristic analysis), so a night of graffiti is not all booked on the hour it was found.
Times are local wall-clock seconds (Europe/Stockholm read as if UTC), so an hour bin is the
hour people see on their clocks.
"""
from __future__ import annotations

import numpy as np

HOUR = 3600
WEEK_HOURS = 7 * 24
# 1970-01-01 was a Thursday: hour 0 of the epoch is hour 72 of its Monday-based week.
EPOCH_WEEK_OFFSET = 3 * 24


def hour_of_week_matrix(instants: list[tuple[int, int, float]], starts: np.ndarray, ends: np.ndarray,
                        *, clip_from: float, clip_to: float) -> np.ndarray:
    """A 7 × 24 array of (possibly fractional) report counts.

    ``instants`` are (ISO weekday 1–7, hour, count) aggregates; ``starts``/``ends`` the
    windows in local wall-clock epoch seconds, clipped to ``[clip_from, clip_to)`` and then
    spread uniformly over the hours they cover (each window weighs 1 in total, or its share
    inside the clip range).
    """
    week = np.zeros(WEEK_HOURS)
    for dow, hour, n in instants:
        week[(dow - 1) * 24 + hour] += n
    week += spread_windows(np.asarray(starts, dtype=np.float64), np.asarray(ends, dtype=np.float64),
                           clip_from=clip_from, clip_to=clip_to)
    return week.reshape(7, 24)


def spread_windows(starts: np.ndarray, ends: np.ndarray, *, clip_from: float, clip_to: float) -> np.ndarray:
    """Hour-of-week totals (168) of windows spread uniformly over their duration."""
    out = np.zeros(WEEK_HOURS)
    length = ends - starts
    keep = length > 0
    if not keep.any():
        return out
    starts, ends, length = starts[keep], ends[keep], length[keep]
    lo, hi = np.maximum(starts, clip_from), np.minimum(ends, clip_to)
    inside = hi > lo
    lo, hi, length = lo[inside], hi[inside], length[inside]
    # Whole weeks inside a window spread evenly over all 168 hours; the rest hour by hour.
    weeks = np.floor((hi - lo) / (WEEK_HOURS * HOUR))
    out += (weeks * WEEK_HOURS * HOUR / length).sum() / WEEK_HOURS
    lo = lo + weeks * WEEK_HOURS * HOUR
    first_hour = np.floor(lo / HOUR)
    step = 0
    active = np.ones(lo.size, dtype=bool)
    while active.any():
        bin_start = (first_hour + step) * HOUR
        covered = np.clip(np.minimum(hi, bin_start + HOUR) - np.maximum(lo, bin_start), 0.0, None)
        active &= bin_start < hi
        slot = ((first_hour + step + EPOCH_WEEK_OFFSET) % WEEK_HOURS).astype(np.int64)
        np.add.at(out, slot[active], covered[active] / length[active])
        step += 1
    return out
