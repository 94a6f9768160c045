"""EST cycles: the fortnight (or other length) between two meetings, in Swedish local time.

A municipality's cycles form a grid of ``cycle_days``-long periods anchored on its meeting day:
cycle ``k`` starts at local midnight (Europe/Stockholm) on ``anchor + k * cycle_days`` and ends
where cycle ``k + 1`` starts. Boundaries are local midnights, so a cycle that crosses a DST
change is 335 or 337 hours long in UTC; all arithmetic goes through local dates to get that
right. A cycle is identified by its first local day (``2026-11-11``).

Reports have an occurrence window; a report belongs to every cycle its window overlaps, in
proportion to the overlap (aoristic weighting, :func:`aoristic_weights`).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from app.errors import DomainError, InvalidInput, NotFound
from app.timeutil import STOCKHOLM, utcnow


@dataclass(frozen=True)
class CycleGrid:
    """A municipality's cycle grid: meeting-day anchor and length in days."""

    anchor: dt.date
    days: int

    def index_of_day(self, day: dt.date) -> int:
        """Index of the cycle containing the local calendar day ``day``."""
        return (day - self.anchor).days // self.days

    def index_at(self, instant: dt.datetime) -> int:
        """Index of the cycle containing ``instant`` (aware)."""
        return self.index_of_day(instant.astimezone(STOCKHOLM).date())

    def cycle(self, index: int) -> "Cycle":
        """Cycle number ``index`` (0 starts on the anchor day; negative ones precede it)."""
        first = self.anchor + dt.timedelta(days=index * self.days)
        return Cycle(index=index, first_day=first, last_day=first + dt.timedelta(days=self.days - 1))

    def current(self, now: dt.datetime | None = None) -> "Cycle":
        """The cycle in progress at ``now`` (default: this instant)."""
        return self.cycle(self.index_at(now or utcnow()))

    def resolve(self, ref: str, *, now: dt.datetime | None = None,
                missing: type[DomainError] = NotFound) -> "Cycle":
        """``current``, ``previous`` or a cycle id (its first day, ``YYYY-MM-DD``).

        Raises a 422 for something that is not a cycle reference, and ``missing`` (a 404; the
        OGC routes say 400) for a date that is not the first day of a cycle or a cycle that has
        not started yet."""
        current = self.current(now)
        value = ref.strip().lower()
        if value == "current":
            return current
        if value == "previous":
            return self.cycle(current.index - 1)
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            raise InvalidInput(f"cycle must be 'current', 'previous' or a cycle id such as "
                               f"'{current.id}' (the cycle's first day); got {ref!r}",
                               errors=[{"field": "cycle", "message": "not a cycle reference"}]) from None
        if not 1970 <= day.year <= 2100:  # as report times; near the years 1 and 9999 the arithmetic overflows
            raise missing(f"No cycle starts on {day}: cycle ids are first days from 1970 up to the current "
                          f"cycle, {current.id}", errors=[{"field": "cycle", "message": "no such cycle"}])
        index = self.index_of_day(day)
        candidate = self.cycle(index)
        if candidate.first_day != day:
            raise missing(f"No cycle starts on {day}: cycles are {self.days} days long and start on "
                          f"{candidate.first_day} and {self.cycle(index + 1).first_day}",
                          errors=[{"field": "cycle", "message": "no such cycle"}])
        if index > current.index:
            raise missing(f"Cycle {day} has not started yet; the current cycle is {current.id}",
                          errors=[{"field": "cycle", "message": "not started yet"}])
        return candidate

    def span(self, last: "Cycle", n: int) -> list["Cycle"]:
        """The ``n`` cycles ending with ``last``, oldest first."""
        return [self.cycle(i) for i in range(last.index - n + 1, last.index + 1)]

    def boundaries_utc(self, cycles: list["Cycle"]) -> np.ndarray:
        """UTC epoch seconds of the starts of consecutive ``cycles`` plus the end of the last
        (length ``len(cycles) + 1``), for :func:`aoristic_weights`."""
        edges = [c.start for c in cycles] + [cycles[-1].end]
        return np.array([int(e.timestamp()) for e in edges], dtype=np.int64)


