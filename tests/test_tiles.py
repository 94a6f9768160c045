"""Vector tiles for web maps and QGIS: decoded with Mapbox's own decoder and checked against the
hotspot layer and the database."""
from __future__ import annotations

import datetime as dt
import math
import threading
import time
from functools import partial

import h3
import httpx
import jwt
import mapbox_vector_tile
import numpy as np
import orjson
import pytest
import shapely
from shapely.geometry import Polygon
from sqlalchemy import delete, event, func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.auth.models import User
from app.auth.service import create_token
from app.cache import TtlCache
from app.config import get_settings
from app.gis import tiles
from app.gis.models import HotspotTileCell, HotspotTileLayer
from app.hotspots import service
from app.hotspots.cycles import Cycle
from app.hotspots.queries import Selection
from app.integrations.models import ApiKey
from app.integrations.service import key_digest
from app.municipalities.models import Municipality
from app.reports.models import LONG_WINDOW, LONG_WINDOW_SQL
from tests.factories import add_reports, cycle_back, fill_a_year_for_the_planner
from tests.helpers import SQUARE, reading_key

MVT = "application/vnd.mapbox-vector-tile"
PROBLEM = "application/problem+json"
WORLD = 20037508.342789244


def tile_for(lat: float, lon: float, z: int) -> tuple[int, int, int]:
    """The XYZ tile containing the point (the usual slippy-map formula)."""
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return z, x, y


def mercator(lon: float, lat: float) -> tuple[float, float]:
    return WORLD * lon / 180, WORLD / math.pi * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))


def to_tile_units(lon: float, lat: float, z: int, x: int, y: int) -> tuple[float, float]:
    """A lon/lat point in the tile's own coordinates: 0..4096, y down from the tile's top."""
    size = 2 * WORLD / 2**z
    mx, my = mercator(lon, lat)
    return (mx - (-WORLD + x * size)) / size * 4096, ((WORLD - y * size) - my) / size * 4096


def decode(body: bytes) -> dict:
    return mapbox_vector_tile.decode(body, default_options={"y_coord_down": True})


def noon(cycle, day: int = 2) -> dt.datetime:
    return cycle.start + dt.timedelta(days=day, hours=12)


@pytest.fixture(autouse=True)
def fresh_layers():
    """Each test sees its own rows: forget the layers other tests left in the process cache."""
    tiles.layer_cache.clear()
    tiles.scope_cache.clear()
    yield
    tiles.layer_cache.clear()
    tiles.scope_cache.clear()


def get_tile(client, auth, layer, z, x, y, user="est", **params):
    return client.get(f"/tiles/{layer}/{z}/{x}/{y}.mvt", headers=auth(user), params=params)


def test_a_hexagon_tile_carries_the_layers_cells_and_numbers(client, auth, db):
    prev = cycle_back(db, 1)
    add_reports(db, **SQUARE, at=noon(prev), n=9)
    add_reports(db, lat=59.3745, lon=16.5135, at=noon(prev, 4), n=2)
    add_reports(db, lat=59.3600, lon=16.4900, at=noon(cycle_back(db, 2)), n=3)  # last cycle: 'previous'
    z, x, y = tile_for(SQUARE["lat"], SQUARE["lon"], 12)
    r = get_tile(client, auth, "hotspots", z, x, y, cycle=prev.id)
    assert r.status_code == 200 and r.headers["content-type"] == MVT
    features = decode(r.content)["hotspots"]["features"]

    geojson = client.get("/api/v1/hotspots", headers=auth("est"), params={"cycle": prev.id, "res": 9}).json()
    layer = {f["id"]: f for f in geojson["features"]}
    size = 2 * WORLD / 2**z
    reach = shapely.box(-WORLD + x * size, WORLD - (y + 1) * size, -WORLD + (x + 1) * size, WORLD - y * size
                        ).buffer(size * 64 / 4096, join_style="mitre")
    in_tile = {cell for cell, f in layer.items()
               if Polygon([mercator(lon, lat) for lon, lat in f["geometry"]["coordinates"][0]]).intersects(reach)}
    assert {f["properties"]["h3"] for f in features} == in_tile and len(in_tile) == 3
    for feature in features:
        props = feature["properties"]
        assert h3.get_resolution(props["h3"]) == 9  # zoom 12 -> res 9
        expected = layer[props["h3"]]["properties"]
        assert props == {k: expected[k] for k in tiles.HOTSPOT_FIELDS}
        assert feature["geometry"]["type"] == "Polygon"
        drawn = Polygon(feature["geometry"]["coordinates"][0])
        hexagon = Polygon([to_tile_units(lon, lat, z, x, y) for lat, lon in h3.cell_to_boundary(props["h3"])])
        expected = hexagon.intersection(shapely.box(-64, -64, 4096 + 64, 4096 + 64))  # clipped at the buffer
        assert drawn.symmetric_difference(expected).area < 0.02 * expected.area
    square = next(f["properties"] for f in features if f["properties"]["h3"] == h3.latlng_to_cell(
        SQUARE["lat"], SQUARE["lon"], 9))
    assert square["count"] == 9 and square["rank"] == 1 and square["hotspot"] == "hot"


