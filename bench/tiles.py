"""Benchmark of the vector tiles: every tile over the municipality per zoom, over HTTP and the SQL alone.

    .venv/bin/python bench/tiles.py [--runs 3] [--big 1000000] [--town 50000] [--zooms 10-16]

Needs DATABASE_URL in demo mode (``make bench BENCH=tiles`` starts a throwaway durable PostGIS).
Loads the same data as bench/hotspots.py (the demo town with ``--town`` reports over a year, and
"Bänkstad", the same outline with ``--big`` reports in one cycle), starts uvicorn (one worker)
and asks, for the previous cycle, for every tile at each zoom whose square meets the
municipality's outline, ``--runs`` times in shuffled order over one keep-alive connection:

- cold: the first tile of each H3 resolution, when the layer's statistics are computed and its
  tiles up to zoom 15 rendered ahead (kept for the tiles after it, see app/gis/tiles.py); also
  timed in-process, 3 times each;
- the floor: an empty tile far away (204), the same request path without the tile's SQL;
- hexagon tiles end to end (HTTP, bearer token, role check, cycle, filters, the tile from memory
  up to zoom 15 or from its statement on demand beyond, ETag, gzip);
- the tile statement alone, in-process, as made on demand (the tile's stored hexagons by
  index, ST_AsMVT, the driver's round trip);
- report point tiles of the town (z >= 12) end to end.

Prints p50/p95 per zoom over all requests, and the p95 over the tiles of each tile's best time
of the runs (its service time without the scheduling noise of a shared machine), the machine,
its load average and the command.
"""
from __future__ import annotations

import argparse
import http.client
import math
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import shapely  # noqa: E402
from geoalchemy2.shape import to_shape  # noqa: E402
from sqlalchemy import select, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from app import geo  # noqa: E402
from app.auth.models import User  # noqa: E402
from app.auth.service import hash_password  # noqa: E402
from app.db import get_engine  # noqa: E402
from app.gis import tiles  # noqa: E402
from app.hotspots import service  # noqa: E402
from app.hotspots.queries import Selection  # noqa: E402
from app.municipalities.models import Municipality, Organisation  # noqa: E402
from bench.hotspots import load  # noqa: E402
from bench.machine import describe, p95  # noqa: E402
from bench.post_load import free_port, start_server  # noqa: E402

BENCH_USER = "bench-est"  # an est_member of Bänkstad (the demo users belong to the town)
PASSWORD = "demo"


def ensure_user(municipality_id: int) -> None:
    """An est_member login in the big municipality, once."""
    with Session(get_engine()) as session, session.begin():
        if session.scalar(select(User.id).where(User.username == BENCH_USER)) is not None:
            return
        org = session.scalar(select(Organisation.id).where(Organisation.municipality_id == municipality_id)
                             .order_by(Organisation.id))
        session.add(User(organisation_id=org, username=BENCH_USER, display_name="Benchmark",
                         password_hash=hash_password(PASSWORD), role="est_member"))


def covering_tiles(municipality_id: int, z: int) -> list[tiles.TileAddress]:
    """Every tile at zoom ``z`` whose square meets the municipality's outline."""
    with Session(get_engine()) as session:
        outline = to_shape(session.get(Municipality, municipality_id).boundary)
    shape = shapely.transform(outline, lambda c: np.column_stack(geo.wgs84_to_web_mercator(c[:, 0], c[:, 1])))
    size = 2 * tiles.WORLD_M / 2**z
    minx, miny, maxx, maxy = shape.bounds
    out = []
    for tx in range(math.floor((minx + tiles.WORLD_M) / size), math.floor((maxx + tiles.WORLD_M) / size) + 1):
        for ty in range(math.floor((tiles.WORLD_M - maxy) / size), math.floor((tiles.WORLD_M - miny) / size) + 1):
            tile = tiles.TileAddress(z, tx, ty)
            if shape.intersects(shapely.box(*tile.bounds())):
                out.append(tile)
    return out


