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


def test_the_coordinator_takes_personal_data_out_of_a_report(client, auth, db):
    """A guard confirmed a personnummer and a phone number into a report ("skicka ändå"). The
    coordinator rewrites description and place: the report shows the new text, its history says
    that they changed but keeps no copy, and a retry of the guard's Idempotency-Key gets the
    report as it is now — no stored copy of the old text anywhere."""
    from sqlalchemy import text

    key = str(uuid.uuid4())
    sent = client.post("/api/v1/reports", headers={**auth("reporter"), "Idempotency-Key": key}, json={
        "category": "klotter", **SQUARE, "description": "Kalle 811218-9876 sprejade, ring 070-123 45 67",
        "place": "Storgatan 12 lgh 1101, hos 811218-9876", "confirm_personal_data": True})
    assert sent.status_code == 201, sent.text
    rid = sent.json()["id"]
    for who in ("reporter", "est", "gis"):
        assert client.patch(f"/api/v1/reports/{rid}", headers=auth(who), json={"description": "x"}).status_code == 403
    r = client.patch(f"/api/v1/reports/{rid}", headers=auth("coordinator"),
                     json={"description": "En person sprejade", "place": "Storgatan"})
    assert r.status_code == 200, r.text
    assert (r.json()["properties"]["description"], r.json()["properties"]["place"]) == ("En person sprejade", "Storgatan")
    shown = client.get(f"/api/v1/reports/{rid}", headers=auth("est")).json()["properties"]
    assert (shown["description"], shown["place"]) == ("En person sprejade", "Storgatan")
    history = client.get(f"/api/v1/reports/{rid}/history", headers=auth("coordinator")).json()
    assert history[-1]["changes"] == {"description": True, "place": True}
    again = client.post("/api/v1/reports", headers={**auth("reporter"), "Idempotency-Key": key}, json={
        "category": "klotter", **SQUARE, "description": "Kalle 811218-9876 sprejade, ring 070-123 45 67",
        "place": "Storgatan 12 lgh 1101, hos 811218-9876", "confirm_personal_data": True})
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == rid and again.json()["properties"]["description"] == "En person sprejade"
    assert again.json()["properties"]["mine"] is True
    kept = db.execute(text("SELECT response::text FROM idempotency_record WHERE key = :k"), {"k": key}).scalar_one()
    events = db.execute(text("SELECT string_agg(changes::text, ' ') FROM report_event WHERE report_id = :r"),
                        {"r": rid}).scalar_one()
    assert "811218" not in kept + events and "070-123" not in kept + events
    # place can be emptied; an unchanged text is no change
    r = client.patch(f"/api/v1/reports/{rid}", headers=auth("coordinator"),
                     json={"description": "En person sprejade", "place": ""})
    assert r.json()["properties"]["place"] is None
    assert client.get(f"/api/v1/reports/{rid}/history", headers=auth("coordinator")).json()[-1]["changes"] == \
        {"place": True}