@pytest.mark.parametrize("z, res", [(9, 7), (10, 8), (11, 8), (12, 9), (13, 9), (14, 10), (17, 10)])
def test_the_zoom_chooses_the_h3_resolution(client, auth, db, z, res):
    prev = cycle_back(db, 1)
    add_reports(db, **SQUARE, at=noon(prev), n=2)
    r = get_tile(client, auth, "hotspots", *tile_for(SQUARE["lat"], SQUARE["lon"], z), cycle="previous")
    cells = [f["properties"]["h3"] for f in decode(r.content)["hotspots"]["features"]]
    assert cells == [h3.latlng_to_cell(SQUARE["lat"], SQUARE["lon"], res)]
    fixed = get_tile(client, auth, "hotspots", *tile_for(SQUARE["lat"], SQUARE["lon"], z), cycle="previous", res=9)
    assert [f["properties"]["h3"] for f in decode(fixed.content)["hotspots"]["features"]] == [
        h3.latlng_to_cell(SQUARE["lat"], SQUARE["lon"], 9)]


def test_hexagon_tiles_take_the_layers_filters(client, auth, db):
    prev = cycle_back(db, 1)
    add_reports(db, **SQUARE, at=noon(prev), n=4, category="klotter")
    add_reports(db, **SQUARE, at=noon(prev), n=3, category="brand_container")
    add_reports(db, **SQUARE, at=noon(prev), n=5, category="klotter", status="new")
    address = tile_for(SQUARE["lat"], SQUARE["lon"], 13)

    def count(**params) -> float:
        body = get_tile(client, auth, "hotspots", *address, cycle=prev.id, **params).content
        return decode(body)["hotspots"]["features"][0]["properties"]["count"]

    assert count() == 7
    assert count(category="klotter") == 4
    assert count(group="brand") == 3
    assert count(status=["verified", "new"]) == 12
    assert count(status="verified,new") == 12  # comma-separated, as the report list and the OGC API take it
    assert count(category="klotter,brand_container") == 4 + 3
    bad = client.get(f"/tiles/hotspots/{address[0]}/{address[1]}/{address[2]}.mvt", headers=auth("est"),
                     params={"status": "verified,rejected"})
    assert bad.status_code == 422 and "rejected; allowed: verified, new" in bad.json()["detail"]


def test_report_tiles_hold_the_cycles_points_and_no_free_text(client, auth, db):
    prev = cycle_back(db, 1)
    here = add_reports(db, **SQUARE, at=noon(prev), n=2)
    hour = dt.timedelta(hours=1)
    window = add_reports(db, lat=59.3715, lon=16.5105, at=prev.start - 3 * hour,
                         until=prev.start + 3 * hour)  # overlaps the cycle's start
    window += add_reports(db, lat=59.3714, lon=16.5101, at=prev.end - 3 * hour, until=prev.end + 3 * hour)  # its end
    window += add_reports(db, lat=59.3713, lon=16.5102, at=prev.start - 24 * hour, until=prev.end + 24 * hour)  # all
    # Around its end and the long-window bound (LONG_WINDOW, one day): a window of exactly a day
    # ending within the day after; one just over a day ending exactly a day after; one of three weeks.
    window += add_reports(db, lat=59.3712, lon=16.5103, at=prev.end - 12 * hour, until=prev.end + 12 * hour)
    window += add_reports(db, lat=59.3712, lon=16.5104, at=prev.end - dt.timedelta(minutes=1),
                          until=prev.end + 24 * hour)
    window += add_reports(db, lat=59.3711, lon=16.5104, at=prev.start - 72 * hour, until=prev.end + 96 * hour)
    add_reports(db, **SQUARE, at=prev.end, until=prev.end + 72 * hour)  # a long window starting as the next cycle does
    add_reports(db, **SQUARE, at=prev.start - 5 * hour, until=prev.start)  # ends as the cycle starts: not in it
    add_reports(db, **SQUARE, at=prev.end)  # the next cycle's first moment
    add_reports(db, **SQUARE, at=noon(prev), status="new")  # not verified: not by default
    add_reports(db, **SQUARE, at=noon(cycle_back(db, 2)))  # another cycle
    add_reports(db, lat=59.3600, lon=16.4700, at=noon(prev))  # another tile
    for r in here + window:
        r.description = "Kalle Andersson såg det"
    db.flush()
    z, x, y = tile_for(SQUARE["lat"], SQUARE["lon"], 15)
    r = get_tile(client, auth, "reports", z, x, y, cycle=prev.id)
    assert r.status_code == 200 and r.headers["content-type"] == MVT
    features = decode(r.content)["reports"]["features"]
    assert sorted(f["properties"]["id"] for f in features) == sorted(str(r.id) for r in here + window)
    by_id = {f["properties"]["id"]: f for f in features}
    for report in here + window:
        feature = by_id[str(report.id)]
        point = shapely.from_wkb(bytes(report.geom.data))
        px, py = to_tile_units(point.x, point.y, z, x, y)
        fx, fy = feature["geometry"]["coordinates"]
        assert feature["geometry"]["type"] == "Point" and abs(fx - px) <= 1 and abs(fy - py) <= 1
        props = feature["properties"]
        assert set(props) == set(tiles.REPORT_FIELDS)
        assert props["category"] == "klotter" and props["status"] == "verified" and props["colour"].startswith("#")
        assert props["occurred_from"] == report.occurred_from.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert b"Kalle" not in r.content
    both = decode(get_tile(client, auth, "reports", z, x, y, cycle=prev.id, status=["verified", "new"]).content)
    assert len(both["reports"]["features"]) == len(here + window) + 1