def summary(ms: list[float]) -> str:
    return f"{statistics.median(ms):>7.2f} {p95(ms):>7.2f}"


def bench_http(base: str, username: str, layer: str, zooms: list[int], runs: int, municipality_id: int,
               rng: random.Random) -> None:
    token = httpx.post(f"{base}/api/v1/auth/token", data={"username": username, "password": PASSWORD}).json()[
        "access_token"]
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        def get(t: tiles.TileAddress) -> tuple[float, httpx.Response]:
            started = time.perf_counter()
            r = client.get(f"/tiles/{layer}/{t.z}/{t.x}/{t.y}.mvt", params={"cycle": "previous"})
            elapsed = (time.perf_counter() - started) * 1000
            if r.status_code not in (200, 204):
                raise SystemExit(f"{r.status_code} for {t}: {r.text[:200]}")
            return elapsed, r

        if layer == "hotspots":
            cold = {}
            for z in zooms:  # the first tile of each resolution computes the layer's statistics
                res = tiles.resolution_for_zoom(z)
                if res not in cold:
                    cold[res] = get(covering_tiles(municipality_id, z)[0])[0]
            print("  cold (first tile of a resolution, statistics computed): "
                  + ", ".join(f"res {res} {ms:.0f} ms" for res, ms in cold.items()))
            floor = [get(tiles.TileAddress(12, 0, 0))[0] for _ in range(200)]  # the Pacific: 204, no tile SQL
            print(f"  floor (same path, empty tile far away, no tile SQL): p50 {statistics.median(floor):.2f} ms, "
                  f"p95 {p95(floor):.2f} ms; with http.client instead of httpx: {lean_floor(base, token)}")
        print(f"  {'zoom':>4} {'res':>4} {'tiles':>6} {'with data':>9} {'kB avg':>7} {'p50 ms':>7} {'p95 ms':>7}"
              f" {'best-of-runs p95':>17}")
        for z in zooms:
            cover = covering_tiles(municipality_id, z)
            times, sizes, best = [], {}, {}
            for _ in range(runs):
                order = cover[:]
                rng.shuffle(order)
                for t in order:
                    ms, r = get(t)
                    times.append(ms)
                    sizes[t] = len(r.content)
                    best[t] = min(ms, best.get(t, ms))
            nonempty = sum(1 for n in sizes.values() if n)
            kb = statistics.mean([n for n in sizes.values() if n] or [0]) / 1000
            res = tiles.resolution_for_zoom(z) if layer == "hotspots" else "-"
            print(f"  {z:>4} {res:>4} {len(cover):>6} {nonempty:>9} {kb:>7.1f} {summary(times)} "
                  f"{p95(list(best.values())):>17.2f}")


def lean_floor(base: str, token: str) -> str:
    """The floor again with the standard library's client: how much of it is httpx's own time."""
    conn = http.client.HTTPConnection(base.removeprefix("http://"))
    times = []
    for _ in range(200):
        started = time.perf_counter()
        conn.request("GET", "/tiles/hotspots/12/0/0.mvt?cycle=previous", headers={"Authorization": f"Bearer {token}"})
        conn.getresponse().read()
        times.append((time.perf_counter() - started) * 1000)
    conn.close()
    return f"p50 {statistics.median(times):.2f} ms, p95 {p95(times):.2f} ms"


