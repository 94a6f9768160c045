"""The situation picture over HTTP: what the EST group sees before the meeting."""
from __future__ import annotations

import datetime as dt
import re

import h3
import numpy as np
import pytest
from geoalchemy2.shape import to_shape
from shapely.geometry import LinearRing, Point, Polygon
from sqlalchemy import select

from app.municipalities.models import Municipality

from tests.factories import add_reports, cycle_back, demo_grid, reporting_began
from tests.helpers import SQUARE

PROBLEM = "application/problem+json"
SQUARE_R9 = h3.latlng_to_cell(SQUARE["lat"], SQUARE["lon"], 9)
AROUND_SQUARE = set(h3.grid_disk(SQUARE_R9, 1))


def noon(cycle, day: int = 2) -> dt.datetime:
    return cycle.start + dt.timedelta(days=day, hours=12)


def scatter(db, cycle, n: int, seed: int = 1, **kw) -> None:
    """``n`` single reports spread uniformly over the municipality (no clustering)."""
    rng = np.random.default_rng(seed)
    boundary = to_shape(db.scalar(select(Municipality.boundary)))
    minx, miny, maxx, maxy = boundary.bounds
    placed = 0
    while placed < n:
        lat, lon = float(rng.uniform(miny, maxy)), float(rng.uniform(minx, maxx))
        if h3.latlng_to_cell(lat, lon, 9) in AROUND_SQUARE or not boundary.contains(Point(lon, lat)):
            continue  # uniform over the municipality, the square's own neighbourhood kept exact
        add_reports(db, lat=lat, lon=lon, at=noon(cycle, int(rng.integers(0, 13))), **kw)
        placed += 1


