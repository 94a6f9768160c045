"""Reports placed exactly where and when a test needs them (straight into the database)."""
from __future__ import annotations

import datetime as dt
import uuid

from geoalchemy2.shape import from_shape
from shapely.geometry import Point
from sqlalchemy import select, text

from app.geo import h3_cells
from app.hotspots.cycles import Cycle, CycleGrid
from app.municipalities.models import Municipality, Organisation
from app.reports.models import Category, Report


def demo_grid(db) -> CycleGrid:
    muni = db.scalar(select(Municipality))
    return CycleGrid(anchor=muni.cycle_anchor, days=muni.cycle_days)


def cycle_back(db, n: int) -> Cycle:
    """The cycle ``n`` before the current one (0 = current)."""
    grid = demo_grid(db)
    return grid.cycle(grid.current().index - n)


def add_reports(db, *, lat: float, lon: float, at: dt.datetime, n: int = 1, until: dt.datetime | None = None,
                category: str = "klotter", status: str = "verified", kind: str = "kommun") -> list[Report]:
    """``n`` reports at one point, an instant ``at`` or the window ``at``..``until``."""
    muni = db.scalar(select(Municipality))
    cat = db.scalar(select(Category).where(Category.code == category))
    org = db.scalar(select(Organisation).where(Organisation.kind == kind).order_by(Organisation.id))
    cells = h3_cells(lat, lon)
    reports = [Report(id=uuid.uuid4(), municipality_id=muni.id, category_id=cat.id, occurred_from=at,
                      occurred_to=until or at, reported_at=until or at, geom=from_shape(Point(lon, lat), srid=4326),
                      h3_r7=cells[7], h3_r8=cells[8], h3_r9=cells[9], h3_r10=cells[10], organisation_id=org.id,
                      source="test", status=status) for _ in range(n)]
    db.add_all(reports)
    db.flush()
    return reports


def reporting_began(db, *, cycles_back: int = 20) -> None:
    """The municipality's first report, ``cycles_back`` cycles ago: the cycles since have a
    history (no reports is zero reports), before it they are no data. 20 back is outside the
    10-cycle trend window of the cycles tests look at, so it changes no count there."""
    add_reports(db, lat=59.40, lon=16.58, at=cycle_back(db, cycles_back).start + dt.timedelta(hours=1))


def fill_a_year_for_the_planner(db, *, source: str | None = None) -> None:
    """20,000 copies of a stored report, one every 26 minutes back from now (``source``: the
    copies'), and fresh statistics: on the near-empty test table any plan costs the same, and
    which one the planner took depended on when autovacuum last analysed it (plan tests failed
    now and then in the full suite). Rolled back with the test."""
    db.execute(text("""
        INSERT INTO report (municipality_id, category_id, occurred_from, occurred_to, reported_at, geom,
                            h3_r7, h3_r8, h3_r9, h3_r10, source, status, external_id)
        SELECT r.municipality_id, r.category_id, t, t, t, r.geom, r.h3_r7, r.h3_r8, r.h3_r9, r.h3_r10,
               coalesce(:source, r.source), r.status, CASE WHEN :source IS NULL THEN NULL ELSE 'plan-' || g END
        FROM (SELECT * FROM report LIMIT 1) r,
             LATERAL (SELECT g, now() - g * interval '26 minutes' AS t FROM generate_series(1, 20000) g) t
    """), {"source": source})
    db.execute(text("ANALYZE report"))
