"""A reporter in the field submits a report; the GIS unit submits in SWEREF 99 TM; a phone
with bad coverage retries. What is acknowledged is stored, once, with its H3 cells."""
import datetime as dt
import uuid

import h3
from geoalchemy2.shape import to_shape
from sqlalchemy import select

from app.geo import wgs84_to_sweref
from app.reports.models import Report
from tests.helpers import SQUARE, idempotency_count, report_count


def test_reporter_submits_a_report_now(client, auth, db):
    before = report_count(db)
    r = client.post("/api/v1/reports", headers=auth("reporter"),
                    json={"category": "klotter", **SQUARE, "description": "Klotter på busskuren",
                          "place": "Fristadstorget"})
    assert r.status_code == 201, r.text
    feature = r.json()
    assert feature["type"] == "Feature"
    assert feature["geometry"] == {"type": "Point", "coordinates": [16.5098, 59.3712]}
    props = feature["properties"]
    assert props["category"] == "klotter" and props["category_label"] == "Klotter"
    assert props["status"] == "new" and props["source"] == "web" and props["mine"] is True
    assert props["organisation_kind"] == "vaktare"
    assert props["occurred_from"] == props["occurred_to"]
    assert props["occurred_from"].endswith(("+01:00", "+02:00"))  # Europe/Stockholm at the edge
    assert r.headers["location"] == f"/api/v1/reports/{feature['id']}"
    assert report_count(db) == before + 1

    row = db.get(Report, uuid.UUID(feature["id"]))
    point = to_shape(row.geom)
    assert (round(point.x, 6), round(point.y, 6)) == (16.5098, 59.3712)
    for res in (7, 8, 9, 10):
        expected = h3.str_to_int(h3.latlng_to_cell(59.3712, 16.5098, res))
        assert getattr(row, f"h3_r{res}") == expected
    assert props["h3_r9"] == h3.latlng_to_cell(59.3712, 16.5098, 9)
    assert row.occurred_from.tzinfo is not None


def test_gis_unit_coordinates_in_sweref99tm(client, auth, db):
    x, y = wgs84_to_sweref(16.5098, 59.3712)
    r = client.post("/api/v1/reports", headers=auth("est"),
                    json={"category": "skadegorelse", "x": x, "y": y, "crs": "EPSG:3006"})
    assert r.status_code == 201, r.text
    lon, lat = r.json()["geometry"]["coordinates"]
    assert abs(lon - 16.5098) < 1e-6 and abs(lat - 59.3712) < 1e-6
    again = client.get(f"/api/v1/reports/{r.json()['id']}?crs=EPSG:3006", headers=auth("est")).json()
    ex, ey = again["geometry"]["coordinates"]
    assert abs(ex - x) < 0.01 and abs(ey - y) < 0.01


def test_found_now_happened_between_is_a_window_in_swedish_time(client, auth):
    r = client.post("/api/v1/reports", headers=auth("reporter"),
                    json={"category": "klotter", **SQUARE,
                          "occurred_from": "2026-03-28T22:00:00", "occurred_to": "2026-03-29T06:30:00"})
    assert r.status_code == 201, r.text
    props = r.json()["properties"]
    # Naive times are Swedish local time; the DST switch on 29 March shows in the offsets.
    assert props["occurred_from"] == "2026-03-28T22:00:00+01:00"
    assert props["occurred_to"] == "2026-03-29T06:30:00+02:00"


def test_retry_with_the_same_idempotency_key_stores_nothing_new(client, auth, db):
    key = str(uuid.uuid4())
    body = {"category": "nedskrapning", **SQUARE, "description": "Dumpade sopsäckar"}
    first = client.post("/api/v1/reports", headers={**auth("reporter"), "Idempotency-Key": key}, json=body)
    count = report_count(db)
    second = client.post("/api/v1/reports", headers={**auth("reporter"), "Idempotency-Key": key}, json=body)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert report_count(db) == count


