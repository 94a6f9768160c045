"""Vector tiles for web maps and QGIS: decoded with Mapbox's own decoder and checked against the
hotspot layer and the database."""
from __future__ import annotations

import datetime as dt
import math
import threading
import time

import h3
import httpx
import jwt
import mapbox_vector_tile
import pytest
import shapely
from shapely.geometry import Polygon
from sqlalchemy import select

from app.auth.models import User
from app.auth.service import create_token
from app.cache import TtlCache
from app.config import get_settings
from app.gis import tiles
from app.integrations.models import ApiKey
from app.integrations.service import key_digest
from tests.factories import add_reports, cycle_back
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


def test_report_tiles_hold_the_cycles_points_and_no_free_text(client, auth, db):
    prev = cycle_back(db, 1)
    here = add_reports(db, **SQUARE, at=noon(prev), n=2)
    window = add_reports(db, lat=59.3715, lon=16.5105, at=prev.start - dt.timedelta(hours=3),
                         until=prev.start + dt.timedelta(hours=3))  # overlaps the cycle's start
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
    assert len(both["reports"]["features"]) == 4


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
    assert past.headers["vary"].startswith("Authorization")
    etag = past.headers["etag"]
    assert etag.startswith('W/"') and etag.endswith('"') and len(etag) == 36  # weak: sent gzipped or not

    again = client.get(f"/tiles/hotspots/{address[0]}/{address[1]}/{address[2]}.mvt",
                       headers={**auth("est"), "If-None-Match": etag}, params={"cycle": "previous"})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert len(past.content) > 1024
    zipped = client.get(f"/tiles/hotspots/{address[0]}/{address[1]}/{address[2]}.mvt",
                        headers={**auth("est"), "Accept-Encoding": "gzip"}, params={"cycle": "previous"})
    assert zipped.headers.get("content-encoding") == "gzip" and zipped.headers["etag"] == etag
    assert zipped.content == past.content and "Authorization" in zipped.headers["vary"]
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
