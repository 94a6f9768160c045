"""Logging in, and least privilege by role; tokens only as the service makes them, and the
demo data's password and key refused once an installation is no longer a demo."""
import datetime as dt
import logging

import jwt
from sqlalchemy import select

from app.auth.models import User
from app.auth.users import set_password
from app.config import get_settings
from app.integrations.models import Integration
from seeds.demo import DEMO_API_KEY
from tests.feeds import URL, event, post_events
from tests.test_config import OLD_DEV_SECRET


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


def signed(claims: dict, secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {jwt.encode(claims, secret, algorithm='HS256')}"}


def test_a_token_signed_with_the_once_published_dev_secret_is_refused(client, db):
    """The review's forgery: anyone could sign a token for any user with the secret that was in the source."""
    gis = db.scalar(select(User).where(User.username == "gis"))
    now = dt.datetime.now(dt.UTC)
    forged = signed({"sub": str(gis.id), "role": gis.role, "ver": gis.token_version, "iat": now,
                     "exp": now + dt.timedelta(minutes=5)}, OLD_DEV_SECRET)
    r = client.get("/api/v1/reports", headers=forged)
    assert r.status_code == 401 and r.json()["detail"] == "The token is not valid"


def test_a_token_living_longer_than_a_login_is_refused(client, db, auth):
    """A token signed with the real key but not as create_token makes them (three years, or no
    iat) is refused on the API and the GIS routes; the service's own tokens still work."""
    settings = get_settings()
    gis = db.scalar(select(User).where(User.username == "gis"))
    now = dt.datetime.now(dt.UTC)
    claims = {"sub": str(gis.id), "role": gis.role, "ver": gis.token_version, "iat": now}
    three_years = signed({**claims, "exp": now + dt.timedelta(days=3 * 365)}, settings.secret_key)
    no_iat = signed({k: v for k, v in claims.items() if k != "iat"} | {"exp": now + dt.timedelta(hours=1)},
                    settings.secret_key)
    a_login = signed({**claims, "exp": now + dt.timedelta(minutes=settings.token_minutes)}, settings.secret_key)
    for path in ("/api/v1/reports", "/ogc/collections/reports/items", "/tiles/hotspots/10/560/296.mvt"):
        r = client.get(path, headers=three_years)
        assert r.status_code == 401 and "lives longer than this service's login tokens" in r.json()["detail"], path
        r = client.get(path, headers=no_iat)
        assert r.status_code == 401 and r.json()["detail"] == "The token is not valid", path
        assert client.get(path, headers=a_login).status_code in (200, 204), path
        assert client.get(path, headers=auth("gis")).status_code in (200, 204), path


def production(monkeypatch) -> None:
    """The running service as after LAGESBILD_ENV=production on a database seeded as a demo."""
    monkeypatch.setattr(get_settings(), "env", "production")
    assert not get_settings().demo_mode


def test_the_demo_password_is_refused_after_switching_to_production(client, db, monkeypatch, caplog):
    production(monkeypatch)
    coordinator = db.scalar(select(User).where(User.username == "coordinator"))
    with caplog.at_level(logging.WARNING, logger="lagesbild.auth"):
        r = client.post("/api/v1/auth/token", data={"username": "coordinator", "password": "demo"})
    assert r.status_code == 401 and r.json()["detail"] == "Wrong username or password"  # as any wrong password
    [warning] = [rec.getMessage() for rec in caplog.records if rec.name == "lagesbild.auth"]
    assert f"user:{coordinator.id} still has the demo data's password" in warning
    assert "python -m app.manage user --username" in warning and "--reset-password" in warning
    assert "coordinator" not in warning  # the user's id, never the name
    set_password(db, username="coordinator", password="ett riktigt lösenord")
    assert client.post("/api/v1/auth/token", data={"username": "coordinator",
                                                   "password": "ett riktigt lösenord"}).status_code == 200


def test_the_demo_integration_key_is_refused_after_switching_to_production(client, db, monkeypatch, caplog):
    production(monkeypatch)
    rescue = db.scalar(select(Integration.id).where(Integration.name == "raddningstjanst"))
    with caplog.at_level(logging.WARNING, logger="lagesbild.integrations"):
        pushed = post_events(client, [event("prod-1")])
        read = client.get("/ogc/collections/reports/items", headers={"X-API-Key": DEMO_API_KEY})
    unknown = client.post(URL, json={"type": "FeatureCollection", "features": []},
                          headers={"X-API-Key": "no-such-key"})
    assert pushed.status_code == unknown.status_code == 401
    assert pushed.json()["detail"] == unknown.json()["detail"] == "The API key is not valid, or it was revoked"
    assert read.status_code == 401  # not the 403 that would say the key is an integration's
    warnings = [rec.getMessage() for rec in caplog.records if rec.name == "lagesbild.integrations"]
    assert len(warnings) == 2 and f"integration:{rescue} still has the demo data's key" in warnings[0]
    assert f"POST /api/v1/integrations/{rescue}/keys" in warnings[0]
    assert DEMO_API_KEY not in warnings[0]

