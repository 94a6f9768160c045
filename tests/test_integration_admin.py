"""The coordinator runs the integrations: rotates keys (shown once, stored hashed), sees when a
key was last used, and maps the rescue service's own event types to our categories."""
import pytest
from sqlalchemy import select

from app.integrations.models import ApiKey
from app.integrations.service import key_digest
from tests.feeds import URL, event, post_events, results_by_id

BASE = "/api/v1/integrations"


def rescue(client, auth) -> dict:
    r = client.get(BASE, headers=auth("coordinator"))
    assert r.status_code == 200, r.text
    (integration,) = [i for i in r.json() if i["name"] == "raddningstjanst"]
    return integration


def test_the_coordinator_sees_the_integrations_without_secrets(client, auth):
    integration = rescue(client, auth)
    assert integration["source"] == "integration:raddningstjanst"
    assert integration["organisation"] == "Räddningstjänsten (demo)" and integration["initial_status"] == "verified"
    assert integration["event_types_mapped"] >= 10
    (key,) = integration["keys"]
    assert key["prefix"] == "demo-res" and key["active"] is True and key["label"] == "demo"
    assert "key" not in key and "key_sha256" not in key


def test_key_rotation_new_key_shown_once_old_key_revoked(client, auth, db):
    integration = rescue(client, auth)
    old_key_id = integration["keys"][0]["id"]
    r = client.post(f"{BASE}/{integration['id']}/keys", headers=auth("coordinator"), json={"label": "produktion 2027"})
    assert r.status_code == 201, r.text
    new = r.json()
    secret = new["key"]
    assert secret.startswith("lgb_") and len(secret) > 40 and new["prefix"] == secret[:8]
    stored = db.scalar(select(ApiKey).where(ApiKey.id == new["id"]))
    assert stored.key_sha256 == key_digest(secret) and secret not in stored.key_sha256
    listed = {k["id"]: k for k in client.get(f"{BASE}/{integration['id']}/keys", headers=auth("coordinator")).json()}
    assert listed[new["id"]]["last_used_at"] is None and "key" not in listed[new["id"]]

    # The system switches to the new key: it works, and its use is recorded.
    created = post_events(client, [event("ROT-1")], headers={"X-API-Key": secret})
    assert results_by_id(created)["ROT-1"]["status"] == "created"
    listed = {k["id"]: k for k in client.get(f"{BASE}/{integration['id']}/keys", headers=auth("coordinator")).json()}
    assert listed[new["id"]]["last_used_at"] is not None

    # Then the old key is revoked: it stops working at once.
    revoked = client.delete(f"{BASE}/{integration['id']}/keys/{old_key_id}", headers=auth("coordinator"))
    assert revoked.status_code == 200 and revoked.json()["active"] is False and revoked.json()["revoked_at"]
    refused = post_events(client, [event("ROT-2")])
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    again = client.delete(f"{BASE}/{integration['id']}/keys/{old_key_id}", headers=auth("coordinator"))
    assert again.status_code == 409
    assert post_events(client, [event("ROT-2")], headers={"X-API-Key": secret}).status_code == 200


def test_a_new_mapping_or_a_corrected_category_survives_replays_until_the_type_changes(client, auth):
    """The category is ours: a replay after the coordinator re-mapped a type, or corrected one
    report's category, is unchanged and keeps the stored category; when the rescue service
    changes the event's type, the mapping of the new type applies."""
    url = f"{BASE}/{rescue(client, auth)['id']}/event-types"
    batch = [event("KEEP-1"), event("KEEP-2")]  # Brand i container -> brand_container
    first = results_by_id(post_events(client, batch))
    ids = {k: v["id"] for k, v in first.items()}

    def category(name: str) -> str:
        return client.get(f"/api/v1/reports/{ids[name]}", headers=auth("est")).json()["properties"]["category"]

    mapping = client.get(url, headers=auth("coordinator")).json()
    remapped = [{"event_type": m["event_type"], "category": "brand_mark" if m["event_type"] == "Brand i container"
                 else m["category"]} for m in mapping]
    assert client.put(url, headers=auth("coordinator"), json=remapped).status_code == 200
    fixed = client.patch(f"/api/v1/reports/{ids['KEEP-2']}", headers=auth("coordinator"),
                         json={"category": "brand_byggnad"})
    assert fixed.status_code == 200, fixed.text
    replay = results_by_id(post_events(client, batch))
    assert {k: v["status"] for k, v in replay.items()} == {"KEEP-1": "unchanged", "KEEP-2": "unchanged"}
    assert (category("KEEP-1"), category("KEEP-2")) == ("brand_container", "brand_byggnad")
    # A later description: updated, and still the corrected category.
    later = results_by_id(post_events(client, [event("KEEP-2", description="Släckt")]))
    assert later["KEEP-2"]["status"] == "updated" and category("KEEP-2") == "brand_byggnad"
    history = client.get(f"/api/v1/reports/{ids['KEEP-2']}/history", headers=auth("coordinator")).json()
    assert "category_id" not in history[-1]["changes"] and history[-1]["changes"]["description"] is True
    # The same type spelled otherwise ('BRAND I CONTAINER', 'Brand i container ') is the same type.
    for spelling in ("BRAND I CONTAINER", "brand  i container"):
        respelled = results_by_id(post_events(client, [event("KEEP-2", event_type=spelling, description="Släckt")]))
        assert respelled["KEEP-2"]["status"] == "updated" and category("KEEP-2") == "brand_byggnad"
    # The rescue service reclassifies: the new type's mapping applies.
    typed = results_by_id(post_events(client, [event("KEEP-1", event_type="Brand i fordon")]))
    assert typed["KEEP-1"]["status"] == "updated" and category("KEEP-1") == "brand_fordon"


