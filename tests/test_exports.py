"""Exports as the GIS unit and the coordinator use them: a CSV that Excel in Swedish opens,
GeoJSON and a GeoPackage that GDAL reads, in WGS84 or SWEREF 99 TM, with the list's filters."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import subprocess
import tempfile
from pathlib import Path

import h3
import pytest
from sqlalchemy import func, select

from app.reports.models import Report
from tests.factories import add_reports, cycle_back
from tests.helpers import SQUARE

STATION = {"lat": 59.3680, "lon": 16.5063}
T0 = dt.datetime(2026, 10, 5, 12, 0, tzinfo=dt.UTC)


def export(client, auth, what, fmt, user="gis", **params):
    r = client.get(f"/api/v1/exports/{what}.{fmt}", headers=auth(user), params=params)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "private, no-store"  # reports: no copy on a proxy or in a cache
    return r


def sweref(db, report_id) -> tuple[float, float]:
    geom = func.ST_Transform(Report.geom, 3006)
    return tuple(db.execute(select(func.ST_X(geom), func.ST_Y(geom)).where(Report.id == report_id)).one())


def read_csv(r) -> list[dict[str, str]]:
    assert r.content.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel picks UTF-8
    text = r.content.decode("utf-8-sig")
    assert "\r\n" in text
    return list(csv.DictReader(io.StringIO(text, newline=""), delimiter=";"))


def ogrinfo(path: Path, *args: str) -> str:
    done = subprocess.run(["ogrinfo", "-ro", "-so", str(path), *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def sample(db):
    a = add_reports(db, **SQUARE, at=T0, category="klotter")[0]
    b = add_reports(db, **STATION, at=T0 + dt.timedelta(days=1), until=T0 + dt.timedelta(days=1, hours=8),
                    category="skadegorelse", kind="polis")[0]
    a.description = "=HYPERLINK(\"http://x\")"  # a citizen's text must not become a formula
    a.place_name = "Fristadstorget; vid fontänen"
    db.flush()
    return a, b


def test_csv_opens_in_swedish_excel(client, auth, db, sample):
    a, b = sample
    r = export(client, auth, "reports", "csv", crs="EPSG:3006")
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="lagesbild-rapporter-' in r.headers["content-disposition"] and "EPSG3006.csv" in r.headers[
        "content-disposition"]
    rows = {row["id"]: row for row in read_csv(r)}
    assert set(rows) == {str(a.id), str(b.id)}
    square = rows[str(a.id)]
    x, y = sweref(db, a.id)
    assert float(square["x"].replace(",", ".")) == pytest.approx(x, abs=0.02)  # decimal comma, easting
    assert float(square["y"].replace(",", ".")) == pytest.approx(y, abs=0.02)
    assert "," in square["x"] and "." not in square["x"]
    assert square["occurred_from"] == "2026-10-05 14:00:00"  # Swedish local time (CEST), Excel-readable
    assert square["description"] == "'=HYPERLINK(\"http://x\")"
    assert square["place"] == "Fristadstorget; vid fontänen"  # quoted: the separator inside survives
    assert rows[str(b.id)]["occurred_to"] == "2026-10-06 22:00:00" and rows[str(b.id)]["organisation_kind"] == "polis"
    wgs = {row["id"]: row for row in read_csv(export(client, auth, "reports", "csv"))}
    assert wgs[str(a.id)]["x"] == "16,5098000" and wgs[str(a.id)]["y"] == "59,3712000"


def test_geojson_in_both_crs_with_the_list_filters(client, auth, db, sample):
    a, b = sample
    fc = export(client, auth, "reports", "geojson").json()
    assert fc["type"] == "FeatureCollection" and "crs" not in fc
    by_id = {f["id"]: f for f in fc["features"]}
    assert by_id[str(a.id)]["geometry"]["coordinates"] == [SQUARE["lon"], SQUARE["lat"]]
    assert by_id[str(b.id)]["properties"]["occurred_to"] == "2026-10-06T22:00:00+02:00"
    fc3006 = export(client, auth, "reports", "geojson", crs="EPSG:3006").json()
    assert fc3006["crs"]["properties"]["name"] == "urn:ogc:def:crs:EPSG::3006"
    east, north = {f["id"]: f for f in fc3006["features"]}[str(a.id)]["geometry"]["coordinates"]
    assert (east, north) == pytest.approx(sweref(db, a.id), abs=0.02)  # x/y order: easting, northing
    only = export(client, auth, "reports", "geojson", category="skadegorelse").json()
    assert [f["id"] for f in only["features"]] == [str(b.id)]
    window = export(client, auth, "reports", "geojson", start="2026-10-06T00:00:00+02:00",
                    end="2026-10-08T00:00:00+02:00", organisation_kind="polis").json()
    assert [f["id"] for f in window["features"]] == [str(b.id)]
    none = export(client, auth, "reports", "geojson", bbox="16.40,59.30,16.41,59.31").json()
    assert none["features"] == []
    for params in ({"statuss": "verified"}, {"limit": "5"}):  # a typo, or a list's page size: not silently all
        unknown = client.get("/api/v1/exports/reports.csv", headers=auth("gis"), params=params)
        assert unknown.status_code == 422 and f"Unknown query parameter(s) {next(iter(params))}" in unknown.json()[
            "detail"]
    typo = client.get("/api/v1/exports/reports.csv", headers=auth("gis"), params={"category": "skadegörelse"})
    assert typo.status_code == 422 and typo.headers["content-type"] == "application/problem+json"
    assert "Unknown category 'skadegörelse'" in typo.json()["detail"] and "skadegorelse" in typo.json()["detail"]


def test_geopackage_is_read_by_gdal_with_count_and_crs(client, auth, db, sample):
    a, _ = sample
    r = export(client, auth, "reports", "gpkg", crs="EPSG:3006")
    assert r.headers["content-type"] == "application/geopackage+sqlite3"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "r.gpkg"
        path.write_bytes(r.content)
        info = ogrinfo(path, "rapporter")
        assert "Feature Count: 2" in info and 'ID["EPSG",3006]' in info and "Geometry: Point" in info
        assert "occurred_from: DateTime" in info
        x, y = sweref(db, a.id)
        one = subprocess.run(["ogrinfo", "-ro", "-q", str(path), "-sql",
                              f"SELECT * FROM rapporter WHERE id = '{a.id}'"], capture_output=True, text=True).stdout
        assert f"POINT ({x:.2f} {y:.2f})" in one and "2026/10/05 12:00:00+00" in one
    empty = export(client, auth, "reports", "gpkg", category="hot_vald")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "e.gpkg"
        path.write_bytes(empty.content)
        assert "Feature Count: 0" in ogrinfo(path, "rapporter")  # an empty layer still has its fields


def test_gpkg_temp_files_are_removed(client, auth, sample):
    before = set(Path(tempfile.gettempdir()).glob("lagesbild-export-*"))
    export(client, auth, "reports", "gpkg")
    assert set(Path(tempfile.gettempdir()).glob("lagesbild-export-*")) == before


def test_hotspot_layer_exports_in_all_formats(client, auth, db):
    prev = cycle_back(db, 1)
    add_reports(db, **SQUARE, at=prev.start + dt.timedelta(days=2), n=9)
    add_reports(db, **STATION, at=prev.start + dt.timedelta(days=3), n=2)
    square = h3.latlng_to_cell(SQUARE["lat"], SQUARE["lon"], 8)
    layer = client.get("/api/v1/hotspots", headers=auth("gis"), params={"cycle": prev.id, "res": 8}).json()
    fc = export(client, auth, "hotspots", "geojson", resolution=8).json()  # default: the last full cycle
    assert fc["cycle"]["id"] == prev.id and len(fc["features"]) == len(layer["features"])
    assert export(client, auth, "hotspots", "geojson", res=8).json()["resolution"] == 8  # as /hotspots names it
    both = client.get("/api/v1/exports/hotspots.csv", headers=auth("gis"), params={"res": 8, "resolution": 10})
    assert both.status_code == 422 and "disagree" in both.json()["detail"]
    props = {f["id"]: f["properties"] for f in fc["features"]}[square]
    assert props["count"] == 9 + (2 if h3.latlng_to_cell(STATION["lat"], STATION["lon"], 8) == square else 0)
    assert props["cycle"] == prev.id and props["cycle_start"].startswith(prev.first_day.isoformat())
    rows = read_csv(export(client, auth, "hotspots", "csv", resolution=8, crs="EPSG:3006"))
    assert [row["h3"] for row in rows] == [f["id"] for f in layer["features"]]
    assert rows[0]["wkt"].startswith("POLYGON ((5") and "," in rows[0]["x"]
    assert rows[0]["baseline"] == rows[0]["p_increase"] == ""  # reporting began in the cycle: no baseline
    r = export(client, auth, "hotspots", "gpkg", resolution=8, cycle=prev.id)
    assert f"hotspots-r8-{prev.id}-EPSG4326.gpkg" in r.headers["content-disposition"]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "h.gpkg"
        path.write_bytes(r.content)
        info = ogrinfo(path, "hotspots_r8")
        assert f"Feature Count: {len(layer['features'])}" in info and 'ID["EPSG",4326]' in info
        assert "Geometry: Polygon" in info and "rank: Integer64" in info
    empty = export(client, auth, "hotspots", "csv", resolution=8, cycle="2020-01-01").content.decode("utf-8-sig")
    assert empty.split("\r\n")[0] == csv_header(rows[0]) and empty.split("\r\n")[1:] == [""]  # the same columns


def csv_header(row: dict[str, str]) -> str:
    return ";".join(row)


@pytest.mark.parametrize("what, param", [("reports", "crs"), ("hotspots", "crs"), ("reports", "bbox-crs")])
def test_unknown_crs_is_400_naming_the_supported_ones(client, auth, what, param):
    params = {param: "EPSG:3021", **({"bbox": "580000,6575000,590000,6585000"} if param == "bbox-crs" else {})}
    r = client.get(f"/api/v1/exports/{what}.csv", headers=auth("gis"), params=params)
    assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"
    assert "EPSG:4326" in r.json()["detail"] and "EPSG:3006" in r.json()["detail"]
    assert r.json()["errors"] == [{"field": param, "message": "unsupported CRS"}]


def test_who_may_export(client, auth):
    url = "/api/v1/exports/reports.csv"
    assert client.get(url).status_code == 401
    assert client.get(url, headers=auth("reporter")).status_code == 403
    assert client.get(url, headers={"X-API-Key": "demo-rescue-key"}).status_code == 403
    for user in ("est", "coordinator", "gis"):
        assert client.get(url, headers=auth(user)).status_code == 200
    assert client.get("/api/v1/exports/reports.xlsx", headers=auth("gis")).status_code == 422


def test_csv_streams_in_batches(client, auth, db, monkeypatch):
    from app.config import get_settings

    add_reports(db, **SQUARE, at=T0, n=25)
    monkeypatch.setattr(get_settings(), "export_batch_rows", 10)
    headers = {**auth("gis"), "Accept-Encoding": "identity"}  # the chunks as the server writes them, not gzipped
    with client.stream("GET", "/api/v1/exports/reports.csv", headers=headers) as r:
        chunks = [c for c in r.iter_raw() if c]
    body = b"".join(chunks).decode("utf-8-sig")
    assert len(body.strip().split("\r\n")) == 26  # header + 25 rows
    assert len(chunks) >= 3  # header with the first batch, then one chunk per further batch of 10
    lines = json.loads(export(client, auth, "reports", "geojson").text)["features"]
    assert len(lines) == 25


def test_export_times_are_swedish_time_across_the_dst_changes():
    import numpy as np

    from app.timeutil import local_iso, local_iso_array

    instants = [dt.datetime(2026, 3, 29, 0, 59, 59, tzinfo=dt.UTC), dt.datetime(2026, 3, 29, 1, 0, tzinfo=dt.UTC),
                dt.datetime(2026, 10, 25, 0, 59, 59, tzinfo=dt.UTC), dt.datetime(2026, 10, 25, 1, 0, tzinfo=dt.UTC),
                dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.UTC)]
    epochs = np.array([t.timestamp() for t in instants] + [np.nan])
    assert local_iso_array(epochs) == [local_iso(t) for t in instants] + [None]
    assert local_iso_array(epochs, spreadsheet=True)[:4] == ["2026-03-29 01:59:59", "2026-03-29 03:00:00",
                                                               "2026-10-25 02:59:59", "2026-10-25 02:00:00"]


def test_a_call_out_and_a_guards_report_of_it_export_with_their_ids_and_link(client, auth):
    """The GIS unit finds the rescue service's call-out by its own number, and sees which
    reports are counted once as one incident."""
    from tests.feeds import event, post_events, results_by_id

    guard = client.post("/api/v1/reports", headers=auth("reporter"), json={
        "category": "brand_container", **SQUARE, "occurred_from": "2026-11-20T22:10:00+01:00"})
    assert guard.status_code == 201, guard.text
    fire = results_by_id(post_events(client, [event("RTJ-2026-9001")]))["RTJ-2026-9001"]
    assert fire["linked_reports"] == [guard.json()["id"]]
    rows = {row["id"]: row for row in read_csv(export(client, auth, "reports", "csv"))}
    call_out, seen = rows[fire["id"]], rows[guard.json()["id"]]
    assert (call_out["external_id"], call_out["event_type"], call_out["incident_of"]) == (
        "RTJ-2026-9001", "Brand i container", "")
    assert (seen["external_id"], seen["event_type"], seen["incident_of"]) == ("", "", fire["id"])
    feature = client.get(f"/api/v1/reports/{fire['id']}", headers=auth("est")).json()
    assert feature["properties"]["external_id"] == "RTJ-2026-9001"
    # The coordinator finds the call-out by its number, in the list and in a file.
    found = client.get("/api/v1/reports", headers=auth("coordinator"), params={"external_id": "RTJ-2026-9001"})
    assert [f["id"] for f in found.json()["features"]] == [fire["id"]]
    assert [row["id"] for row in read_csv(export(client, auth, "reports", "csv", external_id="RTJ-2026-9001"))] == [
        fire["id"]]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "r.gpkg"
        path.write_bytes(export(client, auth, "reports", "gpkg").content)
        one = subprocess.run(["ogrinfo", "-ro", "-q", str(path), "-sql",
                              f"SELECT external_id, incident_of FROM rapporter WHERE id = '{guard.json()['id']}'"],
                             capture_output=True, text=True).stdout
        assert f"incident_of (String) = {fire['id']}" in one


def test_a_filter_repeated_exports_every_value_as_comma_separated_does(client, auth, sample):
    a, b = sample
    for fmt in ("csv", "geojson"):
        repeated = client.get(f"/api/v1/exports/reports.{fmt}?category=klotter&category=skadegorelse&"
                              "status=verified&status=new", headers=auth("gis"))
        comma = export(client, auth, "reports", fmt, category="klotter,skadegorelse", status="verified,new")
        assert repeated.status_code == 200 and repeated.content == comma.content
    rows = read_csv(client.get("/api/v1/exports/reports.csv?category=klotter&category=skadegorelse",
                               headers=auth("gis")))
    assert {row["category"] for row in rows} == {"klotter", "skadegorelse"}
    assert {row["id"] for row in rows} == {str(a.id), str(b.id)}
