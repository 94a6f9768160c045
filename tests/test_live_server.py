"""The real stack: uvicorn over TCP, real commits, concurrent retries of one report."""
import concurrent.futures
import datetime as dt
import os
import socket
import time
import uuid

import httpx
import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import delete, func, select, text

from app.actions.models import AuditEntry, Meeting
from app.manage import ROOT
from app.reports.models import IdempotencyRecord, Report
from tests.feeds import KEY as FEED_KEY, URL as FEED_URL, event
from tests.helpers import SQUARE
from tests.live import ROOT, free_port, start_server


@pytest.fixture(scope="module")
def server(engine):
    """uvicorn on the suite's own database (not the live_server one): rows are cleaned up per test."""
    port = free_port()
    proc = start_server({**os.environ, "LAGESBILD_ENV": "test"}, port)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def cleanup(engine):
    made: list[str] = []
    yield made
    with engine.begin() as conn:
        conn.execute(delete(Report).where(Report.id.in_([uuid.UUID(m) for m in made])))
        conn.execute(delete(IdempotencyRecord).where(IdempotencyRecord.scope.like("user:%"),
                                                     IdempotencyRecord.key.like("live-%")))


def _token(base, username):
    r = httpx.post(f"{base}/api/v1/auth/token", data={"username": username, "password": "demo"})
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_concurrent_retries_store_one_report(server, engine, cleanup):
    headers = {**_token(server, "reporter"), "Idempotency-Key": f"live-{uuid.uuid4()}"}
    body = {"category": "overgivet_fordon", **SQUARE, "description": "samtidiga försök"}

    def post(_):
        return httpx.post(f"{server}/api/v1/reports", json=body, headers=headers, timeout=10)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(post, range(8)))
    ids = {r.json()["id"] for r in responses}
    cleanup.extend(ids)
    assert [r.status_code for r in responses] == [201] * 8
    assert len(ids) == 1
    with engine.connect() as conn:
        n = conn.scalar(select(func.count()).select_from(Report).where(Report.id == uuid.UUID(ids.pop())))
    assert n == 1


def test_acknowledged_report_is_committed_before_the_response(server, engine, cleanup):
    headers = _token(server, "reporter")
    for _ in range(20):
        r = httpx.post(f"{server}/api/v1/reports", json={"category": "overgivet_fordon", **SQUARE}, headers=headers)
        assert r.status_code == 201
        cleanup.append(r.json()["id"])
        # A fresh connection sees the row the moment the 201 arrived.
        with engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(Report)
                               .where(Report.id == uuid.UUID(r.json()["id"]))) == 1


def _at_once(n, call):
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda _: call(), range(n)))


def test_a_double_clicked_meeting_is_one_201_and_409s_not_500s(server, engine):
    headers = _token(server, "est")
    oldest = httpx.get(f"{server}/api/v1/cycles?n=26", headers=headers).json()["cycles"][-1]["id"]
    try:
        responses = _at_once(6, lambda: httpx.post(f"{server}/api/v1/meetings", headers=headers, timeout=30,
                                                   json={"cycle": oldest, "held_on": oldest}))
        assert sorted(r.status_code for r in responses) == [201] + [409] * 5, [r.text for r in responses]
        assert all("already has a meeting" in r.json()["detail"] for r in responses if r.status_code == 409)
    finally:
        with engine.begin() as conn:
            ids = conn.scalars(delete(Meeting).where(Meeting.cycle == dt.date.fromisoformat(oldest))
                               .returning(Meeting.id)).all()
            conn.execute(delete(AuditEntry).where(AuditEntry.entity == "meeting", AuditEntry.entity_id.in_(ids)))


def test_event_type_mappings_replaced_at_once_all_succeed(server):
    headers = _token(server, "coordinator")
    (integration,) = [i for i in httpx.get(f"{server}/api/v1/integrations", headers=headers).json()
                      if i["name"] == "raddningstjanst"]
    url = f"{server}/api/v1/integrations/{integration['id']}/event-types"
    mapping = [{"event_type": m["event_type"], "category": m["category"]} for m in httpx.get(url, headers=headers).json()]
    responses = _at_once(6, lambda: httpx.put(url, json=mapping, headers=headers, timeout=30))
    assert [r.status_code for r in responses] == [200] * 6, [r.text for r in responses]
    assert sorted(m["event_type"] for m in httpx.get(url, headers=headers).json()) == \
        sorted(m["event_type"] for m in mapping)