@dataclass(frozen=True)
class Cycle:
    """One cycle: local first and last day (inclusive); start/end are aware instants."""

    index: int
    first_day: dt.date
    last_day: dt.date

    @property
    def id(self) -> str:
        return self.first_day.isoformat()

    @property
    def start(self) -> dt.datetime:
        """Local midnight starting the first day."""
        return dt.datetime.combine(self.first_day, dt.time(0), STOCKHOLM)

    @property
    def end(self) -> dt.datetime:
        """Local midnight after the last day (exclusive)."""
        return dt.datetime.combine(self.last_day + dt.timedelta(days=1), dt.time(0), STOCKHOLM)

    @property
    def label(self) -> str:
        """Swedish ISO-week label: 'v.46–47 2026', or 'v.52 2026–v.1 2027' across a new year."""
        y1, w1, _ = self.first_day.isocalendar()
        y2, w2, _ = self.last_day.isocalendar()
        if y1 != y2:
            return f"v.{w1} {y1}–v.{w2} {y2}"
        return f"v.{w1} {y1}" if w1 == w2 else f"v.{w1}–{w2} {y1}"

    def elapsed_share(self, now: dt.datetime | None = None) -> float:
        """Share of the cycle's time (0–1) that has passed at ``now`` (default: this instant): 1
        for a finished cycle, a fraction for the running one. Through UTC instants, so a cycle
        over a DST change is its 335 or 337 hours."""
        return float(observed_shares([self], since=self.start, now=now)[0])


def observed_shares(cycles: list[Cycle], *, since: dt.datetime | None, now: dt.datetime | None = None) -> np.ndarray:
    """Per cycle, the share of its time (0–1) in which reports could come in: after ``since``
    (when the municipality's reporting began, see :func:`app.hotspots.service.reporting_since`;
    None: no report yet) and before ``now`` (default: this instant).

    1 for a finished cycle since reporting began, 0 for one before it (no data, not zero
    reports), a fraction for the cycle reporting began in and for the running cycle. The
    statistics compare counts per observed time (the exposure), so neither a cycle before
    the first report nor the half of the running cycle still to come reads as a drop."""
    if since is None:
        return np.zeros(len(cycles))
    now = now or utcnow()
    start = np.array([c.start.timestamp() for c in cycles])
    end = np.array([c.end.timestamp() for c in cycles])
    observed = np.minimum(end, now.timestamp()) - np.maximum(start, since.timestamp())
    return np.clip(observed / (end - start), 0.0, 1.0)


def aoristic_weights(start_s: np.ndarray, end_s: np.ndarray, edges_s: np.ndarray) -> np.ndarray:
    """Share of each occurrence window falling in each period: an (n_reports, n_periods) array.

    ``start_s``/``end_s`` are window bounds and ``edges_s`` the period boundaries, all in the
    same unit (e.g. epoch seconds); period ``j`` is ``[edges[j], edges[j+1])``. A window of
    zero length (an instant) weighs 1 in the period containing it. Rows sum to 1 when the
    window lies inside the periods and to less when part of it falls outside them.
    """
    start = np.asarray(start_s, dtype=np.float64)[:, None]
    end = np.asarray(end_s, dtype=np.float64)[:, None]
    lo = np.asarray(edges_s[:-1], dtype=np.float64)[None, :]
    hi = np.asarray(edges_s[1:], dtype=np.float64)[None, :]
    length = end - start
    overlap = np.clip(np.minimum(end, hi) - np.maximum(start, lo), 0.0, None)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(length > 0, overlap / length, 0.0)
    instant = (length <= 0) & (start >= lo) & (start < hi)
    return np.where(length > 0, share, instant.astype(np.float64))