def test_report_tiles_of_an_older_cycle_read_bounded_ranges(client, auth, db):
    """Windows that end after the cycle come from two bounded reads (those ending within a day
    after it, and the long windows' own index), never from every later report."""
    old = cycle_back(db, 6)
    add_reports(db, **SQUARE, at=noon(old), n=2)
    statements = []

    def record(conn, cursor, statement, parameters, *args):
        if "ST_AsMVT" in statement:
            statements.append((statement, parameters))

    event.listen(db.connection(), "before_cursor_execute", record)
    try:
        r = get_tile(client, auth, "reports", *tile_for(SQUARE["lat"], SQUARE["lon"], 14), cycle=old.id)
    finally:
        event.remove(db.connection(), "before_cursor_execute", record)
    assert r.status_code == 200 and len(decode(r.content)["reports"]["features"]) == 2
    (statement, parameters), = statements
    db.execute(text("SET LOCAL enable_seqscan = off"))  # a test table is small enough to scan
    fill_a_year_for_the_planner(db)
    # Without the spatial index (dropped in the test's transaction, which is rolled back): the
    # tile's own bounds are no help for a big tile, and each branch must still be a bounded read.
    db.execute(text("DROP INDEX idx_report_geom"))
    plan = "\n".join(row[0] for row in db.connection().exec_driver_sql("EXPLAIN " + statement, parameters))
    assert "Seq Scan on report" not in plan, plan
    assert plan.count("ix_report_municipality_occurred_to") == 2 and "ix_report_long_windows" in plan, plan


@pytest.mark.parametrize("last_day", [dt.date(2026, 3, 28), dt.date(2026, 10, 24)])  # the DST nights follow
def test_report_tiles_keep_the_windows_around_a_cycle_end_before_a_dst_change(db, last_day):
    """A cycle ending at the local midnight before the clocks change: the day after its end is 23
    or 25 hours long, while the long windows' index counts 24; no window between falls out."""
    cycle = Cycle(index=0, first_day=last_day - dt.timedelta(days=13), last_day=last_day)
    end, hours = cycle.end, dt.timedelta(hours=1)
    kept = []
    for before, after in ((0.5, 22.5), (0.5, 23.25), (0.5, 23.75), (0.25, 23.75), (0.5, 24), (0.5, 24.5),
                          (0.5, 25.5), (48, 1)):
        start = (end.astimezone(dt.UTC) - before * hours).astimezone(end.tzinfo)
        kept += add_reports(db, **SQUARE, at=start, until=(end.astimezone(dt.UTC) + after * hours))
    add_reports(db, **SQUARE, at=end, until=end + 30 * hours)  # starts as the next cycle does: not in it
    municipality_id = db.scalar(select(Municipality.id))
    tile = tiles.reports_tile(db, tile=tiles.TileAddress(*tile_for(SQUARE["lat"], SQUARE["lon"], 14)), cycle=cycle,
                              selection=Selection(municipality_id=municipality_id))
    ids = sorted(f["properties"]["id"] for f in decode(tile.body)["reports"]["features"])
    assert ids == sorted(str(r.id) for r in kept)


def test_the_long_window_bound_is_the_indexs_predicate(db):
    assert db.scalar(text(f"SELECT CAST(:w AS interval) = {LONG_WINDOW_SQL}"), {"w": LONG_WINDOW})
    predicate = db.scalar(text("SELECT pg_get_expr(indpred, indrelid) FROM pg_index "
                               "WHERE indexrelid = 'ix_report_long_windows'::regclass"))
    literal = LONG_WINDOW_SQL.removeprefix("interval ")  # the planner matches the query's words to these
    assert predicate == f"((occurred_to - occurred_from) > {literal}::interval)"


@pytest.mark.parametrize("layer", ["hotspots", "reports"])
def test_reporters_get_no_tiles(client, auth, layer):
    address = tile_for(SQUARE["lat"], SQUARE["lon"], 14)
    r = get_tile(client, auth, layer, *address, user="reporter")
    assert r.status_code == 403 and r.headers["content-type"] == PROBLEM
    assert "reporter" in r.json()["detail"]
    assert client.get(f"/tiles/{layer}/14/{address[1]}/{address[2]}.mvt").status_code == 401
    for user in ("est", "coordinator", "gis"):
        assert get_tile(client, auth, layer, *address, user=user).status_code in (200, 204)


def test_hotspot_tiles_check_every_token_and_see_user_changes_within_the_cache_time(client, auth, db, monkeypatch):
    """Hotspot tiles keep the token's user for tile_auth_cache_seconds (no database per tile):
    the token itself (signature, expiry, kind) is checked on every tile; a role change or a
    deactivation reaches the tiles when that time is up."""
    settings = get_settings()
    monkeypatch.setattr(settings, "tile_auth_cache_seconds", 0.3)
    prev = cycle_back(db, 1)
    add_reports(db, **SQUARE, at=noon(prev), n=3)
    path = "/tiles/hotspots/{}/{}/{}.mvt".format(*tile_for(SQUARE["lat"], SQUARE["lon"], 14))
    est = db.scalar(select(User).where(User.username == "est"))
    headers = auth("est")
    assert client.get(path, headers=headers, params={"cycle": "previous"}).status_code == 200  # now cached

    expired = jwt.encode({"sub": str(est.id), "role": est.role, "exp": dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)},
                         settings.secret_key, algorithm="HS256")
    r = client.get(path, headers={"Authorization": f"Bearer {expired}"})
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    forged = jwt.encode({"sub": str(est.id), "exp": dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)}, "x" * 32,
                        algorithm="HS256")
    assert client.get(path, headers={"Authorization": f"Bearer {forged}"}).status_code == 401

    est.role = "reporter"  # demoted: the cached principal serves until the time is up, then 403
    db.flush()
    assert client.get(path, headers=headers, params={"cycle": "previous"}).status_code == 200
    time.sleep(0.35)
    r = client.get(path, headers=headers, params={"cycle": "previous"})
    assert r.status_code == 403 and "reporter" in r.json()["detail"]
    est.role = "est_member"
    est.active = False
    db.flush()
    time.sleep(0.35)
    r = client.get(path, headers=headers, params={"cycle": "previous"})
    assert r.status_code == 401 and "deactivated" in r.json()["detail"]


