"""Benchmark of the hotspot layer, side by side with what a GIS analyst would run in PostGIS.

    .venv/bin/python bench/hotspots.py [--runs 7] [--big 1000000] [--town 50000]

Needs DATABASE_URL in demo mode (``make bench-hotspots`` starts a throwaway durable PostGIS).
Loads, once: the demo town (Eskilstuna) with ``--town`` reports over a year, and a second
municipality ("Bänkstad", same outline) with ``--big`` reports all in one cycle, so the
database holds both at once. Then, per case, the median and p95 of ``--runs`` timed calls of
the layer service in-process (SQL, statistics, GeoJSON features, orjson), and of the
analyst's query: an ``ST_HexagonGrid`` of res-9 size over the outline, transformed to WGS84 so
that ``ST_Intersects`` uses the GiST index on the points, counted per hexagon (counts only:
no aoristic weights, no statistics). Also points -> H3 cells per second and orjson
time for 10,000 hexagons.
"""
from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import h3  # noqa: E402
import numpy as np  # noqa: E402
import orjson  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from app.db import get_engine  # noqa: E402
from app.hotspots import grid, service  # noqa: E402
from app.hotspots.queries import Selection  # noqa: E402
from app.municipalities.models import Municipality, Organisation  # noqa: E402
from app.reports.models import Category, Report  # noqa: E402
from bench.machine import describe, p95  # noqa: E402
from seeds.demo import MUNICIPALITY_CODE  # noqa: E402
from seeds.loader import lookups, seed  # noqa: E402
from seeds.synthetic import copy_rows, generate  # noqa: E402

BIG_CODE = "9999"
# ST_HexagonGrid takes the edge length; H3 res 9 has a mean edge of ~201 m (area 0.105 km²),
# so a 201 m hexagon grid is the analyst's like-for-like.
RES9_EDGE_M = 201.0
ANALYST_SQL = text("""
    WITH area AS (SELECT ST_Transform(boundary, 3006) AS g FROM municipality WHERE id = :m),
         hex AS (SELECT h.i, h.j, ST_Transform(h.geom, 4326) AS geom
                 FROM area, ST_HexagonGrid(:edge, area.g) AS h WHERE ST_Intersects(h.geom, area.g))
    SELECT hex.i, hex.j, count(*) FROM hex JOIN report r ON ST_Intersects(hex.geom, r.geom)
    WHERE r.municipality_id = :m AND r.status = 'verified' AND r.occurred_from >= :lo AND r.occurred_from < :hi
    GROUP BY hex.i, hex.j
""")

def ensure_big_municipality(session: Session, town: Municipality) -> Municipality:
    """A second municipality with the demo town's outline, categories and organisations."""
    big = session.scalar(select(Municipality).where(Municipality.code == BIG_CODE))
    if big is not None:
        return big
    big = Municipality(name="Bänkstad", code=BIG_CODE, boundary=town.boundary, cycle_days=town.cycle_days,
                       cycle_anchor=town.cycle_anchor)
    session.add(big)
    session.flush()
    for c in session.scalars(select(Category).where(Category.municipality_id == town.id)).all():
        session.add(Category(municipality_id=big.id, code=c.code, label_sv=c.label_sv, label_en=c.label_en,
                             group_code=c.group_code, colour=c.colour, icon=c.icon, sort_order=c.sort_order))
    for o in session.scalars(select(Organisation).where(Organisation.municipality_id == town.id)).all():
        session.add(Organisation(municipality_id=big.id, name=o.name, kind=o.kind))
    session.flush()
    return big


def load(town_reports: int, big_reports: int) -> tuple[int, int]:
    """Load both data sets unless already there; returns the two municipality ids."""
    engine = get_engine()
    with Session(engine) as session, session.begin():
        town = session.scalar(select(Municipality).where(Municipality.code == MUNICIPALITY_CODE))
        if town is None:
            seed(0, quiet=True)
            town = session.scalar(select(Municipality).where(Municipality.code == MUNICIPALITY_CODE))
        big = ensure_big_municipality(session, town)
        have = dict(session.execute(select(Report.municipality_id, func.count()).group_by(Report.municipality_id)).all())
        town_id, big_id = town.id, big.id
    if have.get(town_id, 0) < town_reports:
        print(f"loading {town_reports - have.get(town_id, 0):,} reports into the town (a year)", file=sys.stderr)
        seed(town_reports - have.get(town_id, 0), quiet=True)
    if have.get(big_id, 0) < big_reports:
        print(f"loading {big_reports:,} reports into one cycle of Bänkstad", file=sys.stderr)
        with Session(engine) as session:
            ids = lookups(session, big_id)
            scope = service.get_scope(session, municipality_id=big_id)
        previous = scope.grid.cycle(scope.grid.current().index - 1)
        data = generate(big_reports - have.get(big_id, 0), lookups=ids, now=previous.end - dt.timedelta(hours=1),
                        days=scope.grid.days, seed=11)
        raw = engine.raw_connection()
        try:
            copy_rows(raw.driver_connection, data, lookups=ids)
            raw.driver_connection.commit()
        finally:
            raw.close()
    # Vacuumed as autovacuum would within a minute (insert threshold): the counts are index-only
    # scans, which read the table for pages not yet marked all-visible.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM (ANALYZE) report"))
    return town_id, big_id


