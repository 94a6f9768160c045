"""Reading keys for GIS programs: made by the user, listed, revoked one by one, expiring."""
from __future__ import annotations

import base64
import datetime as dt

from sqlalchemy import select, update

from app.auth.keys import key_digest
from app.auth.models import ReadingKey, User
from app.auth.users import set_password
from app.cache import TtlCache
from app.timeutil import utcnow
from seeds.demo import DEMO_API_KEY

OGC_ITEMS = "/ogc/collections/reports/items"


def make_key(client, auth, user="gis", **body) -> dict:
    r = client.post("/api/v1/reading-keys", headers=auth(user), json={"label": "QGIS på GIS-enheten", **body})
    assert r.status_code == 201, r.text
    return r.json()


def test_a_gis_user_makes_a_key_and_qgis_reads_with_it(client, auth, db):
    made = make_key(client, auth, days=30)
    key = made["key"]
    assert key.startswith("lbr_") and made["prefix"] == key[:8] and made["active"] and made["user"] == "gis"
    stored = db.scalar(select(ReadingKey).where(ReadingKey.id == made["id"]))
    assert stored.key_sha256 == key_digest(key) and key not in stored.key_sha256  # only the digest is kept
    assert (stored.expires_at - utcnow()).days in (29, 30)
    assert client.get(OGC_ITEMS, headers={"X-API-Key": key}).status_code == 200
    assert client.get(OGC_ITEMS, headers={"Authorization": f"Bearer {key}"}).status_code == 200
    listed = client.get("/api/v1/reading-keys", headers=auth("gis")).json()
    assert [k["id"] for k in listed] == [made["id"]] and "key" not in listed[0]
    assert listed[0]["last_used_at"] is not None  # the use is recorded