def test_hotspot_tiles_take_reading_keys_but_not_integration_keys(client, auth, db):
    path = "/tiles/hotspots/{}/{}/{}.mvt".format(*tile_for(SQUARE["lat"], SQUARE["lon"], 14))
    gis = db.scalar(select(User).where(User.username == "gis"))
    assert client.get(path, headers={"X-API-Key": reading_key(db, "gis")}).status_code in (200, 204)
    used_before = db.scalar(select(ApiKey.last_used_at).where(ApiKey.key_sha256 == key_digest("demo-rescue-key")))
    rescue = client.get(path, headers={"X-API-Key": "demo-rescue-key"})
    assert rescue.status_code == 403 and "submit reports but not read" in rescue.json()["detail"]
    assert db.scalar(select(ApiKey.last_used_at).where(ApiKey.key_sha256 == key_digest("demo-rescue-key"))) == used_before
    assert client.get(path, headers={"X-API-Key": "no-such-key"}).status_code == 401
    assert client.get(path, headers={"Authorization": "Bearer not.a.token"}).status_code == 401
    login = create_token(user=gis, settings=get_settings())[0]
    assert client.get("/api/v1/reports", headers={"Authorization": f"Bearer {login}"}).status_code == 200
    key = reading_key(db, "gis")
    assert client.get("/api/v1/reports", headers={"Authorization": f"Bearer {key}"}).status_code == 401


def test_cache_headers_and_a_304_for_an_unchanged_tile(client, auth, db):
    prev = cycle_back(db, 1)
    add_reports(db, **SQUARE, at=noon(prev), n=3)
    for i in range(6):  # 36 hexagons around the square: a tile over 1 kB, so that it is sent gzipped
        for j in range(6):
            add_reports(db, lat=59.3680 + i * 0.0015, lon=16.5030 + j * 0.0030, at=noon(prev))
    address = tile_for(SQUARE["lat"], SQUARE["lon"], 14)
    past = get_tile(client, auth, "hotspots", *address, cycle="previous")
    assert past.headers["cache-control"] == f"private, max-age={tiles.PAST_CYCLE_MAX_AGE}"
    assert past.headers["vary"] == "Authorization, X-API-Key, Accept-Encoding"
    etag = past.headers["etag"]
    assert etag.startswith('W/"') and etag.endswith('"') and len(etag) == 36  # weak: sent gzipped or not

    again = client.get(f"/tiles/hotspots/{address[0]}/{address[1]}/{address[2]}.mvt",
                       headers={**auth("est"), "If-None-Match": etag}, params={"cycle": "previous"})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert again.headers["vary"] == past.headers["vary"]
    assert len(past.content) > 1024
    zipped = client.get(f"/tiles/hotspots/{address[0]}/{address[1]}/{address[2]}.mvt",
                        headers={**auth("est"), "Accept-Encoding": "gzip"}, params={"cycle": "previous"})
    assert zipped.headers.get("content-encoding") == "gzip" and zipped.headers["etag"] == etag
    assert zipped.content == past.content and "Authorization" in zipped.headers["vary"]
    plain = client.get(f"/tiles/hotspots/{address[0]}/{address[1]}/{address[2]}.mvt",
                       headers={**auth("est"), "Accept-Encoding": "identity"}, params={"cycle": "previous"})
    assert "content-encoding" not in plain.headers and plain.content == past.content
    assert plain.headers["vary"] == "Authorization, X-API-Key, Accept-Encoding"  # once, not again by the middleware
    weak_list = client.get(f"/tiles/hotspots/{address[0]}/{address[1]}/{address[2]}.mvt",
                           headers={**auth("est"), "If-None-Match": f'"other", {etag[2:]}'}, params={"cycle": "previous"})
    assert weak_list.status_code == 304
    other = client.get(f"/tiles/hotspots/{address[0]}/{address[1]}/{address[2]}.mvt",
                       headers={**auth("est"), "If-None-Match": '"something-else"'}, params={"cycle": "previous"})
    assert other.status_code == 200 and other.content == past.content

    current = get_tile(client, auth, "hotspots", *address, cycle="current")  # 200 or 204: same headers
    assert current.headers["cache-control"] == f"private, max-age={tiles.CURRENT_CYCLE_MAX_AGE}"
    reports = get_tile(client, auth, "reports", *address, cycle="previous")
    assert reports.headers["cache-control"] == f"private, max-age={tiles.REPORTS_MAX_AGE}" and reports.headers["etag"]


