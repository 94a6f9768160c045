"""The EST meeting: one per cycle, its picture frozen at the start, decisions and follow-ups."""
from __future__ import annotations

import datetime as dt
from contextlib import contextmanager

from tests.factories import add_reports, cycle_back
from tests.helpers import SQUARE
from tests.test_est_loop_api import action_body, make_place

PROBLEM = "application/problem+json"


def test_the_frozen_picture_does_not_change_when_late_reports_arrive(client, auth, db):
    previous = cycle_back(db, 1)
    add_reports(db, **SQUARE, at=previous.start + dt.timedelta(days=2, hours=22), n=4)
    r = client.post("/api/v1/meetings", headers=auth("coordinator"), json={
        "cycle": "previous", "held_on": dt.date.today().isoformat(),
        "organisations": ["Eskilstuna kommun", "Polisen", "Kommunfastigheter"]})
    assert r.status_code == 201, r.text
    meeting = r.json()
    assert meeting["cycle"]["id"] == previous.id and meeting["frozen_layer"] is None
    started = client.post(f"/api/v1/meetings/{meeting['id']}/start", headers=auth("est"))
    assert started.status_code == 200, started.text
    frozen = started.json()
    assert frozen["frozen_layer"]["total"] == 4.0
    assert frozen["frozen_agenda"]["items"][0]["count"] == 4.0
    layer = {f["id"]: f["properties"] for f in frozen["frozen_layer"]["features"]}
    for item in frozen["frozen_agenda"]["items"]:  # one computation: the agenda says what the layer says
        assert (item["count"], item["rank"]) == (layer[item["h3"]]["count"], layer[item["h3"]]["rank"])

    add_reports(db, **SQUARE, at=previous.start + dt.timedelta(days=3, hours=1), n=3)  # reported late
    live = client.get(f"/api/v1/hotspots?cycle={previous.id}", headers=auth("est")).json()
    assert live["total"] == 7.0
    again = client.get(f"/api/v1/meetings/{meeting['id']}", headers=auth("gis")).json()
    assert again["frozen_layer"] == frozen["frozen_layer"]
    assert again["frozen_agenda"]["items"][0]["count"] == 4.0
    r = client.post(f"/api/v1/meetings/{meeting['id']}/start", headers=auth("est"))
    assert r.status_code == 409 and "frozen" in r.json()["detail"]


def test_decisions_and_reviewed_follow_ups_belong_to_the_meeting(client, auth, db):
    meeting = client.post("/api/v1/meetings", headers=auth("est"), json={
        "cycle": "current", "held_on": dt.date.today().isoformat(), "organisations": ["Polisen"]}).json()
    place = make_place(client, auth)
    start = cycle_back(db, 2).first_day.isoformat()
    action = client.post("/api/v1/actions", headers=auth("est"), json=action_body(
        place["id"], meeting_id=meeting["id"], start_date=start, due_date=start, status="done")).json()
    r = client.post(f"/api/v1/actions/{action['id']}/follow-ups", headers=auth("coordinator"),
                    json={"meeting_id": meeting["id"]})
    assert r.status_code == 201, r.text
    client.patch(f"/api/v1/meetings/{meeting['id']}", headers=auth("est"), json={"minutes": "Beslut: klotter bort."})
    got = client.get(f"/api/v1/meetings/{meeting['id']}?picture=false", headers=auth("est")).json()
    assert [a["id"] for a in got["decisions"]] == [action["id"]]
    assert [f["action_id"] for f in got["follow_ups"]] == [action["id"]]
    assert got["minutes"] == "Beslut: klotter bort." and "frozen_layer" not in got
    log = client.get("/api/v1/audit?entity=meeting", headers=auth("coordinator")).json()["items"]
    assert log[0]["changes"] == {"minutes": True}  # that they changed; the text stays in the meeting


def test_a_meeting_for_a_cycle_that_has_not_begun_is_refused(client, auth, db):
    nxt = cycle_back(db, -1).first_day.isoformat()
    r = client.post("/api/v1/meetings", headers=auth("est"), json={"cycle": nxt, "held_on": nxt})
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    assert "has not started yet" in r.json()["detail"]
    r = client.post("/api/v1/meetings", headers=auth("est"), json={"cycle": "2026-11-03", "held_on": "2026-11-04"})
    assert r.status_code == 422 and "No cycle starts on" in r.json()["detail"]
    first = client.post("/api/v1/meetings", headers=auth("est"), json={"cycle": "previous", "held_on": "2026-11-04"})
    assert first.status_code == 201
    dup = client.post("/api/v1/meetings", headers=auth("est"), json={"cycle": "previous", "held_on": "2026-11-04"})
    assert dup.status_code == 409
    assert client.post("/api/v1/meetings", headers=auth("gis"),
                       json={"cycle": "previous", "held_on": "2026-11-04"}).status_code == 403