def test_real_http_errors_are_problem_json(server):
    headers = _token(server, "reporter")
    r = httpx.post(f"{server}/api/v1/reports", content=b"{not json", headers={**headers, "Content-Type": "application/json"})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    big = httpx.post(f"{server}/api/v1/reports", content=b"x" * 200_000,
                     headers={**headers, "Content-Type": "application/json"})
    assert big.status_code == 413 and "limit" in big.json()["detail"]


@pytest.mark.parametrize("key", [None, "guess"])
def test_the_feed_answers_a_missing_or_wrong_key_before_reading_the_body(server, key):
    """Nobody without a key makes the server hold a 30 MB body: the 401 comes while the client has
    sent 1 kB of it (the server would otherwise wait for the rest)."""
    host, port = server.removeprefix("http://").split(":")
    head = (f"POST {FEED_URL} HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/csv\r\n"
            f"Content-Length: {30 * 1024 * 1024}\r\n" + (f"X-API-Key: {key}\r\n" if key else "") + "\r\n")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode() + b"x" * 1024)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            assert chunk, "the server closed the connection without an answer"
            answer += chunk
    status_line, *header_lines = answer.split(b"\r\n\r\n")[0].decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    assert status_line.split()[1] == "401"
    assert headers["www-authenticate"].startswith("ApiKey ") and 'header="X-API-Key"' in headers["www-authenticate"]


def test_database_has_postgis_and_migrations_at_head(engine):
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT extname FROM pg_extension WHERE extname = 'postgis'")) == "postgis"
        head = ScriptDirectory.from_config(Config(str(ROOT / "alembic.ini"))).get_current_head()
        assert conn.scalar(text("SELECT version_num FROM alembic_version")) == head


def _push(base: str, external_id: str, **props) -> dict:
    """One rescue-service event, pushed over HTTP; its result."""
    feature = event(external_id, **props)
    r = httpx.post(f"{base}{FEED_URL}", json={"type": "FeatureCollection", "features": [feature]}, headers=FEED_KEY,
                   timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["results"][0]


def _when_waiting_for_a_lock(engine, call, statement_part: str = "feed_event"):
    """Run ``call`` in a thread; return its future once its database session waits for a row
    lock in a statement containing ``statement_part``."""
    pool = concurrent.futures.ThreadPoolExecutor(1)
    future = pool.submit(call)
    deadline = time.monotonic() + 20
    with engine.connect() as conn:
        while not conn.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                   "AND query LIKE :part"), {"part": f"%{statement_part}%"}):
            assert time.monotonic() < deadline and not future.done(), "the request never waited for the row"
            conn.rollback()  # pg_stat_activity is read once per transaction
            time.sleep(0.05)
    pool.shutdown(wait=False)
    return future


def test_a_report_deleted_while_a_batch_waits_for_it_gets_no_history_and_its_event_is_rejected(server, engine):
    external_id = f"LIVE-GONE-{uuid.uuid4().hex[:8]}"
    report_id = _push(server, external_id, description="Container")["id"]
    try:
        with engine.connect() as other:
            other.execute(text("DELETE FROM report WHERE id = :i"), {"i": report_id})  # uncommitted: holds the row
            changed = _when_waiting_for_a_lock(engine, lambda: _push(server, external_id, description="Släckt"))
            other.commit()
        result = changed.result(timeout=30)
        assert result["status"] == "rejected" and "deleted" in result["reason"] and "send it again" in result["reason"]
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT count(*) FROM report_event WHERE report_id = :i"), {"i": report_id}) == 0
        assert _push(server, external_id, description="Släckt")["status"] == "created"
    finally:
        with engine.begin() as conn:  # other tests count reports: leave none behind, passed or failed
            conn.execute(text("DELETE FROM report_event WHERE report_id = :i"), {"i": report_id})
            conn.execute(text("DELETE FROM report WHERE external_id = :e"), {"e": external_id})


