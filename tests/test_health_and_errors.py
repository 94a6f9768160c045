"""Probes, and the shape every error has (RFC 9457 problem+json)."""


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