def test_minutes_saved_on_an_earlier_version_are_refused_not_lost(client, auth, db):
    """Two people write the minutes: the second save, made on what was read before the first,
    is refused (412) instead of silently overwriting it; with the new ETag it goes through."""
    created = client.post("/api/v1/meetings", headers=auth("est"), json={
        "cycle": "previous", "held_on": dt.date.today().isoformat(), "organisations": ["Polisen"]})
    meeting_id, read = created.json()["id"], created.headers["etag"]
    assert read == f'"{created.json()["version"]}"'
    got = client.get(f"/api/v1/meetings/{meeting_id}?picture=false", headers=auth("gis"))
    assert got.headers["etag"] == read
    first = client.patch(f"/api/v1/meetings/{meeting_id}", headers={**auth("est"), "If-Match": read},
                         json={"minutes": "1. Klotter vid stationen: sanering inom 24 h."})
    assert first.status_code == 200, first.text
    assert first.headers["etag"] != read and first.json()["version"] == first.headers["etag"].strip('"')

    second = client.patch(f"/api/v1/meetings/{meeting_id}", headers={**auth("coordinator"), "If-Match": read},
                          json={"minutes": "1. Belysning i parken."})
    assert second.status_code == 412 and second.headers["content-type"] == PROBLEM
    assert "changed by someone else" in second.json()["detail"] and first.headers["etag"] in second.json()["detail"]
    assert client.get(f"/api/v1/meetings/{meeting_id}", headers=auth("est")).json()["minutes"] == \
        "1. Klotter vid stationen: sanering inom 24 h."

    merged = "1. Klotter vid stationen: sanering inom 24 h.\n2. Belysning i parken."
    third = client.patch(f"/api/v1/meetings/{meeting_id}",
                         headers={**auth("coordinator"), "If-Match": f'W/"x", {first.headers["etag"]}'},
                         json={"minutes": merged})
    assert third.status_code == 200 and third.json()["minutes"] == merged
    # without If-Match (an API client that does not ask): saved, as before
    plain = client.patch(f"/api/v1/meetings/{meeting_id}", headers=auth("est"),
                         json={"organisations": ["Polisen", "Vfaktum"]})
    assert plain.status_code == 200 and plain.json()["minutes"] == merged
    assert client.patch(f"/api/v1/meetings/{meeting_id}", headers={**auth("est"), "If-Match": "*"},
                        json={"minutes": "x"}).status_code == 200


