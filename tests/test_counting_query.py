"""The aoristic count query and the cell filter against plain reference computations.

``queries.weighted_counts`` counts reports wholly inside one cycle in the database and expands
only windows that cross a boundary; ``queries.in_cells`` finds a cell of any resolution
through the range of its descendants on h3_r10. Both are checked on random data here.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict

import h3
import numpy as np
import pytest
from sqlalchemy import func, select, text

from app.hotspots import queries
from app.hotspots.grid import finest_range
from app.municipalities.models import Municipality
from app.reports.models import Report

from tests.factories import add_reports, cycle_back
from tests.helpers import SQUARE

HOUR = dt.timedelta(hours=1)


def reference(windows, edges) -> dict[tuple[int, int], float]:
    """(cell, period) -> summed share of each window inside the period, the definition itself.

    In UTC: arithmetic on datetimes in one ZoneInfo is wall-clock arithmetic (an hour is lost
    or gained over a DST change), which the database rightly does not do."""
    utc = dt.timezone.utc
    edges = [e.astimezone(utc) for e in edges]
    out: dict[tuple[int, int], float] = defaultdict(float)
    for cell, start, end in windows:
        start, end = start.astimezone(utc), end.astimezone(utc)
        for k, (lo, hi) in enumerate(zip(edges, edges[1:])):
            if start == end:
                share = 1.0 if lo <= start < hi else 0.0
            else:
                share = max((min(end, hi) - max(start, lo)) / (end - start), 0.0)
            if share > 0:
                out[cell, k] += share
    return dict(out)


def test_weighted_counts_equal_the_definition_for_random_windows(db):
    first, last = cycle_back(db, 4), cycle_back(db, 1)
    edges = [cycle_back(db, n).start for n in (4, 3, 2, 1)] + [last.end]  # over a DST change, some years
    rng = np.random.default_rng(11)
    span_h = (last.end - first.start) / HOUR
    windows = []
    cells = [h3.latlng_to_cell(SQUARE["lat"] + d, SQUARE["lon"], 9) for d in (0.0, 0.004, 0.008)]
    for i in range(240):
        # From a week before the first cycle to a week after the last: instants, short windows,
        # windows over one or more boundaries, windows only partly inside, and ones outside.
        start = first.start.astimezone(dt.timezone.utc) + float(rng.uniform(-168, span_h + 168)) * HOUR
        length = [0.0, float(rng.uniform(0.5, 20)), float(rng.uniform(24, 24 * 30))][i % 3]
        lat = SQUARE["lat"] + 0.004 * (i % 3)
        add_reports(db, lat=lat, lon=SQUARE["lon"], at=start, until=start + length * HOUR if length else None)
        windows.append((cells[i % 3], start, start + length * HOUR))
    # Exactly on the boundaries: an instant at an edge belongs to the cycle it starts; a window
    # ending at an edge does not reach into the next cycle.
    for edge in edges:  # the outer edges too: at lo it counts, at hi it belongs to the next cycle
        add_reports(db, **SQUARE, at=edge)
        add_reports(db, **SQUARE, at=edge - 5 * HOUR, until=edge)
        windows += [(cells[0], edge, edge), (cells[0], edge - 5 * HOUR, edge)]
    muni_id = db.scalar(select(Municipality.id))
    selection = queries.Selection(municipality_id=muni_id)
    query = queries.weighted_counts(selection, edges=edges, keys=[queries.CELL_COLUMNS[9].label("cell")])
    got = {(row.cell, row.k): row.w for row in db.execute(query)}
    want = {(h3.str_to_int(cell), k): w for (cell, k), w in reference(windows, edges).items()}
    assert got.keys() == want.keys()
    for key, w in want.items():
        assert got[key] == pytest.approx(w, abs=1e-9), key


@pytest.mark.parametrize("res", [7, 8, 9, 10])
def test_a_cell_of_any_resolution_finds_exactly_its_reports(db, res):
    at = cycle_back(db, 1).start + 30 * HOUR
    rng = np.random.default_rng(res)
    spread = 2 * h3.average_hexagon_edge_length(res, "km") / 111  # degrees of latitude: about a cell
    points = [(SQUARE["lat"] + float(rng.normal(0, spread)), SQUARE["lon"] + float(rng.normal(0, 2 * spread)))
              for _ in range(150)]
    for lat, lon in points:
        add_reports(db, lat=lat, lon=lon, at=at)
    # A report's cell at a coarser resolution is its res-10 cell's ancestor (app.geo.h3_cells).
    def cell(lat, lon):
        return h3.cell_to_parent(h3.latlng_to_cell(lat, lon, 10), res)
    target = cell(SQUARE["lat"], SQUARE["lon"])
    inside = sum(cell(lat, lon) == target for lat, lon in points)
    assert 0 < inside < len(points)  # the test means something: reports on both sides of the edge
    found = db.scalar(select(func.count()).select_from(Report)
                      .where(Report.source == "test", queries.in_cells(res, [h3.str_to_int(target)])))
    assert found == inside


def test_a_cells_descendants_are_one_range_with_no_other_cell_in_it():
    for res in (7, 8, 9):
        cell = h3.latlng_to_cell(SQUARE["lat"], SQUARE["lon"], res)
        lo, hi = finest_range(h3.str_to_int(cell), res)
        children = sorted(h3.str_to_int(c) for c in h3.cell_to_children(cell, 10))
        assert lo <= children[0] and children[-1] <= hi and len(children) == 7 ** (10 - res)
        for neighbour in h3.grid_ring(cell, 1):
            assert not any(lo <= h3.str_to_int(c) <= hi for c in h3.cell_to_children(neighbour, 10))


@pytest.mark.parametrize("res", [7, 8, 9, 10])
def test_every_resolution_is_found_through_the_h3_index(db, res):
    """'Indexed at every resolution': the plan for a cell filter reads ix_report_h3_r10."""
    cell = h3.str_to_int(h3.latlng_to_cell(SQUARE["lat"], SQUARE["lon"], res))
    query = select(Report.id).where(queries.in_cells(res, [cell]))
    db.execute(text("SET LOCAL enable_seqscan = off"))  # a test table is small enough to scan
    sql = str(query.compile(db.bind, compile_kwargs={"literal_binds": True}))
    plan = "\n".join(db.scalars(text("EXPLAIN " + sql)))
    assert "ix_report_h3_r10" in plan, plan


def test_no_cells_find_no_reports(db):
    add_reports(db, **SQUARE, at=cycle_back(db, 1).start + HOUR)
    for res in (7, 10):
        assert db.scalar(select(func.count()).select_from(Report).where(queries.in_cells(res, []))) == 0