def bench_sql(municipality_id: int, zooms: list[int], runs: int, rng: random.Random) -> None:
    """The tile statement alone (layer already computed and stored), and the cold layer
    computation with its storing; on an autocommit session, as the tile route has."""
    with Session(get_engine().execution_options(isolation_level="AUTOCOMMIT")) as session:
        scope = service.get_scope(session, municipality_id=municipality_id)
        cycle = scope.grid.cycle(scope.grid.current().index - 1)
        selection = Selection(municipality_id=municipality_id)
        builds = {}
        for res in sorted({tiles.resolution_for_zoom(z) for z in zooms}):
            times, ahead = [], []
            for _ in range(3):
                started = time.perf_counter()
                layer = tiles.build_hex_layer(session, scope, cycle=cycle, res=res, selection=selection)
                times.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                tiles.render_ahead(session, layer.layer_id, layer.bbox, res=res)
                ahead.append((time.perf_counter() - started) * 1000)
            builds[res] = (statistics.median(times), len(layer.bbox), statistics.median(ahead), len(layer.rendered),
                           sum(len(body) for body, _ in layer.rendered.values()) / 1e6)
        print("  layer statistics + outlines + storing + tiles rendered ahead (cold), median of 3: "
              + ", ".join(f"res {res} {ms:.0f} ms ({n:,} hexagons)" for res, (ms, n, *_) in builds.items()))
        print("  rendering the same tiles ahead once more, alone (warm), for scale: "
              + ", ".join(f"res {res} {ms:.0f} ms ({t} tiles, {mb:.2f} MB)" for res, (_, _, ms, t, mb) in builds.items()))
        print("  the tile statement on demand (tiles not rendered ahead are made so):")
        print(f"  {'zoom':>4} {'res':>4} {'hexagons/tile':>13} {'p50 ms':>7} {'p95 ms':>7} {'best-of-runs p95':>17}")
        for z in zooms:
            res = tiles.resolution_for_zoom(z)
            layer = tiles.build_hex_layer(session, scope, cycle=cycle, res=res, selection=selection)
            times, counts, best = [], [], {}
            cover = covering_tiles(municipality_id, z)
            for _ in range(runs):
                rng.shuffle(cover)
                for t in cover:
                    rows = layer.rows_in(t.bounds(buffer_units=tiles.BUFFER))
                    if rows.size == 0:
                        continue
                    params = {"layer": layer.layer_id, "z": [t.z], "x": [t.x], "y": [t.y]}
                    started = time.perf_counter()
                    session.execute(tiles.HOTSPOT_TILES_SQL, params).one()
                    ms = (time.perf_counter() - started) * 1000
                    times.append(ms)
                    counts.append(rows.size)
                    best[t] = min(ms, best.get(t, ms))
            print(f"  {z:>4} {res:>4} {statistics.median(counts):>13.0f} {summary(times)} "
                  f"{p95(list(best.values())):>17.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--town", type=int, default=50_000)
    parser.add_argument("--zooms", default="10-16", help="first-last zoom")
    parser.add_argument("--port", type=int, default=0, help="uvicorn's port (default: a free one)")
    args = parser.parse_args(argv)
    first, last = (int(v) for v in args.zooms.split("-"))
    zooms = list(range(first, last + 1))
    town_id, big_id = load(args.town, args.big)
    ensure_user(big_id)
    with get_engine().connect() as conn:
        total = conn.execute(text("SELECT count(*) FROM report")).scalar_one()
        version = conn.execute(text("SHOW server_version")).scalar_one()
    print(f"machine: {describe()}; PostgreSQL {version}; {total:,} reports in the database; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"command: .venv/bin/python bench/tiles.py --runs {args.runs} --big {args.big} --town {args.town} "
          f"--zooms {args.zooms}")
    rng = random.Random(1)
    port = args.port or free_port()
    server = start_server(port, workers=1)
    base = f"http://127.0.0.1:{port}"
    try:
        for name, muni, user in ((f"{args.big:,} reports in one cycle", big_id, BENCH_USER),
                                 (f"town, {args.town:,} reports a year", town_id, "est")):
            print(f"\nhexagon tiles end to end over HTTP, previous cycle: {name}")
            bench_http(base, user, "hotspots", zooms, args.runs, muni, rng)
            print(f"hexagon tile SQL alone (in-process): {name}")
            bench_sql(muni, zooms, args.runs, rng)
        print(f"\nreport point tiles end to end over HTTP, previous cycle: town, {args.town:,} reports a year")
        bench_http(base, "est", "reports", [z for z in zooms if z >= tiles.REPORTS_MIN_ZOOM], args.runs, town_id, rng)
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f} (2 cores: above 2, other work shared them)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
