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
