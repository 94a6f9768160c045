"""Bad input gets a clear RFC 9457 error, never a 500, and stores nothing."""
import datetime as dt
import json

import pytest

from tests.helpers import SQUARE, report_count

FUTURE = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).isoformat()


@pytest.mark.parametrize("body, field, words", [
    ({"category": "klotter", "lat": 95, "lon": 16.5}, "lat", "less than or equal to 90"),
    ({"category": "klotter", "lat": 59.37, "lon": 200}, "lon", "less than or equal to 180"),
    ({"category": "klotter", "lat": "norr", "lon": 16.5}, "lat", "valid number"),
    ({"category": "klotter", "lat": True, "lon": 16.5}, "lat", "valid number"),
    ({"category": "klotter", "lat": 59.37}, "body", "both lat and lon"),
    ({"category": "klotter"}, "body", "a position is required"),
    ({"category": "klotter", **SQUARE, "description": "x" * 2001}, "description", "at most 2000"),
    ({"category": "klotter", **SQUARE, "colour": "red"}, "colour", "Extra inputs"),
    ({"category": "klotter", **SQUARE, "occurred_from": "igår"}, "occurred_from", "datetime"),
])
def test_invalid_fields_name_the_field(client, auth, db, body, field, words):
    before = report_count(db)
    r = client.post("/api/v1/reports", headers=auth("reporter"), json=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["status"] == 422 and problem["title"] == "Invalid input"
    assert any(e["field"] == field for e in problem["errors"]), problem
    assert words in problem["detail"]
    assert report_count(db) == before


@pytest.mark.parametrize("body, field, words", [
    ({"category": "klotter", "lat": 57.7089, "lon": 11.9746}, "lat", "outside Eskilstuna's boundary"),
    ({"category": "finns-inte", **SQUARE}, "category", "Unknown category 'finns-inte'"),
    ({"category": "klotter", **SQUARE, "occurred_from": "2026-11-02T10:00:00+01:00",
      "occurred_to": "2026-11-01T10:00:00+01:00"}, "occurred_to", "is before occurred_from"),
    ({"category": "klotter", **SQUARE, "occurred_from": FUTURE}, "occurred_from", "in the future"),
    ({"category": "klotter", "x": 100, "y": 200, "crs": "EPSG:3006"}, "x", "outside SWEREF 99 TM"),
    ({"category": "klotter", "x": 587000, "y": 6582400}, "crs", "need a crs"),
    ({"category": "klotter", "x": 587000, "y": 6582400, "crs": "EPSG:3857"}, "crs", "unsupported CRS"),
])
def test_domain_checks_say_what_is_wrong(client, auth, db, body, field, words):
    before = report_count(db)
    r = client.post("/api/v1/reports", headers=auth("reporter"), json=body)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert words in problem["detail"]
    assert problem["errors"][0]["field"] == field
    assert report_count(db) == before


def test_malformed_json(client, auth):
    r = client.post("/api/v1/reports", headers={**auth("reporter"), "Content-Type": "application/json"},
                    content=b'{"category": "klotter", "lat": 59.3,')
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert "Malformed JSON" in r.json()["detail"]


def test_wrong_content_type(client, auth):
    r = client.post("/api/v1/reports", headers={**auth("reporter"), "Content-Type": "text/plain"},
                    content=json.dumps({"category": "klotter", **SQUARE}))
    assert r.status_code in (415, 422)
    assert r.headers["content-type"] == "application/problem+json"
    assert "application/json" in r.json()["detail"]


def test_body_over_the_limit_is_413(client, auth, db):
    before = report_count(db)
    big = json.dumps({"category": "klotter", **SQUARE, "description": "x" * 100_000})
    r = client.post("/api/v1/reports", headers={**auth("reporter"), "Content-Type": "application/json"},
                    content=big)
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/problem+json"
    assert "limit" in r.json()["detail"]
    assert report_count(db) == before


def test_chunked_body_over_the_limit_is_413(client, auth):
    def chunks():
        yield b'{"category": "klotter", "description": "'
        for _ in range(100):
            yield b"x" * 1000
        yield b'"}'

    r = client.post("/api/v1/reports", headers={**auth("reporter"), "Content-Type": "application/json"},
                    content=chunks())
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["title"] == "Payload too large" and r.json()["type"].endswith("/payload-too-large")


def test_bad_query_parameters(client, auth):
    for query, words in [("bbox=1,2,3", "bbox must be"), ("status=open", "unknown value(s) open"),
                         ("limit=0", "greater than or equal to 1"), ("start=nej", "datetime"),
                         ("cursor=%%%", "cursor is not valid"), ("crs=EPSG:2154", "unsupported CRS")]:
        r = client.get(f"/api/v1/reports?{query}", headers=auth("est"))
        assert r.status_code == 422, (query, r.text)
        assert words in r.json()["detail"], (query, r.json())


@pytest.mark.parametrize("body, field", [
    ({"category": "klotter", **SQUARE, "description": "Kalle\u0000"}, "description"),
    ({"category": "klotter", **SQUARE, "occurred_from": "0001-01-01T00:00:00"}, "occurred_from"),
    ({"category": "klotter", **SQUARE, "occurred_to": "9999-12-31T23:30:00Z"}, "occurred_to"),
])
def test_values_postgres_cannot_take_are_422_not_500(client, auth, db, body, field):
    before = report_count(db)
    r = client.post("/api/v1/reports", headers=auth("reporter"), json=body)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == field
    assert report_count(db) == before


def test_odd_query_values_are_422_not_500(client, auth):
    for query in ("start=0001-01-01T00:00:00", "category=%00"):
        r = client.get(f"/api/v1/reports?{query}", headers=auth("est"))
        assert r.status_code == 422, (query, r.text)
        assert r.headers["content-type"] == "application/problem+json"


def _raw_json(body) -> bytes:
    # json.dumps escapes a lone surrogate as \ud800, as a client's JSON library would send it
    return json.dumps(body).encode()


@pytest.mark.parametrize("path, body, field", [
    ("/api/v1/reports", {"category": "klotter", **SQUARE, "place": "Torget \ud800"}, "place"),
    ("/api/v1/public/reports", {"category": "klotter", **SQUARE, "place": "\udfff"}, "place"),
    ("/api/v1/places", {"name": "Torget \ud800", "cells": ["89088699e1bffff"]}, "name"),
])
def test_unpaired_surrogates_in_text_are_422_not_500(client, auth, db, path, body, field):
    """JSON's "\\ud800" escape is a lone UTF-16 surrogate: not Unicode, and PostgreSQL cannot take it."""
    before = report_count(db)
    r = client.post(path, content=_raw_json(body), headers={**auth("est"), "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0]["field"] == field and "unpaired surrogate" in r.json()["detail"]
    assert report_count(db) == before


def test_cycles_and_days_at_the_calendar_limits_are_problems_not_500(client, auth):
    est = auth("est")
    for url in ("/api/v1/cycles/9999-12-31", "/api/v1/cycles/0001-01-01", "/api/v1/hotspots?cycle=0001-01-01",
                "/api/v1/hotspots/top?cycle=9999-12-31", "/api/v1/exports/hotspots.csv?cycle=9999-12-31"):
        r = client.get(url, headers=est)
        assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json", (url, r.text)
        assert "from 1970 up to the current cycle" in r.json()["detail"], url
    for url in ("/api/v1/lagesbild.html?to=9999-12-31", "/api/v1/patterns?from=9999-12-01&to=9999-12-31"):
        r = client.get(url, headers=est)
        assert r.status_code == 422, (url, r.text)
        assert "between the years 1970 and 2100" in r.json()["detail"], url
    r = client.post("/api/v1/meetings", headers=est, json={"cycle": "0001-01-01", "held_on": "2026-11-04"})
    assert r.status_code == 422 and "from 1970" in r.json()["detail"], r.text


def test_an_action_cannot_start_in_year_1_and_break_its_follow_up(client, auth):
    from tests.test_est_loop_api import action_body, make_place

    place = make_place(client, auth)
    r = client.post("/api/v1/actions", headers=auth("est"), json=action_body(place["id"], start_date="0001-01-01"))
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "start_date" and "1970 and 2100" in r.json()["detail"]
    r = client.get(f"/api/v1/places/{place['id']}/effect?date=0001-03-01", headers=auth("est"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "date", r.text


@pytest.mark.parametrize("url", ["/api/v1/reports?cell=-1", "/api/v1/reports?cell=99999999999999999999",
                                 "/api/v1/hotspots/cells/-1", "/api/v1/patterns?cell=99999999999999999999"])
def test_cells_h3_reads_as_numbers_are_422_not_500(client, auth, url):
    r = client.get(url, headers=auth("est"))
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", r.text
    assert "is not an H3 cell index" in r.json()["detail"]


@pytest.mark.parametrize("body, words", [
    (b"[" * 30_000 + b"]" * 30_000, "nested too deeply"),
    (b'{"category": "klotter", "lat": ' + b"9" * 5000 + b', "lon": 16.5}', "4300 digits"),
    (b'{"category": "klotter", "description": "\xff\xfe"}', "not UTF-8"),
])
def test_json_the_parser_gives_up_on_is_malformed_json_with_a_reason(client, auth, db, body, words):
    before = report_count(db)
    r = client.post("/api/v1/reports", headers={**auth("reporter"), "Content-Type": "application/json"}, content=body)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", r.text
    assert r.json()["detail"].startswith("Malformed JSON: ") and words in r.json()["detail"]
    assert report_count(db) == before