def test_a_tile_without_features_is_204(client, auth, db):
    add_reports(db, **SQUARE, at=noon(cycle_back(db, 1)), n=3)
    stockholm = tile_for(59.3293, 18.0686, 12)
    for layer in ("hotspots", "reports"):
        r = get_tile(client, auth, layer, *stockholm, cycle="previous")
        assert r.status_code == 204 and r.content == b"" and r.headers["cache-control"].startswith("private")
        assert r.headers["vary"] == "Authorization, X-API-Key, Accept-Encoding"


def test_the_hexagon_tile_route_documents_its_parameters_and_credentials(client):
    spec = client.get("/openapi.json").json()
    route = spec["paths"]["/tiles/hotspots/{z}/{x}/{y}.mvt"]["get"]
    params = {p["name"]: p for p in route["parameters"]}
    assert {name for name, p in params.items() if p["in"] == "query"} == {
        "category", "group", "organisation_kind", "status", "cycle", "res"}
    assert {name for name, p in params.items() if p["in"] == "path"} == {"z", "x", "y"}
    assert all(params[name].get("description") for name in ("category", "status", "cycle", "res"))
    schemes = spec["components"]["securitySchemes"]
    assert route["security"] == [{"OAuth2PasswordBearer": []}, {"APIKeyHeader": []}, {"ReadingKeyBasic": []}]
    assert {"OAuth2PasswordBearer", "APIKeyHeader", "ReadingKeyBasic"} <= set(schemes)
    assert schemes["ReadingKeyBasic"] == {"type": "http", "scheme": "basic",
                                          "description": schemes["ReadingKeyBasic"]["description"]}
    # the same three as the other GIS routes, which take them as dependencies
    ogc = spec["paths"]["/ogc/collections/{collection_id}/items"]["get"]["security"]
    assert sorted(map(str, ogc)) == sorted(map(str, route["security"]))


@pytest.mark.parametrize("path, status, detail", [
    ("/tiles/hotspots/23/0/0.mvt", 404, "zoom levels are 0-22"),
    ("/tiles/hotspots/3/8/0.mvt", 404, "x and y run from 0 to 7"),
    ("/tiles/hotspots/3/0/-1.mvt", 404, "x and y run from 0 to 7"),
    ("/tiles/hotspots/3/a/0.mvt", 422, "x"),
    ("/tiles/heatmap/3/0/0.mvt", 404, "layers: hotspots, reports"),
    ("/tiles/reports/11/1112/601.mvt", 404, "from zoom 12"),
    ("/tiles/reports/14/8943/4814.mvt?res=9", 422, "res"),
    ("/tiles/hotspots/14/8943/4814.mvt?res=11", 422, "res"),
    ("/tiles/hotspots/14/8943/4814.mvt?category=nope", 422, "Unknown category 'nope'"),
    ("/tiles/hotspots/14/8943/4814.mvt?cycle=someday", 422, "cycle"),
    # a typo must not quietly draw every hexagon or point, nor go into a TileJSON's tile URLs
    ("/tiles/hotspots/14/8943/4814.mvt?categroy=brand_fordon", 422, "categroy"),
    ("/tiles/reports/14/8943/4814.mvt?bogus=1", 422, "Unknown query parameter(s) bogus"),
    ("/tiles/hotspots.json?bogus=1", 422, "Unknown query parameter(s) bogus"),
    ("/tiles/reports.json?cycle=previous&bogus=1", 422, "Unknown query parameter(s) bogus"),
])
def test_bad_tile_requests_get_a_problem(client, auth, path, status, detail):
    r = client.get(path, headers=auth("est"))
    assert r.status_code == status and r.headers["content-type"] == PROBLEM
    assert detail in r.text


def test_tilejson_describes_the_layer_for_maplibre(client, auth):
    r = client.get("/tiles/hotspots.json", headers=auth("gis"), params={"cycle": "previous", "group": "brand"})
    assert r.status_code == 200
    doc = r.json()
    assert doc["tilejson"] == "3.0.0" and doc["minzoom"] == 0
    assert doc["tiles"] == ["http://testserver/tiles/hotspots/{z}/{x}/{y}.mvt?cycle=previous&group=brand"]
    fixed = client.get("/tiles/hotspots.json", headers=auth("gis"), params={"res": 8}).json()
    assert fixed["tiles"] == ["http://testserver/tiles/hotspots/{z}/{x}/{y}.mvt?res=8"]  # one resolution at every zoom
    minlon, minlat, maxlon, maxlat = doc["bounds"]
    assert minlon < SQUARE["lon"] < maxlon and minlat < SQUARE["lat"] < maxlat
    assert set(doc["vector_layers"][0]["fields"]) == set(tiles.HOTSPOT_FIELDS)
    reports = client.get("/tiles/reports.json", headers=auth("gis")).json()
    assert reports["minzoom"] == tiles.REPORTS_MIN_ZOOM and reports["vector_layers"][0]["id"] == "reports"
    assert client.get("/tiles/reports.json", headers=auth("reporter")).status_code == 403
    assert client.get("/tiles/heatmap.json", headers=auth("gis")).status_code == 404


def test_the_layer_cache_builds_once_for_concurrent_tiles_and_expires():
    cache = TtlCache(size=2)
    builds = []

    def build():
        builds.append(1)
        time.sleep(0.05)
        return object()

    threads = [threading.Thread(target=cache.get, args=("a",), kwargs={"ttl": 60, "build": build}) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds) == 1
    cache.get("b", ttl=0, build=build)  # expires at once
    cache.get("b", ttl=60, build=build)
    assert len(builds) == 3
    cache.get("c", ttl=60, build=build)  # size 2: the least recently used ('a') goes
    cache.get("a", ttl=60, build=build)
    assert len(builds) == 5