def basic(name: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


def test_programs_that_send_only_a_user_name_and_password_use_the_key_as_the_password(client, auth):
    """ArcGIS Pro, Excel's web connector and older QGIS: HTTP Basic, any user name."""
    key = make_key(client, auth)["key"]
    without = client.get(OGC_ITEMS)
    assert without.status_code == 401 and without.headers["content-type"] == "application/problem+json"
    challenges = without.headers["www-authenticate"]
    assert challenges.startswith("Bearer, Basic realm=") and "reading key" in challenges
    assert "HTTP Basic" in without.json()["detail"]
    for headers in (basic("GIS-enheten", key), basic("", key), basic(key, "")):
        r = client.get(OGC_ITEMS, headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["type"] == "FeatureCollection"
    assert client.get("/api/v1/exports/reports.csv", headers=basic("x", key)).status_code == 200
    assert client.get("/tiles/hotspots/12/2254/1189.mvt", headers=basic("x", key)).status_code in (200, 204)

    login = client.get(OGC_ITEMS, headers=basic("gis", "demo"))  # an account's password is not a key
    assert login.status_code == 401 and "reading key" in login.json()["detail"]
    garbled = client.get(OGC_ITEMS, headers={"Authorization": "Basic not-base64!"})
    assert garbled.status_code == 401 and "base64" in garbled.json()["detail"]
    integration = client.get(OGC_ITEMS, headers=basic("x", DEMO_API_KEY))
    assert integration.status_code == 403 and "may submit reports but not read them" in integration.json()["detail"]
    assert client.get("/api/v1/reports", headers=basic("x", key)).status_code == 401  # keys only read GIS routes
    # Behind a proxy with its own Basic login, which passes its header on, X-API-Key still counts.
    proxied = {**basic("staging", "proxy-password"), "X-API-Key": key}
    assert client.get(OGC_ITEMS, headers=proxied).status_code == 200
    assert client.get("/tiles/hotspots/12/2254/1189.mvt", headers=proxied).status_code in (200, 204)


def test_refusals_say_what_to_do_and_offer_basic_only_to_programs(client, auth):
    integration = client.get("/api/v1/integrations", headers=auth("coordinator")).json()[0]
    pushing = client.post(f"/api/v1/integrations/{integration['id']}/keys", headers=auth("coordinator"),
                          json={"label": "test"}).json()["key"]
    made = make_key(client, auth)
    client.delete(f"/api/v1/reading-keys/{made['id']}", headers=auth("gis"))
    for path in (OGC_ITEMS, "/tiles/hotspots/12/2254/1189.mvt"):
        revoked = client.get(path, headers=basic("x", made["key"]))  # Excel, to ask for the new key
        assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]
        assert "Basic realm=" in revoked.headers["www-authenticate"]
        empty = client.get(path, headers={"Authorization": "Bearer "})  # a web app's empty token: no login box
        assert empty.status_code == 401 and empty.headers["www-authenticate"] == "Bearer"
        expired = client.get(path, headers={"Authorization": "Bearer not.a.token"})
        assert expired.status_code == 401 and expired.headers["www-authenticate"] == "Bearer"
        token = auth("gis")["Authorization"].removeprefix("Bearer ")
        misplaced = client.get(path, headers={"X-API-Key": token})  # a login token in QGIS's key field
        assert misplaced.status_code == 401 and "looks like a login token" in misplaced.json()["detail"]
        pushed = client.get(path, headers={"Authorization": f"Bearer {pushing}"})
        assert pushed.status_code == 403 and "may submit reports but not read them" in pushed.json()["detail"]
    key = make_key(client, auth)["key"]
    elsewhere = client.get("/api/v1/reports", headers={"Authorization": f"Bearer {key}"})
    assert elsewhere.status_code == 401 and "works only on the read-only GIS routes" in elsewhere.json()["detail"]


def test_a_key_only_reads(client, auth):
    key = make_key(client, auth, user="coordinator")["key"]
    for headers in ({"X-API-Key": key}, {"Authorization": f"Bearer {key}"}):
        assert client.get("/api/v1/reports", headers=headers).status_code == 401
        assert client.post("/api/v1/reading-keys", headers=headers, json={"label": "x"}).status_code == 401


def test_a_revoked_key_is_refused_at_once_and_says_so(client, auth):
    made = make_key(client, auth)
    r = client.delete(f"/api/v1/reading-keys/{made['id']}", headers=auth("gis"))
    assert r.status_code == 200 and r.json()["revoked_at"] and not r.json()["active"]
    refused = client.get(OGC_ITEMS, headers={"X-API-Key": made["key"]})
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    assert refused.headers["content-type"] == "application/problem+json"
    again = client.delete(f"/api/v1/reading-keys/{made['id']}", headers=auth("gis"))
    assert again.status_code == 409


def test_an_expired_key_is_refused(client, auth, db):
    made = make_key(client, auth, days=1)
    db.execute(update(ReadingKey).where(ReadingKey.id == made["id"]).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    refused = client.get(OGC_ITEMS, headers={"X-API-Key": made["key"]})
    assert refused.status_code == 401 and "expired" in refused.json()["detail"]


def test_the_key_has_its_users_current_role_and_dies_with_the_account(client, auth, db):
    key = make_key(client, auth)["key"]
    db.execute(update(User).where(User.username == "gis").values(role="reporter"))
    assert client.get(OGC_ITEMS, headers={"X-API-Key": key}).status_code == 403
    db.execute(update(User).where(User.username == "gis").values(role="gis_reader", active=False))
    off = client.get(OGC_ITEMS, headers={"X-API-Key": key})
    assert off.status_code == 401 and "token or key no longer exists or is deactivated" in off.json()["detail"]


def test_who_may_make_list_and_revoke(client, auth):
    assert client.post("/api/v1/reading-keys", headers=auth("reporter"), json={"label": "x"}).status_code == 403
    assert client.post("/api/v1/reading-keys", json={"label": "x"}).status_code == 401
    bad = client.post("/api/v1/reading-keys", headers=auth("gis"), json={"label": "", "days": 5000})
    assert bad.status_code == 422 and {e["field"] for e in bad.json()["errors"]} >= {"label", "days"}
    gis_key = make_key(client, auth)
    est_key = make_key(client, auth, user="est")
    # Others' keys are not yours to see or revoke...
    assert [k["id"] for k in client.get("/api/v1/reading-keys", headers=auth("est")).json()] == [est_key["id"]]
    assert client.delete(f"/api/v1/reading-keys/{gis_key['id']}", headers=auth("est")).status_code == 404
    assert client.get("/api/v1/reading-keys", headers=auth("est"), params={"all": "true"}).status_code == 403
    # ...but the coordinator sees every key of the municipality, and can revoke one.
    everyone = client.get("/api/v1/reading-keys", headers=auth("coordinator"), params={"all": "true"}).json()
    assert {(k["user"], k["id"]) for k in everyone} >= {("gis", gis_key["id"]), ("est", est_key["id"])}
    assert client.delete(f"/api/v1/reading-keys/{gis_key['id']}", headers=auth("coordinator")).status_code == 200
    assert client.get(OGC_ITEMS, headers={"X-API-Key": gis_key["key"]}).status_code == 401
    assert client.get(OGC_ITEMS, headers={"X-API-Key": est_key["key"]}).status_code == 200


def test_hotspot_tiles_take_a_key_and_stop_when_it_is_revoked(client, auth, monkeypatch):
    from app.auth import deps
    monkeypatch.setattr(deps, "principal_cache", TtlCache(size=8))  # this test's own cache
    made = make_key(client, auth)
    path = "/tiles/hotspots/10/560/296.mvt"
    assert client.get(path, headers={"X-API-Key": made["key"]}).status_code in (200, 204)
    client.delete(f"/api/v1/reading-keys/{made['id']}", headers=auth("gis"))
    deps.principal_cache.clear()  # as when the cache time (5 s) has passed
    assert client.get(path, headers={"X-API-Key": made["key"]}).status_code == 401


def test_an_old_signed_reading_key_is_refused_with_what_to_do(client, db):
    import jwt

    from app.config import get_settings
    gis_id = db.scalar(select(User.id).where(User.username == "gis"))
    now = dt.datetime.now(dt.UTC)
    old = jwt.encode({"sub": str(gis_id), "typ": "api_key", "iat": now, "exp": now + dt.timedelta(days=1)},
                     get_settings().secret_key, algorithm="HS256")
    for path in (OGC_ITEMS, "/tiles/hotspots/10/560/296.mvt"):
        for headers in ({"Authorization": f"Bearer {old}"}, {"X-API-Key": old}):  # QGIS sent them as X-API-Key
            refused = client.get(path, headers=headers)
            assert refused.status_code == 401 and "POST /api/v1/reading-keys" in refused.json()["detail"], headers


def test_a_label_with_a_nul_names_the_field(client, auth):
    r = client.post("/api/v1/reading-keys", headers=auth("gis"), json={"label": "QGIS\u0000", "days": 30})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0]["field"] == "label" and "NUL" in r.json()["detail"]


def test_a_new_password_revokes_the_users_reading_keys(client, auth, db):
    """A stolen login token could have made a 730-day key: setting the password anew (the
    operator's --reset-password) revokes the user's keys too, and the 401 says when."""
    stolen, second = make_key(client, auth, days=730), make_key(client, auth, days=30)
    others = make_key(client, auth, user="est")
    assert client.get(OGC_ITEMS, headers={"X-API-Key": stolen["key"]}).status_code == 200
    user, revoked = set_password(db, username="gis", password="ett nytt lösenord")
    assert user.username == "gis" and revoked == 2
    db.commit()  # as the operator's command does (a refused request below rolls back what is not committed)
    for key in (stolen, second):
        refused = client.get(OGC_ITEMS, headers={"X-API-Key": key["key"]})
        assert refused.status_code == 401 and "The reading key was revoked at 20" in refused.json()["detail"]
    listed = {k["id"]: k for k in client.get("/api/v1/reading-keys", headers=auth("gis")).json()}
    assert listed[stolen["id"]]["revoked_at"] is not None and not listed[stolen["id"]]["active"]
    assert client.get(OGC_ITEMS, headers={"X-API-Key": others["key"]}).status_code == 200  # est's key stays
    assert set_password(db, username="gis", password="ännu ett lösenord")[1] == 0  # revoked ones count once