def test_a_category_changed_and_deleted_while_a_batch_waits_is_never_written_back(server, engine):
    """A coordinator moves the report out of a category and deletes that category while the feed
    updates the same event: the report keeps the coordinator's category (the feed does not write
    back the one it read before it waited)."""
    external_id = f"LIVE-CAT-{uuid.uuid4().hex[:8]}"
    report_id = _push(server, external_id, description="Container")["id"]
    with engine.begin() as conn:
        municipality_id, container = conn.execute(text(
            "SELECT municipality_id, category_id FROM report WHERE id = :i"), {"i": report_id}).one()
        scratch = conn.scalar(text(
            "INSERT INTO category (municipality_id, code, label_sv, label_en, group_code, colour, icon) "
            "VALUES (:m, :code, 'Tillfällig', 'Temporary', 'brand', '#000000', 'x') RETURNING id"),
            {"m": municipality_id, "code": f"tmp_{uuid.uuid4().hex[:8]}"})
        conn.execute(text("UPDATE report SET category_id = :c WHERE id = :i"), {"c": scratch, "i": report_id})
    try:
        with engine.connect() as other:
            other.execute(text("UPDATE report SET category_id = :c WHERE id = :i"), {"c": container, "i": report_id})
            other.execute(text("DELETE FROM category WHERE id = :c"), {"c": scratch})
            changed = _when_waiting_for_a_lock(engine, lambda: _push(server, external_id, description="Släckt"))
            other.commit()
        assert changed.result(timeout=30)["status"] == "updated"
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT category_id FROM report WHERE id = :i"), {"i": report_id}) == container
            assert conn.scalar(text("SELECT count(*) FROM report r LEFT JOIN category c ON c.id = r.category_id "
                                    "WHERE c.id IS NULL")) == 0
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM report WHERE id = :i"), {"i": report_id})
            conn.execute(text("DELETE FROM category WHERE id = :c"), {"c": scratch})


@pytest.mark.parametrize("meanwhile", ["UPDATE report SET status = 'rejected' WHERE id = :i",
                                       "DELETE FROM report WHERE id = :i"])
def test_a_call_out_rejected_or_deleted_while_a_guard_report_joins_it_takes_no_report(server, engine, meanwhile):
    """The guard's report stays counted on its own (not linked to a call-out that no longer
    counts), and never fails (a 500 before: the link's foreign key to a deleted call-out)."""
    external_id = f"LIVE-LINK-{uuid.uuid4().hex[:8]}"
    call_out = _push(server, external_id, at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30))["id"]
    posted = None
    try:
        with engine.connect() as other:
            other.execute(text(meanwhile), {"i": call_out})  # uncommitted: holds the call-out's row
            headers = _token(server, "reporter")
            posted = _when_waiting_for_a_lock(engine, lambda: httpx.post(
                f"{server}/api/v1/reports", headers=headers, timeout=30,
                json={"category": "brand_container", **SQUARE, "description": f"Brinner {external_id}"}), "unnest(")
            other.commit()
        r = posted.result(timeout=30)
        assert r.status_code == 201, r.text
        assert r.json()["properties"]["incident_of"] is None
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT incident_of FROM report WHERE id = :i"), {"i": r.json()["id"]}) is None
    finally:
        if posted is not None:  # the request finished, whatever happened, before its report is removed
            concurrent.futures.wait([posted], timeout=30)
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM report WHERE id = :i OR description = :d"),  # passed or failed
                         {"i": call_out, "d": f"Brinner {external_id}"})


def test_a_moderation_logs_as_old_what_it_replaced_even_when_the_feed_changed_it_meanwhile(server, engine):
    external_id = f"LIVE-MOD-{uuid.uuid4().hex[:8]}"
    report_id = _push(server, external_id)["id"]  # Brand i container -> brand_container
    try:
        with engine.connect() as other:  # the feed, or another coordinator, moving it to brand_fordon, uncommitted
            other.execute(text("UPDATE report SET category_id = (SELECT id FROM category WHERE code = 'brand_fordon' "
                               "AND municipality_id = report.municipality_id) WHERE id = :i"), {"i": report_id})
            headers = _token(server, "coordinator")
            patched = _when_waiting_for_a_lock(engine, lambda: httpx.patch(
                f"{server}/api/v1/reports/{report_id}", json={"category": "brand_byggnad"}, headers=headers,
                timeout=30), "FOR NO KEY UPDATE")
            other.commit()
        assert patched.result(timeout=30).status_code == 200
        history = httpx.get(f"{server}/api/v1/reports/{report_id}/history", headers=headers).json()
        assert [e["changes"]["category"] for e in history if e["action"] == "moderate"] == [
            ["brand_fordon", "brand_byggnad"]]
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM report WHERE id = :i"), {"i": report_id})


