"""SQL for the situation picture: aoristic report counts per H3 cell and cycle, in one query.

A report counts in every cycle its occurrence window overlaps, weighted by the share of the
window inside the cycle. Instants (the majority) go straight to the cycle of their local day;
only windows are expanded over the cycles they touch. Cycle boundaries are local midnights, so
the cycle of an instant is computed from its Europe/Stockholm calendar day.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import (ColumnElement, Date, DateTime, Float, Integer, Select, cast, func, literal,
                        select, true, union_all)

from app.hotspots.cycles import CycleGrid
from app.municipalities.models import Organisation
from app.reports.models import Report

TZ = "Europe/Stockholm"
CELL_COLUMNS = {7: Report.h3_r7, 8: Report.h3_r8, 9: Report.h3_r9, 10: Report.h3_r10}
COUNTED_STATUSES = ("new", "verified")


@dataclass(frozen=True)
class Selection:
    """Which reports count: one municipality, statuses, and optional category/organisation-kind
    and cell/bbox restrictions (already validated)."""

    municipality_id: int
    statuses: tuple[str, ...] = ("verified",)
    category_ids: tuple[int, ...] | None = None
    organisation_kinds: tuple[str, ...] | None = None
    cells: dict[int, tuple[int, ...]] = field(default_factory=dict)
    bbox: tuple[float, float, float, float] | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        """The WHERE clauses for :class:`Report`."""
        where = [Report.municipality_id == self.municipality_id, Report.status.in_(self.statuses)]
        if self.category_ids is not None:
            where.append(Report.category_id.in_(self.category_ids))
        if self.organisation_kinds is not None:
            where.append(Report.organisation_id.in_(
                select(Organisation.id).where(Organisation.municipality_id == self.municipality_id,
                                              Organisation.kind.in_(self.organisation_kinds))))
        for res, cells in self.cells.items():
            where.append(CELL_COLUMNS[res].in_(cells))
        if self.bbox is not None:
            where.append(func.ST_Intersects(Report.geom, func.ST_MakeEnvelope(*self.bbox, 4326)))
        return where


def _cycle_index(grid: CycleGrid, instant) -> ColumnElement[int]:
    local_day = cast(func.timezone(TZ, instant), Date)
    days_since_anchor = local_day - literal(grid.anchor, Date)
    return cast(func.floor(cast(days_since_anchor, Float) / grid.days), Integer)


def _cycle_start(grid: CycleGrid, index) -> ColumnElement:
    first_day = literal(grid.anchor, Date) + index * grid.days
    return func.timezone(TZ, cast(first_day, DateTime))


def weighted_counts(grid: CycleGrid, selection: Selection, *, first: int, last: int,
                    keys: list[ColumnElement]) -> Select:
    """``keys`` + cycle index ``k`` + summed aoristic weight ``w`` over cycles ``first..last``.

    The result has one row per distinct (keys, k) with w > 0; cycles are grid indices.
    """
    lo, hi = grid.cycle(first).start, grid.cycle(last).end
    where = selection.conditions()
    instants = (
        select(*keys, _cycle_index(grid, Report.occurred_from).label("k"), literal(1.0, Float).label("w"))
        .where(*where, Report.occurred_to == Report.occurred_from,
               Report.occurred_from >= lo, Report.occurred_from < hi)
    )
    k_series = func.generate_series(func.greatest(_cycle_index(grid, Report.occurred_from), first),
                                    func.least(_cycle_index(grid, Report.occurred_to), last)
                                    ).table_valued("k").render_derived().lateral("ks")
    start, end = _cycle_start(grid, k_series.c.k), _cycle_start(grid, k_series.c.k + 1)
    overlap = func.extract("epoch", func.least(Report.occurred_to, end) - func.greatest(Report.occurred_from, start))
    length = func.extract("epoch", Report.occurred_to - Report.occurred_from)
    windows = (
        select(*keys, k_series.c.k.label("k"), cast(overlap / length, Float).label("w"))
        .select_from(Report).join(k_series, true())
        .where(*where, Report.occurred_to > Report.occurred_from,
               Report.occurred_from < hi, Report.occurred_to > lo)
    )
    rows = union_all(instants, windows).subquery("rows")
    key_cols = [rows.c[k.key] for k in keys]
    return (select(*key_cols, rows.c.k, func.sum(rows.c.w).label("w"))
            .where(rows.c.w > 0).group_by(*key_cols, rows.c.k))


def local_hour_rows(selection: Selection, *, lo, hi) -> tuple[Select, Select]:
    """For the weekday × hour pattern between instants ``lo`` and ``hi``: (instants aggregated
    by ISO weekday 1–7 and local hour, occurrence windows as local wall-clock epoch seconds)."""
    where = selection.conditions()
    local_from = func.timezone(TZ, Report.occurred_from)
    instants = (
        select(cast(func.extract("isodow", local_from), Integer).label("dow"),
               cast(func.extract("hour", local_from), Integer).label("hour"), func.count().label("n"))
        .where(*where, Report.occurred_to == Report.occurred_from,
               Report.occurred_from >= lo, Report.occurred_from < hi)
        .group_by("dow", "hour")
    )
    windows = (
        select(func.extract("epoch", local_from).label("start"),
               func.extract("epoch", func.timezone(TZ, Report.occurred_to)).label("end"))
        .where(*where, Report.occurred_to > Report.occurred_from,
               Report.occurred_from < hi, Report.occurred_to > lo)
    )
    return instants, windows
