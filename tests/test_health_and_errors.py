"""Probes, and the shape every error has (RFC 9457 problem+json)."""
import pytest


def test_healthz_and_readyz_answer_without_login(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["postgis"].startswith("3.")


def test_unknown_route_is_a_problem_document(client):
    r = client.get("/api/v1/nope")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == 404 and body["title"] == "Not found" and "/api/v1/nope" in body["detail"]


def test_openapi_docs_are_served(client):
    spec = client.get("/openapi.json").json()
    assert "/api/v1/reports" in spec["paths"]
    assert client.get("/docs").status_code == 200


def test_database_outage_is_503_problem_not_500(client, auth):
    from sqlalchemy.exc import OperationalError

    from app.db import get_session
    from app.main import app

    def _down():
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))
        yield  # pragma: no cover

    headers = auth("reporter")
    app.dependency_overrides[get_session] = _down
    r = client.post("/api/v1/reports", headers=headers, json={"category": "klotter", "lat": 59.37, "lon": 16.51})
    assert r.status_code == 503 and r.headers["retry-after"] == "5"
    assert "nothing was stored" in r.json()["detail"]


@pytest.mark.parametrize("error", ["DeadlockDetected", "SerializationFailure"])
def test_a_transaction_the_database_gave_up_is_409_send_it_again(client, auth, error):
    import psycopg.errors
    from sqlalchemy.exc import OperationalError

    from app.db import get_session
    from app.main import app

    def _given_up():
        raise OperationalError("UPDATE report ...", {}, getattr(psycopg.errors, error)("deadlock detected"))
        yield  # pragma: no cover

    headers = auth("reporter")
    app.dependency_overrides[get_session] = _given_up
    r = client.post("/api/v1/reports", headers=headers, json={"category": "klotter", "lat": 59.37, "lon": 16.51})
    assert r.status_code == 409 and r.headers["content-type"] == "application/problem+json"
    assert "nothing was stored" in r.json()["detail"] and "Send it again" in r.json()["detail"]


def test_logs_carry_no_personal_data(client, auth, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    headers = auth("reporter")
    client.post("/api/v1/reports", headers=headers,
                json={"category": "klotter", "lat": 59.3712, "lon": 16.5098, "description": "Kalle 19900101-1234"})
    client.get("/api/v1/reports?bbox=16.5,59.3,16.6,59.4", headers=headers)
    # What the server logs (the test client's own httpx logger is not the server's).
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(("httpx", "httpcore")))
    assert "POST /api/v1/reports 201" in logged  # the access log is there...
    assert "19900101-1234" not in logged and "Kalle" not in logged  # ...without the report's text
    assert headers["Authorization"].split()[1] not in logged and "testclient" not in logged
    assert "bbox=" not in logged  # no query strings


def test_answers_with_reports_are_kept_by_no_cache(client, auth):
    """The meeting-room PC is shared: reports, meetings, PDFs and errors of the API are
    `private, no-store`; the pages and their static files keep their own caching."""
    for path in ("/api/v1/reports?limit=1", "/api/v1/meetings", "/api/v1/hotspots", "/api/v1/reports/nonsense",
                 "/ogc/collections/reports/items?limit=1", "/open311/v2/services.json"):
        r = client.get(path, headers=auth("coordinator"))
        assert r.headers["cache-control"] == "private, no-store", (path, r.status_code)
    static = client.get("/static/js/common.js")
    assert static.status_code == 200 and "no-store" not in static.headers.get("cache-control", "")


def test_the_access_log_says_who_read_what(client, auth, db, caplog):
    """Who saw the reports is traceable: each access-log line names the caller by id — a
    user (by login or by one of their reading keys) or an integration — never by name or key."""
    import logging

    from sqlalchemy import select

    from app.auth.models import ReadingKey, User
    from tests.feeds import event, post_events
    from tests.test_reading_keys import make_key

    caplog.set_level(logging.INFO, logger="lagesbild.access")
    gis = db.scalar(select(User.id).where(User.username == "gis"))
    key = make_key(client, auth)["key"]
    key_id = db.scalar(select(ReadingKey.id).order_by(ReadingKey.id.desc()).limit(1))
    client.get("/api/v1/exports/reports.csv", headers=auth("gis"))
    client.get("/ogc/collections/reports/items?limit=1", headers={"X-API-Key": key})
    post_events(client, [event("WHO-1")])
    client.get("/api/v1/reports?limit=1")
    lines = [r.getMessage() for r in caplog.records if r.name == "lagesbild.access"]
    assert "GET /api/v1/exports/reports.csv 200" in lines[-4] and lines[-4].endswith(f" user:{gis}")
    assert lines[-3].startswith("GET /ogc/collections/reports/items 200") and \
        lines[-3].endswith(f" user:{gis}:key:{key_id}")
    assert lines[-2].startswith("POST /api/v1/integrations/events 200") and " integration:" in lines[-2]
    assert lines[-1].startswith("GET /api/v1/reports 401") and lines[-1].endswith(" -")
    assert key not in "\n".join(lines) and "gis " not in "\n".join(lines)