def test_a_live_server_serves_tiles_over_tcp_with_etag(live_server):
    headers = live_server.headers("gis")
    z, x, y = tile_for(SQUARE["lat"], SQUARE["lon"], 12)
    url = f"{live_server.url}/tiles/hotspots/{z}/{x}/{y}.mvt?cycle=previous"
    first = httpx.get(url, headers=headers)
    assert first.status_code == 200 and first.headers["content-type"] == MVT
    features = decode(first.content)["hotspots"]["features"]
    assert len(features) > 10 and all(h3.get_resolution(f["properties"]["h3"]) == 9 for f in features)
    again = httpx.get(url, headers={**headers, "If-None-Match": first.headers["etag"]})
    assert again.status_code == 304


# --- the stored hexagon layers (app/gis/models.py) ------------------------------------------

# The tile statement as it was before the layers were stored: the tile's hexagons sent along as
# one JSON array. Kept here as the reference the stored layers must reproduce byte for byte.
SENT_HEXAGONS_TILE = text("""
    SELECT ST_AsMVT(t, 'hotspots', 4096, 'geom') FROM (
        SELECT ST_AsMVTGeom(ST_GeomFromWKB(decode(c.wkb, 'hex'), 3857), ST_TileEnvelope(:z, :x, :y), 4096, 64, true)
                   AS geom, c.h3, c.rank, c.count, c.previous, c.baseline, c.change, c.change_vs_baseline,
               c.increase, c.hotspot, c.trend, c.hot_streak, c.repeat
        FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS c(wkb text, h3 text, rank integer, count float,
            previous float, baseline float, change float, change_vs_baseline float, increase boolean,
            hotspot text, trend text, hot_streak integer, repeat boolean)) AS t""")


def tile_from_sent_hexagons(db, *, cycle, res: int, address: tuple[int, int, int]) -> bytes:
    """The tile as the previous code made it: the hexagons whose bounding box meets the tile and
    its buffer, best rank first, as JSON with hex WKB in EPSG:3857."""
    scope = service.get_scope(db, municipality_id=db.scalar(select(Municipality.id)))
    selection = service.build_selection(db, municipality_id=scope.municipality.id, categories=[], groups=[],
                                        organisation_kinds=[], statuses=[])
    result = service.cell_stats(db, scope, cycle=cycle, res=res, selection=selection)
    rows = service.shown(result)
    props = service.cell_properties(result, rows)
    polygons = tiles._web_mercator_hexagons([int(c) for c in result.cells[rows]])
    z, x, y = address
    minx, miny, maxx, maxy = tiles.TileAddress(z, x, y).bounds(buffer_units=tiles.BUFFER)
    b = shapely.bounds(polygons)
    near = np.flatnonzero((b[:, 0] <= maxx) & (b[:, 2] >= minx) & (b[:, 1] <= maxy) & (b[:, 3] >= miny))
    wkb = shapely.to_wkb(polygons, hex=True)
    payload = orjson.dumps([{**{k: props[i][k] for k in tiles.HOTSPOT_FIELDS}, "wkb": wkb[i]} for i in near])
    return bytes(db.scalar(SENT_HEXAGONS_TILE, {"rows": payload.decode(), "z": z, "x": x, "y": y}) or b"")


def add_neighbourhood(db, cycle) -> None:
    """Reports in ~50 hexagons around the square with different counts: ranks, hot cells, clipping."""
    add_reports(db, **SQUARE, at=noon(cycle), n=12)
    for i in range(7):
        for j in range(7):
            add_reports(db, lat=59.3640 + i * 0.0025, lon=16.4980 + j * 0.0045, at=noon(cycle), n=1 + (i * j) % 4)
    add_reports(db, lat=59.3700, lon=16.5000, at=noon(cycle_back(db, 2)), n=3)  # 'previous' of the cycle


def stored_layers(db) -> dict[int, int]:
    """Stored layer id -> its number of hexagons."""
    return dict(db.execute(select(HotspotTileLayer.id, func.count(HotspotTileCell.rank))
                           .outerjoin(HotspotTileCell, HotspotTileCell.layer_id == HotspotTileLayer.id)
                           .group_by(HotspotTileLayer.id)).all())


def test_tiles_from_stored_hexagons_are_the_tiles_made_from_sent_hexagons(client, auth, db):
    prev = cycle_back(db, 1)
    add_neighbourhood(db, prev)
    compared = 0
    for z in (10, 12, 13, 14):
        cz, cx, cy = tile_for(SQUARE["lat"], SQUARE["lon"], z)
        for dx, dy in ((0, 0), (1, 0), (0, 1), (-1, -1)):
            address = (z, cx + dx, cy + dy)
            stored = get_tile(client, auth, "hotspots", *address, cycle=prev.id)
            sent = tile_from_sent_hexagons(db, cycle=prev, res=tiles.resolution_for_zoom(z), address=address)
            assert stored.status_code == (200 if sent else 204)
            assert stored.content == sent
            if sent:
                old, new = decode(sent)["hotspots"]["features"], decode(stored.content)["hotspots"]["features"]
                assert [(f["properties"], f["geometry"]) for f in new] == [(f["properties"], f["geometry"]) for f in old]
                compared += len(new)
    assert compared > 100