def test_a_resend_while_the_coordinator_rewrites_the_description_logs_no_description_change(server, engine):
    """The coordinator's rewrite commits while the feed's resend waits for the row: the text stays
    theirs, and the history does not claim the feed changed the description."""
    external_id = f"LIVE-GDPR-{uuid.uuid4().hex[:8]}"
    report_id = _push(server, external_id, description="Anna Andersson ringde")["id"]
    try:
        with engine.connect() as coordinator:
            coordinator.execute(text("UPDATE report SET description = 'Omskriven', description_edited = true "
                                     "WHERE id = :i"), {"i": report_id})
            resend = _when_waiting_for_a_lock(engine, lambda: _push(
                server, external_id, description="Anna Andersson ringde igen", at="2026-11-20T22:50:00+01:00"))
            coordinator.commit()
        assert resend.result(timeout=30)["status"] == "updated"  # its new time is applied
        with engine.connect() as conn:
            description = conn.scalar(text("SELECT description FROM report WHERE id = :i"), {"i": report_id})
            logged = conn.scalars(text("SELECT changes FROM report_event WHERE report_id = :i AND action = "
                                       "'feed_update'"), {"i": report_id}).all()
        assert description == "Omskriven"
        assert len(logged) == 1 and "description" not in logged[0] and "occurred_from" in logged[0]
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM report WHERE id = :i"), {"i": report_id})


def test_a_report_and_its_whole_incident_unlinked_at_once_are_logged_once(server, engine):
    """Two coordinators: one takes a guard's report out of an incident, the other unlinks the
    whole incident at the same moment. Every report leaves once, with one 'unlink' in its history."""
    from sqlalchemy.orm import Session

    from app.reports import incidents

    external_id = f"LIVE-UNL-{uuid.uuid4().hex[:8]}"
    call_out = uuid.UUID(_push(server, external_id, at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30))["id"])
    headers = _token(server, "reporter")
    guards = [uuid.UUID(httpx.post(f"{server}/api/v1/reports", headers=headers, timeout=30, json={
        "category": "brand_container", **SQUARE, "description": f"Brinner {external_id}"}).json()["id"])
        for _ in range(2)]
    try:
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT count(*) FROM report WHERE incident_of = :c"), {"c": call_out}) == 2
            user_id = conn.scalar(text("SELECT id FROM \"user\" WHERE username = 'coordinator'"))
        with Session(engine) as first, Session(engine) as second:
            incidents.unlink(first, report=first.get(Report, guards[0]), user_id=user_id)  # not committed yet
            pool = concurrent.futures.ThreadPoolExecutor(1)
            whole = pool.submit(lambda: (incidents.unlink(second, report=second.get(Report, call_out), user_id=user_id),
                                         second.commit()))
            time.sleep(0.5)  # the whole-incident unlink is waiting for the first (or, before the fix, went ahead)
            first.commit()
            whole.result(timeout=30)
            pool.shutdown()
        with engine.connect() as conn:
            unlinks = dict(conn.execute(text("SELECT report_id, count(*) FROM report_event WHERE action = 'unlink' "
                                             "AND report_id = ANY(:g) GROUP BY report_id"), {"g": guards}).all())
            members = conn.execute(text("SELECT changes FROM report_event WHERE action = 'unlink_members' "
                                        "AND report_id = :c ORDER BY id"), {"c": call_out}).scalars().all()
        assert unlinks == {guards[0]: 1, guards[1]: 1}
        assert [sorted(m["linked_reports"][0]) for m in members] == [sorted(map(str, guards)), [str(guards[1])]]
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM report WHERE id = :c OR description = :d"),
                         {"c": call_out, "d": f"Brinner {external_id}"})
