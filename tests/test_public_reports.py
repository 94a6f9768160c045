"""A citizen reports anonymously: no login, rate-limited, held as 'new' until verified."""
import uuid

from sqlalchemy import select

from app.config import get_settings
from app.reports.models import Report
from tests.feeds import event, post_events, results_by_id
from tests.helpers import SQUARE, report_count
from tests.test_incidents import FIRE_AT


def test_citizen_reports_without_login(client, db):
    r = client.post("/api/v1/public/reports", json={"category": "otrygg_plats", **SQUARE,
                                                     "description": "Trasig belysning i gångtunneln"})
    assert r.status_code == 201, r.text
    props = r.json()["properties"]
    assert props["status"] == "new" and props["mine"] is False and props["category"] == "otrygg_plats"
    row = db.get(Report, uuid.UUID(r.json()["id"]))
    assert row.reporter_id is None and row.status == "new" and row.source == "public"


def test_a_citizens_answer_does_not_tell_whether_the_rescue_service_was_called_out_nearby(client, auth, db):
    fire = results_by_id(post_events(client, [event("RTJ-P1", at=FIRE_AT)]))["RTJ-P1"]
    body = {"category": "brand_container", **SQUARE, "occurred_from": FIRE_AT.isoformat()}
    key = str(uuid.uuid4())
    first = client.post("/api/v1/public/reports", json=body, headers={"Idempotency-Key": key})
    again = client.post("/api/v1/public/reports", json=body, headers={"Idempotency-Key": key})
    for r in (first, again):
        assert r.status_code == 201, r.text
        assert fire["id"] not in r.text
        assert not {"incident_of", "linked_reports", "organisation", "organisation_kind", "source"} & set(
            r.json()["properties"])
    # It is linked all the same: the EST group sees one fire.
    linked = client.get(f"/api/v1/reports/{first.json()['id']}", headers=auth("coordinator")).json()["properties"]
    assert linked["incident_of"] == fire["id"] and linked["source"] == "public"


def test_citizen_report_with_kommunkod_and_idempotency(client, db):
    key = str(uuid.uuid4())
    body = {"category": "klotter", **SQUARE, "municipality": "0484"}
    a = client.post("/api/v1/public/reports", json=body, headers={"Idempotency-Key": key})
    n = report_count(db)
    b = client.post("/api/v1/public/reports", json=body, headers={"Idempotency-Key": key})
    assert a.json() == b.json() and report_count(db) == n
    unknown = client.post("/api/v1/public/reports", json={**body, "municipality": "9999"})
    assert unknown.status_code == 422 and "kommunkod 9999" in unknown.json()["detail"]


def test_public_reports_are_rate_limited_per_client(client, db):
    codes = [client.post("/api/v1/public/reports", json={"category": "klotter", **SQUARE}).status_code
             for _ in range(12)]
    assert codes[:10] == [201] * 10 and codes[10:] == [429, 429]
    last = client.post("/api/v1/public/reports", json={"category": "klotter", **SQUARE})
    assert last.headers["content-type"] == "application/problem+json"
    assert int(last.headers["retry-after"]) >= 1


def test_one_ipv6_customer_is_one_client_whichever_address_of_its_64_it_sends_from(client, db, monkeypatch):
    """Behind the municipality's proxy (X-Forwarded-For trusted): a phone picks any address of its /64."""
    monkeypatch.setattr(get_settings(), "trust_forwarded_for", True)

    def post(address: str) -> int:
        return client.post("/api/v1/public/reports", json={"category": "klotter", **SQUARE},
                           headers={"X-Forwarded-For": address}).status_code

    codes = [post(f"2001:db8:1:2::{i:x}") for i in range(1, 13)]
    assert codes[:10] == [201] * 10 and codes[10:] == [429, 429]
    assert post("2001:db8:1:3::1") == 201  # the neighbour's /64
    assert post("::ffff:192.0.2.7") == post("192.0.2.8") == 201


def test_public_categories_need_no_login(client):
    cats = client.get("/api/v1/public/categories").json()
    assert any(c["code"] == "klotter" for c in cats)


def test_public_reports_do_not_count_as_verified(client, auth, db):
    rid = client.post("/api/v1/public/reports", json={"category": "klotter", **SQUARE}).json()["id"]
    verified = db.scalars(select(Report.id).where(Report.status == "verified")).all()
    assert uuid.UUID(rid) not in verified
    r = client.patch(f"/api/v1/reports/{rid}", headers=auth("coordinator"), json={"status": "verified"})
    assert r.json()["properties"]["status"] == "verified"
