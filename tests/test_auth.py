"""Logging in, and least privilege by role."""


def test_demo_user_logs_in_with_the_password_flow(client):
    r = client.post("/api/v1/auth/token", data={"username": "reporter", "password": "demo"})
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer" and body["role"] == "reporter"
    me = client.get("/api/v1/categories", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200


def test_wrong_password_is_401_problem(client):
    r = client.post("/api/v1/auth/token", data={"username": "reporter", "password": "wrong"})
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"] == "Wrong username or password"


def test_missing_and_forged_tokens_are_401(client):
    r = client.get("/api/v1/reports")
    assert r.status_code == 401 and "Log in first" in r.json()["detail"]
    assert r.headers["www-authenticate"] == "Bearer"
    forged = client.get("/api/v1/reports", headers={"Authorization": "Bearer abc.def.ghi"})
    assert forged.status_code == 401 and forged.json()["detail"] == "The token is not valid"


def test_a_key_sent_where_a_login_is_needed_says_where_keys_work(client):
    from seeds.demo import DEMO_API_KEY

    as_bearer = client.get("/api/v1/reports", headers={"Authorization": f"Bearer {DEMO_API_KEY}"})
    assert as_bearer.status_code == 401 and as_bearer.headers["content-type"] == "application/problem+json"
    assert "X-API-Key header" in as_bearer.json()["detail"] and "POST /api/v1/auth/token" in as_bearer.json()["detail"]
    on_gis = client.get("/ogc/collections/reports/items", headers={"Authorization": f"Bearer {DEMO_API_KEY}"})
    assert on_gis.status_code == 401 and "reading key" in on_gis.json()["detail"]
    for key in (DEMO_API_KEY, "lbr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"):
        r = client.get("/api/v1/reports", headers={"X-API-Key": key})
        assert r.status_code == 401 and r.json()["detail"].startswith("An X-API-Key is not a login")
        assert "/ogc" in r.json()["detail"] and "POST /api/v1/integrations/events" in r.json()["detail"]


def test_gis_reader_may_read_but_not_report(client, auth):
    assert client.get("/api/v1/reports", headers=auth("gis")).status_code == 200
    r = client.post("/api/v1/reports", json={"category": "klotter", "lat": 59.37, "lon": 16.51}, headers=auth("gis"))
    assert r.status_code == 403
    assert "gis_reader" in r.json()["detail"]


def test_login_is_rate_limited(client):
    codes = [client.post("/api/v1/auth/token", data={"username": "x", "password": "y"}).status_code
             for _ in range(25)]
    assert codes[0] == 401 and codes[-1] == 429
