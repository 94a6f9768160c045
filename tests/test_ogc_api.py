"""The OGC API – Features at /ogc as a GIS engineer's client sees it: collections, paging,
time and space filters, SWEREF 99 TM in its own axis order, and who may read."""
from __future__ import annotations

import csv
import datetime as dt
import io

import h3
import pytest
import shapely
from geoalchemy2.shape import to_shape
from sqlalchemy import func, select

from app.auth.models import User
from app.config import get_settings
from app.gis import service
from app.hotspots import service as hotspots
from app.municipalities.models import Municipality
from app.reports.models import Report
from tests.factories import add_reports, cycle_back
from tests.helpers import SQUARE, reading_key

PROBLEM = "application/problem+json"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
SWEREF = "http://www.opengis.net/def/crs/EPSG/0/3006"
STATION = {"lat": 59.3680, "lon": 16.5063}
T0 = dt.datetime(2026, 10, 5, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def fresh_layers():
    """Every test adds its own reports: no hotspot layer kept from another test."""
    service.layer_cache.clear()
    yield
    service.layer_cache.clear()


def get(client, auth, url, user="gis", **params):
    r = client.get(url, headers=auth(user), params=params or None)  # None keeps a next link's own query
    assert r.status_code == 200, r.text
    return r


def items(client, auth, collection="reports", **params):
    r = get(client, auth, f"/ogc/collections/{collection}/items", **params)
    assert r.headers["content-type"] == "application/geo+json"
    # Read with a key or a login: no proxy and no GIS program's disk cache keeps it.
    assert r.headers["cache-control"] == "private, no-store" and r.headers["vary"].startswith("Authorization, X-API-Key")
    return r.json()


def link(body, rel):
    found = [x["href"] for x in body["links"] if x["rel"] == rel]
    return found[0].replace("http://testserver", "") if found else None


def sweref(db, report_id) -> tuple[float, float]:
    """(northing, easting) of a report as PostGIS computes it."""
    geom = func.ST_Transform(Report.geom, 3006)
    e, n = db.execute(select(func.ST_X(geom), func.ST_Y(geom)).where(Report.id == report_id)).one()
    return n, e


def test_landing_page_links_the_api_definition_conformance_and_collections(client):
    r = client.get("/ogc")  # no login: nothing but links
    assert r.status_code == 200
    rels = {x["rel"]: x["href"] for x in r.json()["links"]}
    assert rels["service-desc"] == "http://testserver/openapi.json"
    assert rels["conformance"] == "http://testserver/ogc/conformance"
    assert rels["data"] == "http://testserver/ogc/collections"
    api = client.get("/openapi.json").json()
    assert "/ogc/collections/{collection_id}/items" in api["paths"]
    classes = client.get("/ogc/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in classes
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in classes
    assert "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs" in classes


def test_collections_are_reports_and_a_hotspot_layer_per_resolution_with_crs_and_extent(client, auth, db):
    add_reports(db, **SQUARE, at=T0)
    body = get(client, auth, "/ogc/collections").json()
    by_id = {c["id"]: c for c in body["collections"]}
    assert list(by_id) == ["reports", "hotspots-r7", "hotspots-r8", "hotspots-r9", "hotspots-r10"]
    reports = by_id["reports"]
    assert reports["crs"][:2] == [CRS84, SWEREF] and reports["storageCrs"] == CRS84
    bounds = to_shape(db.scalar(select(Municipality.boundary))).bounds
    (box,) = reports["extent"]["spatial"]["bbox"]
    assert box[:2] <= list(bounds[:2]) and box[2:] >= list(bounds[2:])  # rounded outward, to 6 decimals
    assert all(abs(a - b) < 1e-6 for a, b in zip(box, bounds))
    assert reports["extent"]["temporal"]["interval"] == [["2026-10-05T12:00:00Z", None]]
    assert {x["rel"]: x["type"] for x in reports["links"]}["items"] == "application/geo+json"
    one = get(client, auth, "/ogc/collections/hotspots-r9").json()
    assert one["id"] == "hotspots-r9" and "previous" in one["description"]
    # a hexagon's time is its cycle: the extent starts with the first report's cycle
    assert one["extent"]["temporal"]["interval"][0][0] <= "2026-10-05T12:00:00Z"


def test_a_hexagon_layers_extent_holds_its_edge_hexagons(client, auth, db):
    """Hexagons of reports at the municipality's edge reach past its boundary: the layer's
    extent must hold them, or "zoom to layer" in QGIS cuts them off."""
    prev = cycle_back(db, 1)
    boundary = to_shape(db.scalar(select(Municipality.boundary)))
    centre = boundary.centroid
    ring = shapely.get_coordinates(boundary.boundary)
    for index in (ring[:, 0].argmin(), ring[:, 0].argmax(), ring[:, 1].argmin(), ring[:, 1].argmax()):
        lon, lat = ring[index]
        edge = shapely.Point(lon + (centre.x - lon) * 1e-4, lat + (centre.y - lat) * 1e-4)  # just inside
        assert boundary.contains(edge)
        add_reports(db, lat=edge.y, lon=edge.x, at=prev.start + dt.timedelta(days=2))
    for res in (7, 10):
        (box,) = get(client, auth, f"/ogc/collections/hotspots-r{res}").json()["extent"]["spatial"]["bbox"]
        features = get(client, auth, f"/ogc/collections/hotspots-r{res}/items", limit=1000).json()["features"]
        corners = [xy for f in features for xy in f["geometry"]["coordinates"][0]]
        assert len(features) >= 4
        assert min(x for x, _ in corners) >= box[0] and min(y for _, y in corners) >= box[1]
        assert max(x for x, _ in corners) <= box[2] and max(y for _, y in corners) <= box[3]
        assert min(x for x, _ in corners) < boundary.bounds[0]  # the edge hexagons do reach past the boundary


def test_reports_page_through_next_and_prev_links(client, auth, db):
    made = [add_reports(db, **SQUARE, at=T0 + dt.timedelta(hours=i))[0] for i in range(7)]
    newest_first = [str(r.id) for r in reversed(made)]
    seen, url, pages = [], "/ogc/collections/reports/items?limit=3", []
    while url:
        body = get(client, auth, url).json()
        assert body["numberMatched"] == 7 and body["numberReturned"] == len(body["features"])
        pages.append(body)
        seen += [f["id"] for f in body["features"]]
        url = link(body, "next")
    assert [len(p["features"]) for p in pages] == [3, 3, 1]
    assert seen == newest_first
    assert link(pages[0], "prev") is None
    back = get(client, auth, link(pages[2], "prev")).json()
    assert [f["id"] for f in back["features"]] == newest_first[3:6]
    direct = items(client, auth, offset=3, limit=3)
    assert [f["id"] for f in direct["features"]] == newest_first[3:6]


def test_limit_has_a_default_and_a_hard_cap(client, auth, db, monkeypatch):
    add_reports(db, **SQUARE, at=T0, n=5)
    monkeypatch.setattr(get_settings(), "ogc_max_limit", 2)
    monkeypatch.setattr(get_settings(), "ogc_default_limit", 1)
    assert items(client, auth)["numberReturned"] == 1
    capped = items(client, auth, limit=1000)
    assert capped["numberReturned"] == 2 and "limit=2" in link(capped, "next")


def test_datetime_filters_on_the_occurrence_window(client, auth, db):
    instant = add_reports(db, **SQUARE, at=T0)[0]
    window = add_reports(db, **SQUARE, at=T0 + dt.timedelta(days=2), until=T0 + dt.timedelta(days=3))[0]
    later = add_reports(db, **SQUARE, at=T0 + dt.timedelta(days=10))[0]

    def ids(value):
        return {f["id"] for f in items(client, auth, datetime=value)["features"]}

    assert ids("2026-10-05T12:00:00Z") == {str(instant.id)}  # an instant hits the moment itself
    assert ids("2026-10-08T00:00:00Z") == {str(window.id)}  # ... and a window around it
    assert ids("2026-10-07T12:00:00Z/2026-10-08T12:00:00Z") == {str(window.id)}  # closed interval, inclusive
    assert ids("../2026-10-07T12:00:00Z") == {str(instant.id), str(window.id)}
    assert ids("2026-10-07T12:00:00Z/..") == {str(window.id), str(later.id)}
    assert ids("/2026-10-05T12:00:00Z") == {str(instant.id)}  # empty = open
    assert ids("2026-10-15") == {str(later.id)}  # a date alone: that Swedish day
    assert ids("2026-10-05T14:00:00") == {str(instant.id)}  # no offset: Swedish time (CEST, UTC+2)
    assert ids("../..") == {str(instant.id), str(window.id), str(later.id)}


def test_bbox_in_crs84_and_in_sweref_99_tm_northing_first(client, auth, db):
    square = add_reports(db, **SQUARE, at=T0)[0]
    add_reports(db, **STATION, at=T0)
    n, e = sweref(db, square.id)
    assert {f["id"] for f in items(client, auth, bbox="16.508,59.370,16.512,59.372")["features"]} == {str(square.id)}
    with_heights = items(client, auth, bbox="16.508,59.370,-10,16.512,59.372,100")  # minz, maxz: Part 1 allows them
    assert {f["id"] for f in with_heights["features"]} == {str(square.id)}
    box = f"{n - 50},{e - 50},{n + 50},{e + 50}"
    hits = items(client, auth, bbox=box, **{"bbox-crs": SWEREF})
    assert [f["id"] for f in hits["features"]] == [str(square.id)]
    wrong_order = client.get("/ogc/collections/reports/items", headers=auth("gis"),
                             params={"bbox": f"{e - 50},{n - 50},{e + 50},{n + 50}", "bbox-crs": SWEREF})
    assert wrong_order.status_code == 400 and "northing" in wrong_order.json()["detail"]


def test_sweref_99_tm_output_is_northing_easting_with_content_crs(client, auth, db):
    report = add_reports(db, **SQUARE, at=T0)[0]
    r = get(client, auth, "/ogc/collections/reports/items", crs=SWEREF)
    assert r.headers["content-crs"] == f"<{SWEREF}>"
    north, east = r.json()["features"][0]["geometry"]["coordinates"]
    n, e = sweref(db, report.id)
    assert north == pytest.approx(n, abs=0.02) and east == pytest.approx(e, abs=0.02)
    assert 6_500_000 < north < 6_700_000 and 500_000 < east < 700_000
    default = get(client, auth, "/ogc/collections/reports/items")
    assert default.headers["content-crs"] == f"<{CRS84}>"
    assert default.json()["features"][0]["geometry"]["coordinates"] == [SQUARE["lon"], SQUARE["lat"]]
    latlon = items(client, auth, crs="http://www.opengis.net/def/crs/EPSG/0/4326")
    assert latlon["features"][0]["geometry"]["coordinates"] == [SQUARE["lat"], SQUARE["lon"]]
    one = get(client, auth, f"/ogc/collections/reports/items/{report.id}", crs="EPSG:3006")
    assert one.json()["geometry"]["coordinates"] == [north, east]


def test_one_report_by_id_with_flat_gis_properties(client, auth, db):
    report = add_reports(db, **SQUARE, at=T0, category="brand_container")[0]
    feature = get(client, auth, f"/ogc/collections/reports/items/{report.id}").json()
    assert feature["id"] == str(report.id) and feature["properties"]["category"] == "brand_container"
    assert "mine" not in feature["properties"] and "attachments" not in feature["properties"]
    assert {x["rel"] for x in feature["links"]} == {"self", "collection"}
    missing = client.get("/ogc/collections/reports/items/00000000-0000-0000-0000-000000000000", headers=auth("gis"))
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM
    assert client.get("/ogc/collections/reports/items/not-a-uuid", headers=auth("gis")).status_code == 404
    nothing = client.get("/ogc/collections/parks/items", headers=auth("gis"))
    assert nothing.status_code == 404 and "hotspots-r9" in nothing.json()["detail"]


@pytest.mark.parametrize("params, field, says", [
    ({"crs": "EPSG:2400"}, "crs", "http://www.opengis.net/def/crs/EPSG/0/3006"),
    ({"bbox-crs": "EPSG:3021", "bbox": "1,2,3,4"}, "bbox-crs", "CRS84"),
    ({"datetime": "yesterday"}, "datetime", "RFC 3339"),
    ({"datetime": "2026-10-09T00:00:00Z/2026-10-01T00:00:00Z"}, "datetime", "ends before it starts"),
    ({"datetime": ".."}, "datetime", "an open end alone"),
    ({"datetime": ""}, "datetime", "is empty"),
    ({"bbox": "16.6,59.3,16.4,59.4"}, "bbox", "inverted"),
    ({"limit": "0"}, "limit", "greater than or equal to 1"),
    ({"limit": "many"}, "limit", "integer"),
    ({"offset": "-1"}, "offset", "greater than or equal to 0"),
    ({"offset": "99999999999999999999"}, "offset", "less than or equal to 1000000000"),
    ({"category": "nope"}, "category", "known: "),
    ({"bboxx": "16.4,59.3,16.6,59.4"}, "bboxx", "Unknown query parameter"),
    ({"status": "maybe"}, "status", "allowed"),
    ({"f": "html"}, "f", "JSON"),
])
def test_bad_parameters_are_400_problems_that_say_why(client, auth, params, field, says):
    r = client.get("/ogc/collections/reports/items", headers=auth("gis"), params=params)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == PROBLEM
    body = r.json()
    assert says in body["detail"] and field in {e["field"] for e in body["errors"]}


def test_hotspot_status_new_is_allowed_but_not_rejected(client, auth):
    assert client.get("/ogc/collections/hotspots-r9/items", headers=auth("gis"),
                      params={"status": "verified,new"}).status_code == 200
    r = client.get("/ogc/collections/hotspots-r9/items", headers=auth("gis"), params={"status": "rejected"})
    assert r.status_code == 400 and "verified, new" in r.json()["detail"]
    assert client.get("/ogc/collections/hotspots-r9/items", headers=auth("gis"),
                      params={"cursor": "x"}).status_code == 400  # reports only


@pytest.mark.parametrize("path", ["/ogc/collections/hotspots-r9/items",
                                  "/ogc/collections/hotspots-r9/items/89088699e1bffff"])
@pytest.mark.parametrize("cycle, says", [("0001-01-01", "cycle ids are first days from 1970"),
                                         ("2026-11-12", "cycles are 14 days long"),
                                         ("2100-12-29", "has not started yet")])
def test_a_cycle_that_does_not_exist_is_a_400_naming_cycle(client, auth, path, cycle, says):
    """A bad value of a query parameter is a 400 on the OGC routes (/req/core/query-param-invalid)."""
    r = client.get(path, headers=auth("gis"), params={"cycle": cycle})
    assert r.status_code == 400 and r.headers["content-type"] == PROBLEM, r.text
    assert says in r.json()["detail"] and r.json()["errors"][0]["field"] == "cycle"


def test_who_may_read(client, auth, db):
    url = "/ogc/collections/reports/items"
    assert client.get(url).status_code == 401
    assert client.get(url, headers=auth("reporter")).status_code == 403
    for user in ("est", "coordinator", "gis"):
        assert client.get(url, headers=auth(user)).status_code == 200
    gis = db.scalar(select(User).where(User.username == "gis"))
    key = reading_key(db, "gis")
    assert client.get(url, headers={"X-API-Key": key}).status_code == 200
    reporter_key = reading_key(db, "reporter")
    assert client.get(url, headers={"X-API-Key": reporter_key}).status_code == 403  # the key has the user's role
    rescue = client.get(url, headers={"X-API-Key": "demo-rescue-key"})
    assert rescue.status_code == 403 and "submit reports but not read" in rescue.json()["detail"]
    assert client.get(url, headers={"X-API-Key": "no-such-key"}).status_code == 401
    assert client.get(url, headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert client.get("/tiles/hotspots.json", headers={"X-API-Key": key}).status_code == 200  # QGIS tile layers too
    strong = reading_key(db, "coordinator")
    elsewhere = client.get("/api/v1/reports", headers={"Authorization": f"Bearer {strong}"})
    assert elsewhere.status_code == 401  # a key only reads: it is no login token
    assert client.get("/api/v1/reports", headers={"X-API-Key": strong}).status_code == 401
    gis.active = False
    db.flush()
    assert client.get(url, headers={"X-API-Key": key}).status_code == 401  # deactivating the user revokes


def _hot_square(db):
    prev, now = cycle_back(db, 1), cycle_back(db, 0)
    add_reports(db, **SQUARE, at=prev.start + dt.timedelta(days=3), n=12)
    add_reports(db, **STATION, at=now.start, n=3)
    return prev, now


def test_hotspots_default_to_the_last_full_cycle(client, auth, db):
    prev, now = _hot_square(db)
    square = h3.latlng_to_cell(SQUARE["lat"], SQUARE["lon"], 9)
    station = h3.latlng_to_cell(STATION["lat"], STATION["lon"], 9)
    layer = items(client, auth, "hotspots-r9")
    assert layer["cycle"]["id"] == prev.id
    cells = {f["id"]: f["properties"] for f in layer["features"]}
    assert cells[square]["count"] == 12 and cells[square]["cycle"] == prev.id and cells[square]["rank"] == 1
    current = {f["id"]: f["properties"] for f in items(client, auth, "hotspots-r9", cycle="current")["features"]}
    assert current[station]["count"] == 3 and current[square]["previous"] == 12
    assert items(client, auth, "hotspots-r9", cycle=prev.id)["cycle"]["id"] == prev.id
    r7 = items(client, auth, "hotspots-r7")
    assert [f["id"] for f in r7["features"]][:1] == [h3.cell_to_parent(square, 7)]


def test_hotspots_filter_page_and_reproject(client, auth, db):
    prev, _ = _hot_square(db)
    square = h3.latlng_to_cell(SQUARE["lat"], SQUARE["lon"], 9)
    whole = items(client, auth, "hotspots-r9")
    assert whole["numberMatched"] == len(whole["features"]) >= 1
    during = (prev.start + dt.timedelta(days=1)).isoformat()
    assert items(client, auth, "hotspots-r9", datetime=during)["numberMatched"] == whole["numberMatched"]
    assert items(client, auth, "hotspots-r9", datetime="../2020-01-01T00:00:00Z")["numberMatched"] == 0
    near = items(client, auth, "hotspots-r9", bbox="16.509,59.371,16.510,59.3715")
    assert [f["id"] for f in near["features"]] == [square]
    first = items(client, auth, "hotspots-r9", limit=1)
    assert first["numberReturned"] == 1 and first["numberMatched"] == whole["numberMatched"]
    one = get(client, auth, f"/ogc/collections/hotspots-r9/items/{square}", crs=SWEREF).json()
    ring = one["geometry"]["coordinates"][0]
    assert all(6_500_000 < n < 6_700_000 and 500_000 < e < 700_000 for n, e in ring) and ring[0] == ring[-1]
    elsewhere = h3.latlng_to_cell(59.40, 16.60, 9)
    gone = client.get(f"/ogc/collections/hotspots-r9/items/{elsewhere}", headers=auth("gis"))
    assert gone.status_code == 404 and prev.id in gone.json()["detail"]


def test_paging_through_a_hotspot_layer_computes_it_once(client, auth, db, monkeypatch):
    prev, _ = _hot_square(db)
    add_reports(db, **STATION, at=prev.start + dt.timedelta(days=2), n=2)
    calls = []
    real = hotspots.get_layer
    monkeypatch.setattr(hotspots, "get_layer", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    url, ids = f"/ogc/collections/hotspots-r10/items?limit=1&crs={SWEREF}", []
    while url:
        body = get(client, auth, url).json()
        assert 6_500_000 < body["features"][0]["geometry"]["coordinates"][0][0][0] < 6_700_000  # northing first
        ids += [f["id"] for f in body["features"]]
        url = link(body, "next")
    assert len(ids) == len(set(ids)) == 2 and len(calls) == 1
    again = items(client, auth, "hotspots-r10")  # the cached layer was not changed by reprojecting a page
    assert all(16 < lon < 17 for f in again["features"] for lon, _ in f["geometry"]["coordinates"][0])
    items(client, auth, "hotspots-r10", cycle="current")
    assert len(calls) == 2  # another cycle is another layer


def test_a_sweref_bbox_is_the_rectangle_of_easting_and_northing_not_its_corners_envelope(client, auth, db):
    """A GIS engineer's 1 km square in SWEREF 99 TM: points 3 m inside each edge are in it, points
    3 m outside are not. (The envelope of the square's corners in lon/lat reaches up to ~20 m
    beyond its edges here: SWEREF's grid north is 1.2 degrees off true north.)"""
    from app.geo import parse_bbox, sweref_to_wgs84, wgs84_to_sweref

    e0, n0 = (round(v, -2) for v in wgs84_to_sweref(SQUARE["lon"], SQUARE["lat"]))
    box = (e0 - 500, n0 - 500, e0 + 500, n0 + 500)
    inside, outside = [], []
    area = parse_bbox(",".join(map(str, box)), crs="EPSG:3006")
    for along in (-450, 450):  # near both ends of each edge
        for d, bucket in ((-3, inside), (3, outside)):
            for e, n in ((box[2] + d, n0 + along), (box[0] - d, n0 + along),
                         (e0 + along, box[3] + d), (e0 + along, box[1] - d)):
                lon, lat = sweref_to_wgs84(e, n)
                bucket.append(str(add_reports(db, lat=lat, lon=lon, at=T0)[0].id))
                assert area.shape().contains(shapely.Point(lon, lat)) == (bucket is inside)  # hexagons use it
    query = {"bbox": f"{box[1]},{box[0]},{box[3]},{box[2]}", "bbox-crs": SWEREF, "limit": 100}
    ogc = items(client, auth, **query)
    assert {f["id"] for f in ogc["features"]} == set(inside) and ogc["numberMatched"] == 8
    # The report list and the exports take the same box, easting first, with bbox-crs=EPSG:3006.
    flat = {"bbox": ",".join(map(str, box)), "bbox-crs": "EPSG:3006"}
    listed = client.get("/api/v1/reports", headers=auth("est"), params={**flat, "limit": 100})
    assert listed.status_code == 200, listed.text
    assert {f["id"] for f in listed.json()["features"]} == set(inside)
    exported = client.get("/api/v1/exports/reports.geojson", headers=auth("gis"), params=flat)
    assert {f["id"] for f in exported.json()["features"]} == set(inside)


def page_through(client, auth, url, between=None) -> list[str]:
    """Every feature id a client gets by following next links from ``url``; ``between(n)`` runs
    after page n, as another user changes reports while the client pages."""
    seen, page = [], 0
    while url:
        body = get(client, auth, url).json()
        seen += [f["id"] for f in body["features"]]
        url, page = link(body, "next"), page + 1
        assert page < 20, "next links without end"
        if between:
            between(page)
    return seen


def test_a_report_arriving_while_a_client_pages_serves_no_report_twice(client, auth, db):
    """numberMatched grows by the new report; the last page must not get a next link (which
    used to carry that page's own cursor and served it again)."""
    made = [add_reports(db, **SQUARE, at=T0 + dt.timedelta(hours=i))[0] for i in range(5)]
    newest_first = [str(r.id) for r in reversed(made)]

    def a_new_report(page):
        if page == 1:
            add_reports(db, **SQUARE, at=T0 + dt.timedelta(days=1))  # newest: before the pages already served

    seen = page_through(client, auth, "/ogc/collections/reports/items?limit=2", a_new_report)
    assert seen == newest_first


def test_a_report_moderated_away_while_a_client_pages_leaves_no_report_out(client, auth, db):
    """numberMatched shrinks; the page before the last must still link to the last."""
    made = [add_reports(db, **SQUARE, at=T0 + dt.timedelta(hours=i))[0] for i in range(5)]
    newest_first = [str(r.id) for r in reversed(made)]

    def rejected(page):
        if page == 1:
            made[-1].status = "rejected"  # served on page 1; now out of the filter
            db.flush()

    assert page_through(client, auth, "/ogc/collections/reports/items?limit=2&status=verified",
                        rejected) == newest_first


def test_a_hotspot_layer_links_a_next_page_exactly_when_there_is_one(client, auth, db):
    prev = cycle_back(db, 1)
    for i in range(4):  # four hexagons at resolution 10
        add_reports(db, lat=59.3712 + i * 0.01, lon=16.5098, at=prev.start + dt.timedelta(days=1))
    url = "/ogc/collections/hotspots-r10/items"
    assert link(items(client, auth, "hotspots-r10", limit=4), "next") is None
    assert link(items(client, auth, "hotspots-r10", limit=3), "next") is not None
    ids = page_through(client, auth, f"{url}?limit=2")
    assert len(ids) == len(set(ids)) == 4


def test_filters_may_be_repeated_or_comma_separated(client, auth, db):
    prev = cycle_back(db, 1)
    at = prev.start + dt.timedelta(days=1)
    klotter = add_reports(db, **SQUARE, at=at, category="klotter")[0]
    vandalism = add_reports(db, **STATION, at=at, category="skadegorelse", status="new")[0]
    fire = add_reports(db, lat=59.3712, lon=16.53, at=at, category="brand_container")[0]
    unsafe = add_reports(db, lat=59.39, lon=16.53, at=at, category="otrygg_plats")[0]

    def ids(query):
        return {f["id"] for f in get(client, auth, f"/ogc/collections/reports/items?{query}").json()["features"]}

    both = {str(klotter.id), str(vandalism.id)}
    assert ids("category=klotter&category=skadegorelse") == ids("category=klotter,skadegorelse") == both
    assert ids("status=new&status=rejected") == {str(vandalism.id)}
    assert ids("category=klotter&category=brand_container,otrygg_plats") == {str(klotter.id), str(fire.id),
                                                                            str(unsafe.id)}

    def cells(query):
        body = get(client, auth, f"/ogc/collections/hotspots-r9/items?{query}").json()
        return sorted(f["id"] for f in body["features"])

    def cell(*lat_lon):
        return h3.latlng_to_cell(*lat_lon, 9)

    fire_and_place = sorted([cell(59.3712, 16.53), cell(59.39, 16.53)])
    assert cells("group=brand&group=plats") == cells("group=brand,plats") == fire_and_place
    klotter_and_vandalism = sorted([cell(SQUARE["lat"], SQUARE["lon"]), cell(STATION["lat"], STATION["lon"])])
    assert cells("status=verified&status=new&category=klotter&category=skadegorelse") == klotter_and_vandalism


def test_datetime_as_gdal_and_rfc_3339_write_it(client, auth, db):
    """GDAL's OAPIF driver sends a date with a trailing 'T' (reported_at >= '2026-10-15' becomes
    datetime=2026-10-15T/..); RFC 3339 allows 't' and 'z' in lower case."""
    add_reports(db, **SQUARE, at=T0)
    later = add_reports(db, **SQUARE, at=T0 + dt.timedelta(days=10))[0]

    def ids(value):
        return {f["id"] for f in items(client, auth, datetime=value)["features"]}

    assert ids("2026-10-15T/..") == ids("2026-10-15/..") == {str(later.id)}
    assert ids("2026-10-15T") == ids("2026-10-15") == {str(later.id)}
    assert ids("../2026-10-05T") == ids("../2026-10-05") != {str(later.id)}
    assert ids("2026-10-15t12:00:00z") == ids("2026-10-15T12:00:00Z") == {str(later.id)}


@pytest.mark.parametrize("value, says", [
    ("20261015", "is not an RFC 3339 date-time or date"),  # ISO 8601's basic format
    ("20261015T120000Z/..", "is not an RFC 3339 date-time or date"),
    ("2026-10-15TT", "is not an RFC 3339"),
    ("2026-10-15T12:00:00 02:00", "write it as %2B"),  # an unencoded '+' arrives as a space
])
def test_datetime_not_in_rfc_3339_is_a_400_that_says_why(client, auth, value, says):
    r = client.get("/ogc/collections/reports/items", headers=auth("gis"), params={"datetime": value})
    assert r.status_code == 400 and r.headers["content-type"] == PROBLEM, r.text
    assert says in r.json()["detail"] and r.json()["errors"][0]["field"] == "datetime"


def test_sweref_99_tm_is_projected_from_the_stored_point_and_rounded_once(client, auth, db):
    """The same centimetre as PostGIS and the CSV export: projecting a point already rounded to
    7 decimals put this one a centimetre off in both axes."""
    report = add_reports(db, lat=59.3712003592, lon=16.5098003533, at=T0)[0]
    n, e = sweref(db, report.id)
    assert (round(n, 2), round(e, 2)) == (6582359.42, 585801.30)  # not at a half centimetre
    page = items(client, auth, crs=SWEREF)["features"][0]["geometry"]["coordinates"]
    one = get(client, auth, f"/ogc/collections/reports/items/{report.id}", crs=SWEREF).json()
    assert page == one["geometry"]["coordinates"] == [6582359.42, 585801.30]
    export = client.get("/api/v1/exports/reports.csv", headers=auth("gis"), params={"crs": "EPSG:3006"})
    (row,) = csv.DictReader(io.StringIO(export.content.decode("utf-8-sig"), newline=""), delimiter=";")
    assert (row["x"], row["y"]) == ("585801,30", "6582359,42")
    wgs = items(client, auth)["features"][0]["geometry"]["coordinates"]
    assert wgs == [16.5098004, 59.3712004]  # CRS84: still 7 decimals (~1 cm)
    # the report list and the single report of the API, in SWEREF 99 TM (easting, northing)
    listed = client.get("/api/v1/reports", headers=auth("gis"), params={"crs": "EPSG:3006"}).json()
    single = client.get(f"/api/v1/reports/{report.id}", headers=auth("gis"), params={"crs": "EPSG:3006"}).json()
    assert listed["features"][0]["geometry"]["coordinates"] == single["geometry"]["coordinates"] == [585801.30, 6582359.42]
    assert client.get(f"/api/v1/reports/{report.id}", headers=auth("gis")).json()["geometry"]["coordinates"] == wgs


@pytest.mark.parametrize("path", ["/ogc", "/ogc/conformance", "/ogc/collections", "/ogc/collections/reports"])
def test_every_ogc_route_refuses_an_unknown_parameter(client, auth, path):
    r = client.get(path, headers=auth("gis"), params={"bogus": "1", "f": "json"})
    assert r.status_code == 400 and r.headers["content-type"] == PROBLEM, r.text
    assert "Unknown query parameter(s) bogus" in r.json()["detail"]
    assert client.get(path, headers=auth("gis"), params={"f": "json"}).status_code == 200