def test_reporters_get_aggregate_feedback_without_other_reporters_data(client, auth, db):
    from sqlalchemy import select

    from app.auth.models import User

    me = db.scalar(select(User).where(User.username == "reporter"))
    current = cycle_back(db, 0)
    mine = add_reports(db, **SQUARE, at=current.start + dt.timedelta(hours=10), n=2)
    for report in mine:
        report.reporter_id = me.id
    add_reports(db, **SQUARE, at=current.start + dt.timedelta(hours=11), n=5)  # someone else's
    db.flush()
    place = make_place(client, auth)
    client.post("/api/v1/actions", headers=auth("est"), json=action_body(
        place["id"], start_date=current.first_day.isoformat(), due_date=current.last_day.isoformat(), status="done"))
    r = client.get("/api/v1/feedback", headers=auth("reporter"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["my_reports"], body["all_reports"], body["places_acted_upon"], body["actions_done"]) == (2, 7, 1, 1)
    assert set(body) == {"cycle", "my_reports", "all_reports", "places_acted_upon", "actions_done",
                         "follow_ups_green"}
    assert client.get("/api/v1/feedback?cycle=nonsense", headers=auth("reporter")).status_code == 422


@contextmanager
def _a_meeting(engine):
    """A meeting committed in a cycle no other test uses, for tests with two real sessions; then
    removed with its audit entries. Gives (principal, meeting id)."""
    from sqlalchemy import delete, select
    from sqlalchemy.orm import Session

    from app.actions import meetings
    from app.actions.models import AuditEntry, Meeting
    from app.actions.schemas import MeetingCreate
    from app.auth.models import User
    from app.auth.service import load_principal

    with Session(engine) as s, s.begin():
        principal = load_principal(s, user_id=s.scalar(select(User.id).where(User.username == "coordinator")))
        taken = set(s.scalars(select(Meeting.cycle)))
        cycle = next(c for c in (dt.date(2026, 1, 7) + dt.timedelta(days=14 * i) for i in range(20)) if c not in taken)
        meeting_id = meetings.create_meeting(s, principal=principal, payload=MeetingCreate(
            cycle=cycle.isoformat(), held_on=cycle)).id
    try:
        yield principal, meeting_id
    finally:
        with Session(engine) as s, s.begin():
            s.execute(delete(AuditEntry).where(AuditEntry.entity == "meeting", AuditEntry.entity_id == meeting_id))
            s.execute(delete(Meeting).where(Meeting.id == meeting_id))


def _second_waits_for_first(engine, first_op, second_op) -> str:
    """Run ``first_op(session)`` and, while its transaction is open, ``second_op(session)`` in
    another thread and session: the second must wait (the meeting's row is locked) until the
    first commits. Gives the second's outcome: "done", or the detail of its domain error."""
    import threading

    from sqlalchemy.orm import Session

    from app.errors import DomainError

    outcome = {}
    with Session(engine) as first:
        first_op(first)  # holds the row's lock

        def second():
            with Session(engine) as other:
                try:
                    second_op(other)
                    other.commit()
                    outcome["second"] = "done"
                except DomainError as exc:
                    outcome["second"] = exc.detail

        thread = threading.Thread(target=second)
        thread.start()
        thread.join(1.0)
        assert thread.is_alive()  # waiting for the first's lock
        first.commit()
        thread.join(30)
    return outcome["second"]


def test_two_starts_at_once_freeze_the_picture_once(engine):
    """The second start waits for the first (the meeting's row is locked) and then finds the
    meeting started: 409, one frozen picture, one audit entry."""
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from app.actions import meetings
    from app.actions.models import AuditEntry

    with _a_meeting(engine) as (principal, meeting_id):
        start = lambda session: meetings.start_meeting(session, principal=principal, meeting_id=meeting_id)  # noqa: E731
        assert "started at" in _second_waits_for_first(engine, start, start)
        with Session(engine) as s:
            starts = s.scalar(select(func.count()).select_from(AuditEntry).where(
                AuditEntry.entity == "meeting", AuditEntry.entity_id == meeting_id, AuditEntry.operation == "update"))
        assert starts == 1


def test_two_saves_of_the_same_version_at_once_keep_the_first(engine):
    """Two saves made on the same version at the same moment: the second waits for the first
    (row lock) and is then refused, so the first one's minutes are not lost."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from app.actions import meetings
    from app.actions.models import Meeting
    from app.actions.schemas import MeetingUpdate

    with _a_meeting(engine) as (principal, meeting_id):
        with Session(engine) as s:
            read = f'"{meetings.meeting_version(s.get(Meeting, meeting_id))}"'

        def save(text):
            return lambda session: meetings.update_meeting(session, principal=principal, meeting_id=meeting_id,
                                                           payload=MeetingUpdate(minutes=text), if_match=read)
        assert "changed by someone else" in _second_waits_for_first(engine, save("Först"), save("Sedan"))
        with Session(engine) as s:
            assert s.scalar(select(Meeting.minutes).where(Meeting.id == meeting_id)) == "Först"


def test_minutes_and_actions_that_name_someone_are_asked_about_first(client, auth, db):
    """The meeting report goes to the council: a phone number in the minutes, or an e-mail
    address in an action, is asked about as in a report; confirmed, it is saved (and never
    copied into the audit log); an action's contact person is the owner's own and is not asked about."""
    m = client.post("/api/v1/meetings", headers=auth("est"), json={"cycle": "previous", "held_on": "2026-11-04"})
    assert m.status_code == 201, m.text
    url = f"/api/v1/meetings/{m.json()['id']}"
    r = client.patch(url, headers=auth("est"), json={"minutes": "Ring Anna på 070-123 45 67 om lamporna"})
    assert r.status_code == 422 and r.json()["errors"][0] == {"field": "minutes", "message": "looks like personal data",
                                                              "code": "phone"}
    assert "meeting report" in r.json()["detail"]
    assert client.get(url, headers=auth("est")).json()["minutes"] == ""  # nothing saved
    r = client.patch(url, headers=auth("est"), json={"minutes": "Ring Anna på 070-123 45 67 om lamporna",
                                                     "confirm_personal_data": True})
    assert r.status_code == 200 and r.json()["minutes"].startswith("Ring Anna")
    place = make_place(client, auth)
    action = action_body(place["id"], goal="Svar till kalle.andersson@gmail.com", owner_contact="Anna, 070-123 45 67")
    r = client.post("/api/v1/actions", headers=auth("est"), json=action)
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["goal"]
    r = client.post("/api/v1/actions", headers=auth("est"), json={**action, "goal": "Färre än 6 per cycle"})
    assert r.status_code == 201 and r.json()["owner_contact"] == "Anna, 070-123 45 67"