def test_the_event_type_mapping_is_configurable(client, auth):
    integration = rescue(client, auth)
    url = f"{BASE}/{integration['id']}/event-types"
    demo = client.get(url, headers=auth("coordinator")).json()
    assert {"event_type": "Brand i container", "category": "brand_container",
            "category_label": "Brand i container/papperskorg"} in demo
    assert {m["event_type"] for m in demo} >= {"Brand i fordon", "Brand i byggnad", "Brand i skog/mark",
                                               "Brand i papperskorg", "Brand ute – övrigt"}
    r = client.put(url, headers=auth("coordinator"), json=[{"event_type": "Brand i båt", "category": "brand_fordon"},
                                                           {"event_type": "Brand ute – övrigt", "category": "brand_mark"}])
    assert r.status_code == 200, r.text
    assert [m["event_type"] for m in r.json()] == ["Brand i båt", "Brand ute – övrigt"]
    results = results_by_id(post_events(client, [event("MAP-1", event_type="BRAND I BÅT"),
                                                 event("MAP-2", event_type="brand ute - Övrigt"),
                                                 event("MAP-3", event_type="Brand i container")]))
    assert results["MAP-1"]["status"] == "created" and results["MAP-2"]["status"] == "created"
    assert results["MAP-3"]["status"] == "rejected" and "not mapped" in results["MAP-3"]["reason"]
    props = client.get(f"/api/v1/reports/{results['MAP-1']['id']}", headers=auth("est")).json()["properties"]
    assert props["category"] == "brand_fordon" and props["event_type"] == "BRAND I BÅT"


@pytest.mark.parametrize("mapping,needle", [
    ([{"event_type": "Brand i båt", "category": "nope"}], "unknown category 'nope'"),
    ([{"event_type": "Brand ute – övrigt", "category": "brand_mark"},
      {"event_type": "brand ute-övrigt", "category": "brand_container"}], "is the same type as"),
    # 10 characters, 180 once NFKC-normalised (U+FDFA is a ligature of 18 letters)
    ([{"event_type": "\ufdfa" * 10, "category": "brand_mark"}], "0.event_type: longer than 100 characters once"),
])
def test_a_bad_mapping_changes_nothing(client, auth, mapping, needle):
    integration = rescue(client, auth)
    url = f"{BASE}/{integration['id']}/event-types"
    before = client.get(url, headers=auth("coordinator")).json()
    r = client.put(url, headers=auth("coordinator"), json=mapping)
    assert r.status_code == 422 and needle in r.json()["detail"]
    assert client.get(url, headers=auth("coordinator")).json() == before


def test_events_can_arrive_for_checking_first(client, auth):
    integration = rescue(client, auth)
    r = client.patch(f"{BASE}/{integration['id']}", headers=auth("coordinator"), json={"initial_status": "new"})
    assert r.status_code == 200 and r.json()["initial_status"] == "new"
    created = results_by_id(post_events(client, [event("NEW-1")]))["NEW-1"]
    props = client.get(f"/api/v1/reports/{created['id']}", headers=auth("est")).json()["properties"]
    assert props["status"] == "new"
    # what a source's events count as changes the situation picture: who did it is in the audit log
    client.put(f"{BASE}/{integration['id']}/event-types", headers=auth("coordinator"),
               json=[{"event_type": "Brand i båt", "category": "brand_fordon"}])
    log = client.get("/api/v1/audit?entity=integration", headers=auth("coordinator")).json()["items"]
    assert [(e["user"], e["entity_id"]) for e in log] == [("coordinator", integration["id"])] * 2
    assert log[1]["changes"] == {"initial_status": ["verified", "new"]}
    before, after = log[0]["changes"]["event_types"]
    assert before["Brand i container"] == "brand_container" and after == {"Brand i båt": "brand_fordon"}


def test_a_switched_off_integration_is_refused(client, auth):
    integration = rescue(client, auth)
    client.patch(f"{BASE}/{integration['id']}", headers=auth("coordinator"), json={"active": False})
    off = post_events(client, [event("OFF-1")])
    assert off.status_code == 401 and "'raddningstjanst' is switched off" in off.json()["detail"]


@pytest.mark.parametrize("who", ["est", "reporter", "gis"])
def test_only_the_coordinator_manages_integrations(client, auth, who):
    integration_id = rescue(client, auth)["id"]
    calls = [("get", BASE, None), ("get", f"{BASE}/{integration_id}/keys", None),
             ("post", f"{BASE}/{integration_id}/keys", {"label": "x"}),
             ("delete", f"{BASE}/{integration_id}/keys/1", None),
             ("get", f"{BASE}/{integration_id}/event-types", None),
             ("put", f"{BASE}/{integration_id}/event-types", []),
             ("patch", f"{BASE}/{integration_id}", {"initial_status": "new"})]
    for method, url, body in calls:
        kwargs = {"json": body} if body is not None else {}
        r = client.request(method.upper(), url, headers=auth(who), **kwargs)
        assert r.status_code == 403, (method, url, r.text)
        assert "manage integrations" in r.json()["detail"]


def test_an_unknown_integration_is_404(client, auth):
    r = client.get(f"{BASE}/999999/keys", headers=auth("coordinator"))
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"


def test_the_feed_route_is_not_for_bearer_tokens(client, auth):
    r = client.post(URL, headers=auth("coordinator"), json={"type": "FeatureCollection", "features": []})
    assert r.status_code == 401 and "X-API-Key" in r.json()["detail"]