def test_idempotency_key_reused_for_another_report_is_refused(client, auth, db):
    key = str(uuid.uuid4())
    client.post("/api/v1/reports", headers={**auth("reporter"), "Idempotency-Key": key},
                json={"category": "klotter", **SQUARE})
    count = report_count(db)
    r = client.post("/api/v1/reports", headers={**auth("reporter"), "Idempotency-Key": key},
                    json={"category": "skadegorelse", **SQUARE})
    assert r.status_code == 422 and "already used" in r.json()["detail"]
    assert report_count(db) == count


def test_idempotency_keys_are_per_user(client, auth, db):
    key = str(uuid.uuid4())
    body = {"category": "klotter", **SQUARE}
    a = client.post("/api/v1/reports", headers={**auth("reporter"), "Idempotency-Key": key}, json=body)
    b = client.post("/api/v1/reports", headers={**auth("est"), "Idempotency-Key": key}, json=body)
    assert a.json()["id"] != b.json()["id"]


def test_failed_request_with_idempotency_key_leaves_no_rows(client, auth, db):
    before = (report_count(db), idempotency_count(db))
    key = str(uuid.uuid4())
    r = client.post("/api/v1/reports", headers={**auth("reporter"), "Idempotency-Key": key},
                    json={"category": "finns-inte", **SQUARE})
    assert r.status_code == 422
    assert (report_count(db), idempotency_count(db)) == before
    # ... and the key is free for the corrected report.
    ok = client.post("/api/v1/reports", headers={**auth("reporter"), "Idempotency-Key": key},
                     json={"category": "klotter", **SQUARE})
    assert ok.status_code == 201


def test_description_is_stored_as_given_text(client, auth, db):
    text = "<img src=x onerror=alert(1)> & 'citat'"
    r = client.post("/api/v1/reports", headers=auth("reporter"),
                    json={"category": "ovrigt", **SQUARE, "description": text})
    assert r.json()["properties"]["description"] == text
    assert db.scalar(select(Report.description).where(Report.id == uuid.UUID(r.json()["id"]))) == text


def test_time_in_the_past_window_with_offset_is_kept_in_utc(client, auth, db):
    r = client.post("/api/v1/reports", headers=auth("reporter"),
                    json={"category": "klotter", **SQUARE, "occurred_from": "2026-11-01T10:00:00Z"})
    row = db.get(Report, uuid.UUID(r.json()["id"]))
    assert row.occurred_from == dt.datetime(2026, 11, 1, 10, tzinfo=dt.UTC) == row.occurred_to


def test_integration_submits_with_its_api_key(client, db):
    from app.integrations.models import ApiKey

    body = {"category": "brand_container", **SQUARE, "external_id": "RT-2026-0042",
            "occurred_from": "2026-11-20T23:10:00+01:00"}
    r = client.post("/api/v1/reports", headers={"X-API-Key": "demo-rescue-key"}, json=body)
    assert r.status_code == 201, r.text
    props = r.json()["properties"]
    assert props["source"] == "integration:raddningstjanst" and props["organisation_kind"] == "raddningstjanst"
    row = db.get(Report, uuid.UUID(r.json()["id"]))
    assert row.external_id == "RT-2026-0042" and row.reporter_id is None
    assert db.scalar(select(ApiKey.last_used_at)) is not None
    again = client.post("/api/v1/reports", headers={"X-API-Key": "demo-rescue-key"}, json=body)
    assert again.status_code == 409 and "RT-2026-0042" in again.json()["detail"]
    wrong = client.post("/api/v1/reports", headers={"X-API-Key": "guess"}, json=body)
    assert wrong.status_code == 401 and "API key" in wrong.json()["detail"]


def test_external_id_is_for_integrations_only(client, auth):
    r = client.post("/api/v1/reports", headers=auth("reporter"),
                    json={"category": "klotter", **SQUARE, "external_id": "x1"})
    assert r.status_code == 422 and "integrations" in r.json()["detail"]
