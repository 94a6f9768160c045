"""The coordinator moderates: verifies, fixes the category, marks duplicates; it is logged."""
import uuid

from sqlalchemy import select

from app.reports.models import Report, ReportEvent
from tests.helpers import SQUARE


def _new(client, auth, cat="klotter"):
    return client.post("/api/v1/reports", headers=auth("reporter"), json={"category": cat, **SQUARE}).json()["id"]


def test_coordinator_verifies_and_fixes_category(client, auth, db):
    rid = _new(client, auth)
    r = client.patch(f"/api/v1/reports/{rid}", headers=auth("coordinator"),
                     json={"status": "verified", "category": "skadegorelse", "moderation_note": "Kontrollerad"})
    assert r.status_code == 200, r.text
    props = r.json()["properties"]
    assert props["status"] == "verified" and props["category"] == "skadegorelse"
    event = db.scalar(select(ReportEvent).where(ReportEvent.report_id == uuid.UUID(rid)))
    assert event.action == "moderate" and event.changes["status"] == ["new", "verified"]
    assert event.user_id is not None


def test_only_the_coordinator_moderates(client, auth):
    rid = _new(client, auth)
    for who in ("reporter", "est", "gis"):
        r = client.patch(f"/api/v1/reports/{rid}", headers=auth(who), json={"status": "verified"})
        assert r.status_code == 403, who
        assert r.json()["title"] == "Forbidden"


def test_duplicate_needs_the_original(client, auth):
    a, b = _new(client, auth), _new(client, auth)
    r = client.patch(f"/api/v1/reports/{b}", headers=auth("coordinator"), json={"status": "duplicate"})
    assert r.status_code == 422 and "duplicate_of" in r.json()["detail"]
    ok = client.patch(f"/api/v1/reports/{b}", headers=auth("coordinator"),
                      json={"status": "duplicate", "duplicate_of": a})
    assert ok.status_code == 200 and ok.json()["properties"]["status"] == "duplicate"


def test_unknown_category_or_status_is_refused(client, auth):
    rid = _new(client, auth)
    r = client.patch(f"/api/v1/reports/{rid}", headers=auth("coordinator"), json={"category": "nope"})
    assert r.status_code == 422 and "Unknown category" in r.json()["detail"]
    r = client.patch(f"/api/v1/reports/{rid}", headers=auth("coordinator"), json={"status": "closed"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "status"


def test_no_longer_a_duplicate_forgets_the_original(client, auth, db):
    a, b = _new(client, auth), _new(client, auth)
    client.patch(f"/api/v1/reports/{b}", headers=auth("coordinator"), json={"status": "duplicate", "duplicate_of": a})
    orphan = client.patch(f"/api/v1/reports/{b}", headers=auth("coordinator"), json={"duplicate_of": None})
    assert orphan.status_code == 422
    ok = client.patch(f"/api/v1/reports/{b}", headers=auth("coordinator"), json={"status": "verified"})
    assert ok.status_code == 200 and ok.json()["properties"]["status"] == "verified"
    assert db.get(Report, uuid.UUID(b)).duplicate_of is None
