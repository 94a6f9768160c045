"""SQL for the situation picture: aoristic report counts per H3 cell and cycle, in one query.

A report counts in every cycle its occurrence window overlaps, weighted by the share of the
window inside the cycle. The cycle boundaries (local midnights, so DST is already in them)
are passed as one array of instants; ``width_bucket`` finds a report's cycle by binary
search, which is far cheaper per row than converting every timestamp to a local date.
Reports that fall wholly inside one cycle (instants, and nearly every window) are counted
per cycle in the database; only windows that cross a boundary are expanded over the cycles
they touch.

Both read ``ix_report_municipality_occurred_to``: keyed on the end of the window (so "overlaps
[lo, hi)" is one index range from lo, without a bound on how long a window may be) and
carrying every column these counts filter or group by, so they are index-only scans.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import (ColumnElement, DateTime, Float, Integer, Select, bindparam, case, cast, func, or_,
                        select, true, union_all)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import Grouping

from app.geo import H3_FINEST, Area
from app.hotspots.grid import finest_range
from app.municipalities.models import Organisation
from app.reports.models import Report

TZ = "Europe/Stockholm"
CELL_COLUMNS = {7: Report.h3_r7, 8: Report.h3_r8, 9: Report.h3_r9, 10: Report.h3_r10}


@dataclass(frozen=True)
class Selection:
    """Which reports count: one municipality, statuses, and optional category/organisation-kind
    and cell/bbox restrictions (already validated)."""

    municipality_id: int
    statuses: tuple[str, ...] = ("verified",)
    category_ids: tuple[int, ...] | None = None
    organisation_kinds: tuple[str, ...] | None = None
    cells: dict[int, tuple[int, ...]] = field(default_factory=dict)
    bbox: Area | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        """The WHERE clauses for :class:`Report`. A report linked into another source's incident
        (``incident_of``, app/reports/incidents.py) is left out: the incident counts once, as its
        primary report."""
        where = [Report.municipality_id == self.municipality_id, Report.status.in_(self.statuses),
                 Report.incident_of.is_(None)]
        if self.category_ids is not None:
            where.append(Report.category_id.in_(self.category_ids))
        if self.organisation_kinds is not None:
            where.append(Report.organisation_id.in_(
                select(Organisation.id).where(Organisation.municipality_id == self.municipality_id,
                                              Organisation.kind.in_(self.organisation_kinds))))
        for res, cells in self.cells.items():
            where.append(in_cells(res, cells))
        if self.bbox is not None:
            where.append(self.bbox.intersects(Report.geom))
        return where


def in_cells(res: int, cells: tuple[int, ...] | list[int]) -> ColumnElement[bool]:
    """Reports in any of ``cells`` (all of resolution ``res``), by the one H3 index: h3_r10,
    through each cell's range of descendants (:func:`grid.finest_range`). Exact, because a
    report's coarser cells are the ancestors of its res-10 cell (:func:`app.geo.h3_cells`)."""
    if res == H3_FINEST or not cells:
        return Report.h3_r10.in_(cells)
    return or_(*(Report.h3_r10.between(*finest_range(int(c), res)) for c in sorted(set(cells))))


def weighted_counts(selection: Selection, *, edges: list[dt.datetime], keys: list[ColumnElement]) -> Select:
    """``keys`` + period ``k`` + summed aoristic weight ``w``.

    ``edges`` are consecutive period boundaries (aware instants, ``len(periods) + 1``); ``k``
    is the 0-based period. One row per distinct (keys, k) with w > 0.
    """
    bounds = Grouping(bindparam("edges", list(edges), type_=ARRAY(DateTime(timezone=True))))  # (...)[j] in SQL
    n_periods = len(edges) - 1
    lo, hi = edges[0], edges[-1]
    where = selection.conditions()
    first, last = func.width_bucket(Report.occurred_from, bounds), func.width_bucket(Report.occurred_to, bounds)
    # Counted per cycle as they are; the crossing windows in it fall into a NULL cycle, dropped
    # below. (Filtering them out here instead makes PostgreSQL expect 0.5 % of the rows and
    # choose a sort over a hash to group them: a third slower, measured.)
    one_cycle = case((first == last, first - 1))
    inside = (
        select(*keys, one_cycle.label("k"), cast(func.count(), Float).label("w"))
        .where(*where, Report.occurred_to >= lo, Report.occurred_to < hi, Report.occurred_from >= lo)
        .group_by(*keys, one_cycle)
    )
    series = func.generate_series(func.greatest(first, 1), func.least(last, n_periods)
                                  ).table_valued("j").render_derived().lateral("js")
    j = cast(series.c.j, Integer)
    overlap = func.extract("epoch", func.least(Report.occurred_to, bounds[j + 1])
                           - func.greatest(Report.occurred_from, bounds[j]))
    length = func.extract("epoch", Report.occurred_to - Report.occurred_from)
    crossing = (
        select(*keys, (j - 1).label("k"), (cast(overlap, Float) / cast(length, Float)).label("w"))
        .select_from(Report).join(series, true())
        .where(*where, Report.occurred_to > lo, Report.occurred_from < hi,
               Report.occurred_to > Report.occurred_from, first != last)
    )
    rows = union_all(inside, crossing).subquery("rows")
    key_cols = [rows.c[k.key] for k in keys]
    return (select(*key_cols, rows.c.k, func.sum(rows.c.w).label("w"))
            .where(rows.c.w > 0, rows.c.k.is_not(None)).group_by(*key_cols, rows.c.k))


def first_report(municipality_id: int) -> Select:
    """The end of the municipality's earliest occurrence window, any status: when its reporting
    began. One descent of ``ix_report_municipality_occurred_to`` (min of its second key)."""
    return select(func.min(Report.occurred_to)).where(Report.municipality_id == municipality_id)


def local_hour_rows(selection: Selection, *, lo, hi) -> tuple[Select, Select]:
    """For the weekday × hour pattern between instants ``lo`` and ``hi``: (instants aggregated
    by ISO weekday 1–7 and local hour, occurrence windows as local wall-clock epoch seconds)."""
    where = selection.conditions()
    local_from = func.timezone(TZ, Report.occurred_from)
    instants = (
        select(cast(func.extract("isodow", local_from), Integer).label("dow"),
               cast(func.extract("hour", local_from), Integer).label("hour"), func.count().label("n"))
        .where(*where, Report.occurred_to == Report.occurred_from,
               Report.occurred_to >= lo, Report.occurred_to < hi)
        .group_by("dow", "hour")
    )
    windows = (
        select(func.extract("epoch", local_from).label("start"),
               func.extract("epoch", func.timezone(TZ, Report.occurred_to)).label("end"))
        .where(*where, Report.occurred_to > Report.occurred_from,
               Report.occurred_from < hi, Report.occurred_to > lo)
    )
    return instants, windows
