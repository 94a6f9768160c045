"""GDAL's own OGC API client (Debian's gdal-bin: ogrinfo, ogr2ogr; the OAPIF driver) reads the
live server the way the GIS unit's tools do, with a reading key from `python -m app.manage api-key`."""
from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
import shapely
from pyogrio import raw
from sqlalchemy import text

from tests.live import ROOT

# South-east of the centre: about two hundred of the live server's reports, several of GDAL's pages.
AREA = (16.56, 59.33, 16.62, 59.36)


@pytest.fixture(scope="module")
def key(live_server) -> str:
    """A reading key for the demo GIS user, made by the command an administrator runs."""
    env = {**os.environ, "DATABASE_URL": live_server.database_url, "LAGESBILD_ENV": "test"}
    done = subprocess.run([sys.executable, "-m", "app.manage", "api-key", "--user", "gis", "--days", "1"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def gdal(tool: str, *args: str, header: str) -> str:
    done = subprocess.run([tool, "--config", "GDAL_HTTP_HEADERS", header, *args],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def feature_count(info: str) -> int:
    return int(next(line for line in info.splitlines() if line.startswith("Feature Count:")).split(":")[1])


def db_reports_3006(live_server, where: str = "true", **params) -> dict[str, tuple[float, float]]:
    with live_server.engine.connect() as conn:
        rows = conn.execute(text(f"SELECT id::text, ST_X(ST_Transform(geom, 3006)), ST_Y(ST_Transform(geom, 3006)) "
                                 f"FROM report WHERE {where}"), params).all()
    return {r[0]: (r[1], r[2]) for r in rows}


def read_gpkg(path: Path, layer: str) -> tuple[list[str], np.ndarray]:
    _, _, geometry, (ids,) = raw.read(path, layer=layer, columns=["id"])
    return ids.tolist(), shapely.get_coordinates(shapely.from_wkb(geometry))


def test_debian_gdal_has_the_ogc_api_features_driver():
    formats = subprocess.run(["ogrinfo", "--formats"], capture_output=True, text=True).stdout
    assert "OAPIF -vector-" in formats


def test_ogrinfo_lists_the_collections_and_counts_every_report(live_server, key):
    url = f"OAPIF:{live_server.url}/ogc"
    listing = gdal("ogrinfo", "-ro", url, header=f"X-API-Key: {key}")
    for name in ("reports", "hotspots-r7", "hotspots-r8", "hotspots-r9", "hotspots-r10"):
        assert f": {name} (" in listing
    info = gdal("ogrinfo", "-ro", "-so", url, "reports", header=f"X-API-Key: {key}")
    assert feature_count(info) == len(db_reports_3006(live_server)) >= 8000
    assert "occurred_from: DateTime" in info and "Geometry: Point" in info


def test_ogr2ogr_copies_every_report_into_a_geopackage_in_sweref_99_tm(live_server, key, tmp_path):
    out = tmp_path / "reports.gpkg"
    gdal("ogr2ogr", "-f", "GPKG", str(out), f"OAPIF:{live_server.url}/ogc", "reports", "-t_srs", "EPSG:3006",
         "-oo", "PAGE_SIZE=1000", header=f"X-API-Key: {key}")
    ids, xy = read_gpkg(out, "reports")
    expected = db_reports_3006(live_server)
    assert len(ids) == len(set(ids)) == len(expected)  # 8+ pages of 1,000 through next links, none twice
    assert set(ids) == set(expected)
    want = np.array([expected[i] for i in ids])
    assert np.abs(xy - want).max() < 0.02  # metres: easting and northing as PostGIS transforms them
    info = subprocess.run(["ogrinfo", "-ro", "-so", str(out), "reports"], capture_output=True, text=True).stdout
    assert 'ID["EPSG",3006]' in info


def test_gdal_follows_next_links_when_a_page_is_smaller_than_the_result(live_server, key, tmp_path):
    out = tmp_path / "area.gpkg"
    gdal("ogr2ogr", "-f", "GPKG", str(out), f"OAPIF:{live_server.url}/ogc", "reports", "-spat", *map(str, AREA),
         "-oo", "PAGE_SIZE=37", "-t_srs", "EPSG:3006", header=f"Authorization: Bearer {live_server.token('est')}")
    ids, xy = read_gpkg(out, "reports")
    expected = db_reports_3006(live_server, "ST_Intersects(geom, ST_MakeEnvelope(:a, :b, :c, :d, 4326))",
                               a=AREA[0], b=AREA[1], c=AREA[2], d=AREA[3])
    assert len(expected) > 37 * 4  # several pages
    assert len(ids) == len(set(ids)) and set(ids) == set(expected)
    assert np.abs(xy - np.array([expected[i] for i in ids])).max() < 0.02


def test_ogrinfo_reads_the_hotspot_layer_of_the_last_full_cycle(live_server, key):
    api = httpx.get(f"{live_server.url}/ogc/collections/hotspots-r9/items", headers={"X-API-Key": key},
                    params={"limit": 1}).json()
    info = gdal("ogrinfo", "-ro", "-so", f"OAPIF:{live_server.url}/ogc", "hotspots-r9", header=f"X-API-Key: {key}")
    assert feature_count(info) == api["numberMatched"] > 0
    assert "Geometry: Polygon" in info and "hotspot: String" in info and "count: Real" in info


def test_gdal_without_a_key_is_refused(live_server):
    done = subprocess.run(["ogrinfo", "-ro", f"OAPIF:{live_server.url}/ogc"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode != 0 and "401" in done.stderr


def test_gdal_with_the_key_as_a_basic_password_reads_as_arcgis_pro_does(live_server, key):
    """ArcGIS Pro, Excel and older QGIS can only send a user name and password: HTTP Basic with
    the reading key as the password. GDAL answers the server's challenge with it (curl's
    ANY: it sends credentials only after the 401 names Basic)."""
    url = f"OAPIF:{live_server.url}/ogc"
    done = subprocess.run(["ogrinfo", "-ro", "-so", "--config", "GDAL_HTTP_AUTH", "ANY", "--config",
                           "GDAL_HTTP_USERPWD", f"GIS-enheten:{key}", url, "reports"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert feature_count(done.stdout) == len(db_reports_3006(live_server))
    wrong = subprocess.run(["ogrinfo", "-ro", "--config", "GDAL_HTTP_AUTH", "BASIC", "--config",
                            "GDAL_HTTP_USERPWD", "gis:demo", url], capture_output=True, text=True, timeout=60)
    assert wrong.returncode != 0 and "401" in wrong.stderr  # a login password is not a reading key


def next_pages(url: str, headers: dict[str, str], between=None) -> list[str]:
    """Every report id a client gets by following next links from ``url`` over TCP; ``between``
    runs after the first page."""
    seen, page = [], 0
    while url:
        body = httpx.get(url, headers=headers, timeout=120).json()
        seen += [f["id"] for f in body["features"]]
        url = next((x["href"] for x in body["links"] if x["rel"] == "next"), None)
        page += 1
        assert page < 50, "next links without end"
        if page == 1 and between:
            between()
    return seen


def test_a_report_filed_while_a_client_pages_is_not_a_reason_to_serve_a_page_twice(live_server, key):
    """The GIS engineer pages 2,000 at a time while a guard files a report: every report there
    was is served once (the new one sorts before the pages already read and is not among them)."""
    there = set(db_reports_3006(live_server))
    filed = []

    def a_guard_files_a_report():
        r = httpx.post(f"{live_server.url}/api/v1/reports", headers=live_server.headers("reporter"),
                       json={"category": "klotter", "lat": 59.3712, "lon": 16.5098})
        assert r.status_code == 201, r.text
        filed.append(r.json()["id"])

    try:
        seen = next_pages(f"{live_server.url}/ogc/collections/reports/items?limit=2000", {"X-API-Key": key},
                          a_guard_files_a_report)
        assert len(filed) == 1 and len(db_reports_3006(live_server)) == len(there) + 1
    finally:
        with live_server.engine.begin() as conn:
            conn.execute(text("DELETE FROM report WHERE id = ANY(CAST(:ids AS uuid[]))"), {"ids": filed})
    assert len(seen) == len(set(seen))  # none twice (a last page's next link repeated it: 2,000 twice)
    assert set(seen) == there


def test_ogrinfo_filters_on_a_date_as_gdal_sends_it(live_server, key):
    """GDAL pushes a DateTime comparison down as ``datetime`` with a date and a trailing 'T'
    (2026-11-01T/..); the server takes it as that Swedish day, the occurrence window's filter,
    and GDAL applies the comparison itself to what comes back."""
    with live_server.engine.connect() as conn:
        day = conn.scalar(text("SELECT (percentile_disc(0.5) WITHIN GROUP (ORDER BY reported_at) "
                               "AT TIME ZONE 'Europe/Stockholm')::date FROM report"))
        since = "reported_at >= (CAST(:d AS timestamp) AT TIME ZONE 'Europe/Stockholm')"
        reported = conn.scalar(text(f"SELECT count(*) FROM report WHERE {since}"), {"d": day})
        expected = conn.scalar(text(f"SELECT count(*) FROM report WHERE {since} "
                                    "AND occurred_to >= (CAST(:d AS timestamp) AT TIME ZONE 'Europe/Stockholm')"),
                               {"d": day})
    done = subprocess.run(["ogrinfo", "--config", "GDAL_HTTP_HEADERS", f"X-API-Key: {key}", "--debug", "on", "-ro",
                           "-so", f"OAPIF:{live_server.url}/ogc", "reports", "-where",
                           f"reported_at >= '{day.isoformat()}'"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"datetime={day.isoformat()}T%2F.." in done.stderr  # what GDAL asked for (its debug log)
    # the occurrence window's filter (server) and the comparison (GDAL): reports that happened before the
    # day but were filed on it or later are not in it
    assert 0 < feature_count(done.stdout) == expected < reported


def test_sweref_99_tm_from_the_ogc_api_is_the_exports_and_postgis_to_the_centimetre(live_server, key):
    """Every report: the OGC API's northing/easting, the CSV export's easting/northing and
    PostGIS's ST_Transform, rounded to 1 cm, are the same numbers."""
    ogc = httpx.get(f"{live_server.url}/ogc/collections/reports/items", headers={"X-API-Key": key}, timeout=120,
                    params={"crs": "http://www.opengis.net/def/crs/EPSG/0/3006", "limit": 10_000}).json()
    assert not [x for x in ogc["links"] if x["rel"] == "next"]
    from_ogc = {f["id"]: (f["geometry"]["coordinates"][1], f["geometry"]["coordinates"][0]) for f in ogc["features"]}
    export = httpx.get(f"{live_server.url}/api/v1/exports/reports.csv", headers={"X-API-Key": key},
                       params={"crs": "EPSG:3006"}, timeout=120)
    rows = csv.DictReader(io.StringIO(export.content.decode("utf-8-sig"), newline=""), delimiter=";")
    from_csv = {row["id"]: (float(row["x"].replace(",", ".")), float(row["y"].replace(",", "."))) for row in rows}
    assert from_ogc == from_csv
    postgis = db_reports_3006(live_server)
    assert set(from_ogc) == set(postgis) and len(postgis) >= 8000
    off = np.array([from_ogc[i] for i in postgis]) - np.array(list(postgis.values()))
    assert np.abs(off).max() <= 0.005 + 1e-6  # metres: PostGIS's value rounded once (double rounding: ~1 cm)