def test_each_built_layer_has_its_own_id_and_an_emptied_table_is_built_again(client, auth, db):
    """Several worker processes each build and cache their own layer: each gets its own id. After
    a PostgreSQL crash the unlogged tables are empty while the app keeps its cache: a tile
    rendered with its layer still comes from memory, and a tile rendered on demand builds the
    layer again instead of coming back empty."""
    prev = cycle_back(db, 1)
    add_neighbourhood(db, prev)
    address = tile_for(SQUARE["lat"], SQUARE["lon"], 12)  # res 9, rendered with the layer
    first = get_tile(client, auth, "hotspots", *address, cycle=prev.id)
    assert first.status_code == 200 and len(decode(first.content)["hotspots"]["features"]) > 10
    (ours, n), = stored_layers(db).items()
    assert n > 40

    scope = service.get_scope(db, municipality_id=db.scalar(select(Municipality.id)))
    other_worker = tiles.build_hex_layer(db, scope, cycle=prev, res=9,
                                         selection=Selection(municipality_id=scope.municipality.id))
    assert other_worker.layer_id != ours and stored_layers(db) == {ours: n, other_worker.layer_id: n}
    assert get_tile(client, auth, "hotspots", *address, cycle=prev.id).content == first.content

    deep = tile_for(SQUARE["lat"], SQUARE["lon"], tiles.PRERENDER_MAX_ZOOM + 1)  # res 10, rendered on demand
    deep_first = get_tile(client, auth, "hotspots", *deep, cycle=prev.id)
    assert deep_first.status_code == 200 and decode(deep_first.content)["hotspots"]["features"]
    res10_layer, k = next((i, m) for i, m in stored_layers(db).items() if i not in (ours, other_worker.layer_id))

    db.execute(text("TRUNCATE hotspot_tile_layer, hotspot_tile_cell"))  # what crash recovery does to them
    again = get_tile(client, auth, "hotspots", *address, cycle=prev.id)
    assert again.status_code == 200 and again.content == first.content and stored_layers(db) == {}
    deep_again = get_tile(client, auth, "hotspots", *deep, cycle=prev.id)
    assert deep_again.status_code == 200 and deep_again.content == deep_first.content
    (rebuilt, m), = stored_layers(db).items()
    assert rebuilt != res10_layer and m == k
    assert get_tile(client, auth, "hotspots", *deep, cycle=prev.id).content == deep_first.content
    assert list(stored_layers(db)) == [rebuilt]  # built once, then read


def test_tiles_rendered_with_the_layer_are_the_tiles_rendered_on_demand(db):
    """Every tile a layer renders ahead (lower zooms first, within the limits) is byte for byte
    the tile the same statement makes for it alone; the tiles with hexagons are exactly those."""
    prev = cycle_back(db, 1)
    add_neighbourhood(db, prev)
    scope = service.get_scope(db, municipality_id=db.scalar(select(Municipality.id)))
    for res in (9, 10):
        layer = tiles.build_hex_layer(db, scope, cycle=prev, res=res,
                                      selection=Selection(municipality_id=scope.municipality.id))
        zooms = [z for z in range(tiles.PRERENDER_MAX_ZOOM + 1) if tiles.resolution_for_zoom(z) == res]
        assert {z for z, _, _ in layer.rendered} == set(zooms)
        for z in zooms:
            x0, y0 = min((x, y) for zz, x, y in layer.rendered if zz == z)
            for x in range(x0 - 2, x0 + 6):  # around the rendered ones: empty tiles are found by the boxes
                for y in range(y0 - 2, y0 + 6):
                    address = tiles.TileAddress(z, x, y)
                    (_, _, _, alone, _), = db.execute(tiles.HOTSPOT_TILES_SQL, {
                        "layer": layer.layer_id, "z": [z], "x": [x], "y": [y]}).all()
                    ahead = layer.rendered.get((z, x, y))
                    assert (ahead[0] if ahead else b"") == bytes(alone or b"")
                    assert (ahead is not None) == (layer.rows_in(address.bounds(buffer_units=tiles.BUFFER)).size > 0)
                    if ahead:
                        assert ahead[1] == tiles.tile_etag(ahead[0])


def test_a_tile_rendered_with_its_layer_needs_no_statement_and_a_deeper_one_needs_one(client, auth, db):
    prev = cycle_back(db, 1)
    add_neighbourhood(db, prev)
    statements = []
    listen = partial(event.listen, db.connection(), "before_cursor_execute")
    unlisten = partial(event.remove, db.connection(), "before_cursor_execute")

    def record(conn, cursor, statement, *args):
        if "SAVEPOINT" not in statement:  # the test's own transaction handling (the route's session is autocommit)
            statements.append(statement)

    for z, expected in ((12, 0), (14, 0), (tiles.PRERENDER_MAX_ZOOM + 1, 1)):
        address = tile_for(SQUARE["lat"], SQUARE["lon"], z)
        first = get_tile(client, auth, "hotspots", *address, cycle=prev.id)  # builds the layer (and the caller)
        headers = auth("est")
        listen(record)
        try:
            again = client.get("/tiles/hotspots/{}/{}/{}.mvt".format(*address), headers=headers,
                               params={"cycle": prev.id})
            empty = client.get(f"/tiles/hotspots/{z}/0/0.mvt", headers=headers, params={"cycle": prev.id})
        finally:
            unlisten(record)
        assert first.status_code == again.status_code == 200 and again.content == first.content
        assert empty.status_code == 204
        assert len(statements) == expected, (z, statements)
        statements.clear()