def timed(fn, runs: int) -> tuple[list[float], object]:
    fn()  # warm-up: caches, plans, the polyfill of the outline
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    return times, result


def bench_layer(municipality_id: int, runs: int) -> dict:
    """Our layer (whole request work minus HTTP) vs the analyst's hexagon-grid count."""
    engine = get_engine()
    with Session(engine) as session:
        scope = service.get_scope(session, municipality_id=municipality_id)
        cycle = scope.grid.cycle(scope.grid.current().index - 1)
        selection = Selection(municipality_id=municipality_id)
        in_cycle = session.scalar(select(func.count()).select_from(Report).where(
            Report.municipality_id == municipality_id, Report.occurred_to >= cycle.start,
            Report.occurred_from < cycle.end))

        def ours():
            layer = service.get_layer(session, scope, cycle=cycle, res=9, selection=selection)
            return layer, orjson.dumps(layer)

        def analyst():
            return session.execute(ANALYST_SQL, {"m": municipality_id, "edge": RES9_EDGE_M, "lo": cycle.start,
                                                 "hi": cycle.end}).all()

        our_ms, (layer, body) = timed(ours, runs)
        their_ms, rows = timed(analyst, runs)
    return {"reports_in_cycle": in_cycle, "hexagons": len(layer["features"]), "bytes": len(body),
            "ours_median_ms": statistics.median(our_ms), "ours_p95_ms": p95(our_ms),
            "analyst_median_ms": statistics.median(their_ms), "analyst_p95_ms": p95(their_ms),
            "analyst_hexagons": len(rows), "speed_ratio": statistics.median(their_ms) / statistics.median(our_ms)}


def bench_points_to_cells(n: int = 2_000_000) -> dict:
    """Points -> H3 res-9 cells: the vectorised library vs h3-py in a Python loop."""
    from h3ronpy.vector import coordinates_to_cells

    rng = np.random.default_rng(1)
    lat, lon = rng.uniform(59.30, 59.44, n), rng.uniform(16.37, 16.66, n)
    vec = []
    for _ in range(5):
        started = time.perf_counter()
        coordinates_to_cells(lat, lon, 9)
        vec.append(n / (time.perf_counter() - started))
    m = 200_000
    started = time.perf_counter()
    for a, b in zip(lat[:m].tolist(), lon[:m].tolist()):
        h3.latlng_to_cell(a, b, 9)
    loop = m / (time.perf_counter() - started)
    return {"vectorised_points_per_s": statistics.median(vec), "h3py_loop_points_per_s": loop}


def bench_geojson(n: int = 10_000) -> dict:
    """orjson time for a FeatureCollection of ``n`` hexagons with the layer's properties."""
    cells = [h3.str_to_int(c) for c in h3.grid_disk(h3.latlng_to_cell(59.37, 16.51, 9), 60)][:n]
    props = {"count": 3.25, "previous": 2.0, "baseline": 1.833, "change": 1.25, "change_vs_baseline": 1.417,
             "p_increase": 0.213, "increase": False, "hotspot": "none", "p_hot": 0.5, "gi_star_z": 0.4,
             "trend": "sporadic", "trend_p": 0.7, "hot_streak": 0, "repeat": False}
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": grid.cell_string(c), "geometry": {"type": "Polygon",
                                                                    "coordinates": [grid.hexagon_ring(c)]},
         "properties": {"h3": grid.cell_string(c), "rank": i + 1, **props}} for i, c in enumerate(cells)]}
    times, body = timed(lambda: orjson.dumps(fc), 9)
    return {"hexagons": len(cells), "median_ms": statistics.median(times), "bytes": len(body)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--town", type=int, default=50_000)
    args = parser.parse_args(argv)
    town_id, big_id = load(args.town, args.big)
    with get_engine().connect() as conn:
        total = conn.execute(text("SELECT count(*) FROM report")).scalar_one()
        version = conn.execute(text("SHOW server_version")).scalar_one()
    print(f"machine: {describe()}; PostgreSQL {version}; {total:,} reports in the database")
    print(f"command: .venv/bin/python bench/hotspots.py --runs {args.runs} --big {args.big} --town {args.town}")
    print("\nres-9 hotspot layer for one cycle (server work in-process: SQL + statistics + GeoJSON + orjson)")
    print(f"{'case':<34}{'reports':>10}{'hexagons':>10}{'ours p50':>10}{'p95':>8}{'analyst p50':>13}{'ratio':>7}")
    for name, muni in ((f"town ({args.town:,} reports a year)", town_id), (f"{args.big:,} in one cycle", big_id)):
        r = bench_layer(muni, args.runs)
        print(f"{name:<34}{r['reports_in_cycle']:>10,}{r['hexagons']:>10,}{r['ours_median_ms']:>8.1f}ms"
              f"{r['ours_p95_ms']:>6.0f}ms{r['analyst_median_ms']:>11.1f}ms{r['speed_ratio']:>6.1f}x")
    pc = bench_points_to_cells()
    print(f"\npoints -> H3 cells: h3ronpy {pc['vectorised_points_per_s'] / 1e6:.2f} M/s; "
          f"h3-py loop {pc['h3py_loop_points_per_s'] / 1e6:.2f} M/s")
    gj = bench_geojson()
    print(f"orjson: {gj['hexagons']:,} hexagons ({gj['bytes'] / 1e6:.1f} MB) in {gj['median_ms']:.1f} ms (median)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