def layer(client, auth, **params):
    r = client.get("/api/v1/hotspots", headers=auth("est"), params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/geo+json")
    return r.json()


def by_cell(fc) -> dict[str, dict]:
    return {f["id"]: f["properties"] for f in fc["features"]}




def test_a_cluster_at_the_square_is_a_hot_hexagon_with_its_numbers(client, auth, db):
    reporting_began(db)
    prev = cycle_back(db, 1)
    add_reports(db, **SQUARE, at=noon(prev), n=12)
    scatter(db, prev, 30)
    fc = layer(client, auth, cycle=prev.id, res=9)
    assert fc["type"] == "FeatureCollection" and fc["cycle"]["id"] == prev.id and fc["resolution"] == 9
    cells = by_cell(fc)
    square = cells[SQUARE_R9]
    assert square["count"] == 12 and square["previous"] == 0 and square["baseline"] == 0
    assert square["hotspot"] == "hot" and square["rank"] == 1 and square["trend"] == "new"
    assert square["p_increase"] < 0.001 and square["change"] == 12
    assert fc["features"][0]["id"] == SQUARE_R9 == square["h3"]
    assert sum(p["hotspot"] == "hot" for p in cells.values()) <= 7  # the square and perhaps its ring
    assert fc["total"] == 42  # the first report, long before, is not in the cycle
    assert fc["method"]["baseline_cycles"] == 6 and fc["method"]["baseline_exposure"] == 6
    assert fc["cycle"]["partial"] is False and fc["cycle"]["elapsed_share"] == 1


def test_every_hexagon_is_valid_rfc7946_and_contains_its_cell_centre(client, auth, db):
    prev = cycle_back(db, 1)
    scatter(db, prev, 25, seed=3)
    fc = layer(client, auth, cycle=prev.id)
    assert len(fc["features"]) >= 20
    for feature in fc["features"]:
        assert feature["id"] == feature["properties"]["h3"]
        ring = feature["geometry"]["coordinates"][0]
        assert feature["geometry"]["type"] == "Polygon" and ring[0] == ring[-1]
        assert all(16 < lon < 17 and 59 < lat < 60 for lon, lat in ring)  # lon, lat order
        assert LinearRing(ring).is_ccw
        lat, lon = h3.cell_to_latlng(feature["id"])
        assert Polygon(ring).contains(Point(lon, lat))


def test_a_window_over_the_cycle_boundary_is_shared_between_the_cycles(client, auth, db):
    current, prev = cycle_back(db, 0), cycle_back(db, 1)
    add_reports(db, **SQUARE, at=current.start - dt.timedelta(hours=3), until=current.start + dt.timedelta(hours=1))
    assert by_cell(layer(client, auth, cycle=prev.id))[SQUARE_R9]["count"] == 0.75
    assert by_cell(layer(client, auth, cycle="current"))[SQUARE_R9]["count"] == 0.25


def test_coarser_resolutions_count_the_same_reports(client, auth, db):
    prev = cycle_back(db, 1)
    add_reports(db, **SQUARE, at=noon(prev), n=5)
    scatter(db, prev, 20, seed=4)
    totals = {res: sum(p["count"] for p in by_cell(layer(client, auth, cycle=prev.id, res=res)).values())
              for res in (7, 8, 9, 10)}
    assert totals == {7: 25, 8: 25, 9: 25, 10: 25}
    r7 = layer(client, auth, cycle=prev.id, res=7)
    assert all(h3.get_resolution(f["id"]) == 7 for f in r7["features"])
    assert by_cell(r7)[h3.latlng_to_cell(SQUARE["lat"], SQUARE["lon"], 7)]["count"] >= 5


def test_only_verified_reports_count_unless_asked(client, auth, db):
    prev = cycle_back(db, 1)
    add_reports(db, **SQUARE, at=noon(prev), n=2)
    add_reports(db, **SQUARE, at=noon(prev), n=3, status="new")
    add_reports(db, **SQUARE, at=noon(prev), n=4, status="rejected")
    assert by_cell(layer(client, auth, cycle=prev.id))[SQUARE_R9]["count"] == 2
    both = layer(client, auth, cycle=prev.id, status=["verified", "new"])
    assert by_cell(both)[SQUARE_R9]["count"] == 5 and both["statuses"] == ["new", "verified"]
    assert layer(client, auth, cycle=prev.id, status="verified,new")["statuses"] == ["new", "verified"]


def test_filters_by_category_group_and_reporting_organisation(client, auth, db):
    prev = cycle_back(db, 1)
    add_reports(db, **SQUARE, at=noon(prev), n=2, category="klotter", kind="vaktare")
    add_reports(db, **SQUARE, at=noon(prev), n=3, category="brand_container", kind="raddningstjanst")
    count = lambda **kw: by_cell(layer(client, auth, cycle=prev.id, **kw)).get(SQUARE_R9, {}).get("count", 0)  # noqa: E731
    assert count() == 5
    assert count(category="klotter") == 2
    assert count(group="brand") == 3
    assert count(organisation_kind="vaktare") == 2
    assert count(group="brand", organisation_kind="vaktare") == 0


def test_baseline_and_a_change_from_three_to_five_that_must_not_light_up(client, auth, db):
    reporting_began(db)
    for back in range(2, 8):
        add_reports(db, **SQUARE, at=noon(cycle_back(db, back)), n=3)
    add_reports(db, **SQUARE, at=noon(cycle_back(db, 1), day=0), n=5)
    square = by_cell(layer(client, auth, cycle=cycle_back(db, 1).id))[SQUARE_R9]
    assert square["baseline"] == 3 and square["previous"] == 3 and square["change"] == 2
    assert square["change_vs_baseline"] == 2
    assert square["p_increase"] > 0.1 and square["increase"] is False


def test_a_new_municipality_compares_with_the_cycles_since_its_first_report(client, auth, db):
    """Reporting began 2 cycles ago (at the start of the cycle): the cycles before are no data,
    not zeros. 12 reports at the square this cycle after 6 the one before is a baseline of 6
    over 1 cycle, nothing significant (with zeros it was 1.0 over 6 and p < 0.001)."""
    two, one = cycle_back(db, 2), cycle_back(db, 1)
    add_reports(db, **SQUARE, at=two.start + dt.timedelta(hours=2), n=6)
    add_reports(db, **SQUARE, at=noon(one), n=12)
    fc = layer(client, auth, cycle=one.id)
    square = by_cell(fc)[SQUARE_R9]
    assert fc["method"]["baseline_cycles"] == 1 and fc["method"]["baseline_cycles_max"] == 6
    assert fc["method"]["baseline_exposure"] == pytest.approx(1 - 2 / (14 * 24), abs=0.001)  # from the first report
    assert square["baseline"] == pytest.approx(6 / fc["method"]["baseline_exposure"], abs=0.001)
    assert square["p_increase"] > 0.05 and square["increase"] is False
    # the first cycle has no cycle before it to compare with: no baseline, no increase test
    first = layer(client, auth, cycle=two.id)
    assert first["method"]["baseline_cycles"] == 0
    square = by_cell(first)[SQUARE_R9]
    assert square["count"] == 6 and square["baseline"] is None and square["change_vs_baseline"] is None
    assert square["p_increase"] is None and square["increase"] is False


def mid_cycle(db, monkeypatch, share: float = 0.5):
    """"Now" set to ``share`` of the way through the cycle before the real current one, which
    then is the running cycle (the dashboard shows it from its middle on)."""
    import app.hotspots.cycles

    grid = demo_grid(db)
    running = grid.cycle(grid.current().index - 1)
    now = running.start + (running.end - running.start) * share
    monkeypatch.setattr(app.hotspots.cycles, "utcnow", lambda: now)
    return running, now


def test_the_running_cycle_is_compared_for_the_time_that_has_passed(client, auth, db, monkeypatch):
    """Half the running cycle gone: 20 reports at the square in each of 9 cycles before, 20 so
    far in this one, twice the rate. Compared with 6 whole cycles it was nothing (p = 0.537,
    change 0); for the half that has passed it is p ≈ 0.005 and 10 more than the previous cycle
    had by the same time."""
    running, now = mid_cycle(db, monkeypatch)
    for back in range(1, 10):
        c = demo_grid(db).cycle(running.index - back)
        for i in range(20):
            add_reports(db, **SQUARE, at=c.start + dt.timedelta(hours=15 * i + 5))
    for i in range(20):
        add_reports(db, **SQUARE, at=running.start + (now - running.start) * (i + 0.5) / 21)
    fc = layer(client, auth, cycle="current", res=9)
    assert fc["cycle"]["id"] == running.id and fc["cycle"]["partial"] is True
    assert fc["cycle"]["elapsed_share"] == 0.5
    square = by_cell(fc)[SQUARE_R9]
    assert (square["count"], square["previous"], square["baseline"]) == (20, 20, 20)
    assert square["change"] == 10 and square["change_vs_baseline"] == 10
    assert square["p_increase"] == pytest.approx(0.0053, abs=0.0005) and square["increase"] is True
    top = client.get("/api/v1/hotspots/top", headers=auth("est"), params={"cycle": "current"}).json()
    assert top["cycle"]["partial"] is True and top["items"][0]["change"] == 10
    # the same cycle once it is over: whole-cycle numbers as before
    monkeypatch.setattr("app.hotspots.cycles.utcnow", lambda: running.end + dt.timedelta(hours=1))
    after = layer(client, auth, cycle=running.id, res=9)
    assert after["cycle"]["partial"] is False and by_cell(after)[SQUARE_R9]["change"] == 0


def test_a_place_hot_three_cycles_running_is_a_repeat_place(client, auth, db):
    for back in range(3):
        cycle = cycle_back(db, back)
        add_reports(db, **SQUARE, at=noon(cycle, day=0), n=10)
        scatter(db, cycle, 20, seed=back)
    square = by_cell(layer(client, auth, cycle="current"))[SQUARE_R9]
    assert square["hotspot"] == "hot" and square["hot_streak"] == 3 and square["repeat"] is True
    assert square["trend"] == "consecutive"


def test_an_empty_cycle_is_an_empty_feature_collection(client, auth, db):
    fc = layer(client, auth, cycle=cycle_back(db, 40).id)
    assert fc["type"] == "FeatureCollection" and fc["features"] == [] and fc["total"] == 0


def test_the_agenda_lists_the_top_cells_with_what_and_who(client, auth, db):
    prev = cycle_back(db, 1)
    add_reports(db, **SQUARE, at=noon(prev), n=6, category="klotter", kind="vaktare")
    add_reports(db, **SQUARE, at=noon(prev), n=2, category="skadegorelse", kind="polis")
    scatter(db, prev, 20, seed=9)
    r = client.get("/api/v1/hotspots/top", headers=auth("coordinator"), params={"cycle": prev.id, "n": 3})
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert len(items) == 3 and [i["rank"] for i in items] == [1, 2, 3]
    first = items[0]
    assert first["h3"] == SQUARE_R9 and first["count"] == 8
    assert first["categories"][0] == {"code": "klotter", "label": "Klotter", "group": "skadegorelse", "count": 6.0}
    assert first["organisations"][0]["kind"] == "vaktare" and first["organisations"][0]["count"] == 6
    lon, lat = first["centre"]
    assert h3.latlng_to_cell(lat, lon, 9) == SQUARE_R9


def test_patterns_spread_windows_over_weekday_and_hour(client, auth, db):
    current = cycle_back(db, 0)
    saturday = current.start + dt.timedelta(days=(5 - current.first_day.weekday()) % 7)
    add_reports(db, **SQUARE, at=saturday + dt.timedelta(hours=23, minutes=10), n=2)
    add_reports(db, **SQUARE, at=saturday + dt.timedelta(hours=1), until=saturday + dt.timedelta(hours=3))
    r = client.get("/api/v1/patterns", headers=auth("est"), params={"cycle": "current", "status": ["verified"]})
    assert r.status_code == 200, r.text
    body = r.json()
    m = np.array(body["matrix"])
    assert m.shape == (7, 24) and body["rows"][5] == "lördag"
    assert m[5, 23] == 2 and m[5, 1] == m[5, 2] == 0.5 and m.sum() == 3
    in_cell = client.get("/api/v1/patterns", headers=auth("est"), params={"cell": SQUARE_R9}).json()
    assert in_cell["total"] == 3
    elsewhere = client.get("/api/v1/patterns", headers=auth("est"),
                           params={"bbox": "16.40,59.30,16.45,59.33"}).json()
    assert elsewhere["total"] == 0
    day = saturday.date().isoformat()
    by_range = client.get("/api/v1/patterns", headers=auth("est"), params={"from": day, "to": day}).json()
    assert by_range["total"] == 3 and by_range["cycle"] is None


@pytest.mark.parametrize("path, params, status, field", [
    ("/api/v1/hotspots", {"res": 6}, 422, "res"),
    ("/api/v1/hotspots", {"res": 11}, 422, "res"),
    ("/api/v1/hotspots", {"cycle": "2020-01-02"}, 404, None),
    ("/api/v1/hotspots", {"cycle": "2099-01-06"}, 404, None),
    ("/api/v1/hotspots", {"cycle": "nästa"}, 422, "cycle"),
    ("/api/v1/hotspots", {"category": "raketer"}, 422, "category"),
    ("/api/v1/hotspots", {"group": "x"}, 422, "group"),
    ("/api/v1/hotspots", {"organisation_kind": "maffia"}, 422, "organisation_kind"),
    ("/api/v1/hotspots", {"status": "rejected"}, 422, "status"),
    ("/api/v1/hotspots/top", {"n": 0}, 422, "n"),
    ("/api/v1/patterns", {"bbox": "16.5,59.3,16.4,59.4"}, 422, "bbox"),
    ("/api/v1/patterns", {"bbox": "16.5,59.3,16.6"}, 422, "bbox"),
    ("/api/v1/patterns", {"bbox": "a,b,c,d"}, 422, "bbox"),
    ("/api/v1/patterns", {"bbox": "59.3,16.4,59.4,16.5", "bbox-crs": "EPSG:3006"}, 422, "bbox"),
    ("/api/v1/patterns", {"cell": "not-a-cell"}, 422, "cell"),
    ("/api/v1/patterns", {"from": "2026-11-10", "to": "2026-11-01"}, 422, "to"),
    ("/api/v1/patterns", {"from": "2026-11-10", "cycle": "current"}, 422, None),
    ("/api/v1/cycles/2026-11-12", {}, 404, None),
])
def test_bad_input_gets_a_problem_with_a_clear_detail(client, auth, path, params, status, field):
    r = client.get(path, headers=auth("est"), params=params)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    body = r.json()
    assert body["status"] == status and len(body["detail"]) > 20
    if field:
        assert field in [e["field"] for e in body.get("errors", [])] or field in body["detail"]


def test_a_sweref_bbox_selects_the_same_reports(client, auth, db):
    add_reports(db, **SQUARE, at=noon(cycle_back(db, 0), day=0), n=2)
    around = "585000,6581500,586500,6583000"  # SWEREF 99 TM metres around Fristadstorget (585801, 6582359)
    r = client.get("/api/v1/patterns", headers=auth("est"), params={"bbox": around, "bbox-crs": "EPSG:3006"})
    assert r.status_code == 200, r.text
    assert r.json()["total"] == 2


def test_only_roles_that_see_the_whole_picture_get_it(client, auth):
    assert client.get("/api/v1/hotspots").status_code == 401
    r = client.get("/api/v1/hotspots", headers=auth("reporter"))
    assert r.status_code == 403 and "situation picture" in r.json()["detail"]
    for user in ("est", "coordinator", "gis"):
        assert client.get("/api/v1/hotspots/top", headers=auth(user)).status_code == 200


def test_cycles_list_current_and_previous(client, auth, db):
    r = client.get("/api/v1/cycles", headers=auth("reporter"), params={"n": 4})
    assert r.status_code == 200
    body = r.json()
    current = cycle_back(db, 0)
    assert body["current"]["id"] == current.id and body["previous"]["id"] == cycle_back(db, 1).id
    assert [c["id"] for c in body["cycles"]] == [cycle_back(db, k).id for k in range(4)]
    assert body["cycles"][0]["current"] is True and body["cycles"][0]["label"].startswith("v.")
    one = client.get("/api/v1/cycles/previous", headers=auth("est")).json()
    assert one["id"] == body["previous"]["id"] and one["current"] is False


def test_the_printable_situation_map_is_self_contained(client, auth, db):
    prev = cycle_back(db, 1)
    add_reports(db, **SQUARE, at=noon(prev), n=12)
    scatter(db, prev, 30)
    r = client.get("/maps/situation.html", headers=auth("est"), params={"cycle": prev.id})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert prev.label in html and SQUARE_R9 in html and "Eskilstuna" in html
    assert "<script src=" not in html and '<link rel="stylesheet"' not in html  # Leaflet embedded
    assert "Leaflet" in html and "leaflet-container" in html
    fetched = re.findall(r"""(?:src=|<link[^>]*href=|url\()["']?(https?://[^"')\s]+)""", html)
    assert fetched == [], fetched  # nothing loaded from elsewhere; only the basemap tiles (configurable)
    linked = client.get("/maps/situation.html", headers=auth("est"), params={"cycle": prev.id, "embed": False})
    assert '<script src="/static/vendor/leaflet/leaflet.js"></script>' in linked.text
    js = client.get("/static/vendor/leaflet/leaflet.js")
    assert js.status_code == 200 and len(js.content) > 100_000