def test_render_ahead_keeps_to_its_limits(db, monkeypatch):
    prev = cycle_back(db, 1)
    add_neighbourhood(db, prev)
    scope = service.get_scope(db, municipality_id=db.scalar(select(Municipality.id)))
    build = partial(tiles.build_hex_layer, db, scope, cycle=prev, res=10,
                    selection=Selection(municipality_id=scope.municipality.id))
    everything = build().rendered
    assert len(everything) > 5
    monkeypatch.setattr(tiles, "PRERENDER_MAX_TILES", 3)
    assert list(build().rendered) == list(everything)[:3]  # the lowest zoom's tiles first
    monkeypatch.setattr(tiles, "PRERENDER_MAX_TILES", 1024)
    monkeypatch.setattr(tiles, "PRERENDER_MAX_BYTES", len(next(iter(everything.values()))[0]))
    assert list(build().rendered) == list(everything)[:1]


def test_building_a_layer_deletes_the_layers_no_cache_can_still_hold(db):
    prev = cycle_back(db, 1)
    add_neighbourhood(db, prev)
    scope = service.get_scope(db, municipality_id=db.scalar(select(Municipality.id)))
    selection = Selection(municipality_id=scope.municipality.id)

    def build_aged(seconds: float) -> int:
        layer_id = tiles.build_hex_layer(db, scope, cycle=prev, res=9, selection=selection).layer_id
        db.execute(update(HotspotTileLayer).where(HotspotTileLayer.id == layer_id)
                   .values(built_at=func.now() - dt.timedelta(seconds=seconds)))
        return layer_id

    expired = build_aged(tiles.STORED_LAYER_SECONDS + 1)
    still_cached = build_aged(max(tiles.CURRENT_CYCLE_MAX_AGE, tiles.PAST_CYCLE_MAX_AGE) - 1)
    newest = build_aged(0)
    layers = stored_layers(db)
    assert set(layers) == {still_cached, newest} and layers[still_cached] == layers[newest] > 40
    assert db.scalar(select(func.count()).where(HotspotTileCell.layer_id == expired)) == 0


def test_a_layer_is_committed_when_built_and_a_failed_build_leaves_nothing(live_server):
    """On the tiles' autocommit session (as in the route): a stored layer is readable at once by
    another connection (another worker's tile); a build that fails part-way stores no hexagon."""
    autocommit = live_server.engine.execution_options(isolation_level="AUTOCOMMIT")
    rows = [{**{k: None for k in tiles.HOTSPOT_FIELDS}, "h3": "8908b1a1a2bffff", "rank": rank,
             "wkb": shapely.to_wkb(shapely.box(1.8e6 + rank, 8.2e6, 1.8e6 + rank + 500, 8.2e6 + 500), hex=True)}
            for rank in (1, 2, 3)]
    count_cells = select(func.count()).select_from(HotspotTileCell)
    with Session(autocommit) as builder, Session(live_server.engine) as reader:
        before = reader.scalar(count_cells)
        layer_id = tiles.store_hexagons(builder, orjson.dumps(rows))
        try:
            assert reader.scalar(select(func.count()).where(HotspotTileCell.layer_id == layer_id)) == 3
        finally:
            builder.execute(delete(HotspotTileLayer).where(HotspotTileLayer.id == layer_id))
        count_layers = select(func.count()).select_from(HotspotTileLayer)
        layers_before = reader.scalar(count_layers)
        broken = [*rows, {**rows[0], "rank": 4, "wkb": "not hex"}]
        with pytest.raises(DBAPIError):
            tiles.store_hexagons(builder, orjson.dumps(broken))
        assert reader.scalar(count_cells) == before
        assert reader.scalar(count_layers) == layers_before


def test_two_processes_serve_the_same_tile_from_their_own_layers(live_server):
    """The live server (one worker) and this test process (a second one) each build the layer."""
    z, x, y = tile_for(SQUARE["lat"], SQUARE["lon"], 12)
    served = httpx.get(f"{live_server.url}/tiles/hotspots/{z}/{x}/{y}.mvt?cycle=previous",
                       headers=live_server.headers("gis"))
    assert served.status_code == 200
    with Session(live_server.engine.execution_options(isolation_level="AUTOCOMMIT")) as session:
        before = set(session.scalars(select(HotspotTileLayer.id)))
        municipality_id = session.scalar(select(Municipality.id).order_by(Municipality.id))
        scope = service.get_scope(session, municipality_id=municipality_id)
        selection = service.build_selection(session, municipality_id=municipality_id, categories=[], groups=[],
                                            organisation_kinds=[], statuses=[])
        try:
            ours = tiles.hotspot_tile(session, scope, tile=tiles.TileAddress(z, x, y),
                                      cycle=scope.grid.resolve("previous"), res=9, selection=selection)
            built = set(session.scalars(select(HotspotTileLayer.id))) - before
            assert len(built) == 1 and not built & before
            assert ours.body == served.content
        finally:
            session.execute(delete(HotspotTileLayer).where(HotspotTileLayer.id.in_(
                set(session.scalars(select(HotspotTileLayer.id))) - before)))
