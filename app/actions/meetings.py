"""The EST meeting of a cycle: participants, minutes, decisions (new actions), follow-ups
reviewed, and the situation picture frozen when the meeting starts."""
from __future__ import annotations

import hashlib
from typing import Any

import orjson

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.actions import audit
from app.actions.follow_up import follow_up_json
from app.actions.models import OPEN_ACTION_STATUSES, Action, FollowUp, Meeting
from app.actions.schemas import MeetingCreate, MeetingUpdate
from app.actions.service import action_json
from app.auth.service import Principal
from app.db import in_municipality_or_404
from app.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from app.hotspots.cycles import Cycle
from app.actions import report
from app.actions.service import list_actions
from app.hotspots.service import (
    build_selection, cell_stats, cycle_json, get_layer, get_patterns, get_scope, get_top,
)
from app.timeutil import local_iso, utcnow

FROZEN_RESOLUTION = 9
FROZEN_ACTION_FIELDS = ("id", "status", "start_date", "due_date", "owner_organisation")
AGENDA_ITEMS = 10


def _audit_view(m: Meeting) -> dict[str, Any]:
    return {"cycle": m.cycle, "held_on": m.held_on, "organisations": list(m.organisations), "minutes": m.minutes,
            "started_at": local_iso(m.started_at)}


def meeting_version(m: Meeting) -> str:
    """What a client read of the editable parts (day, participants, minutes), as a short hash:
    the meeting's ETag. A change sent with ``If-Match`` of an older version is refused (412), so
    two people writing the minutes at once do not silently overwrite each other."""
    editable = orjson.dumps([m.held_on.isoformat(), list(m.organisations), m.minutes])
    return hashlib.sha256(editable).hexdigest()[:20]


def _matches(if_match: str, version: str) -> bool:
    """RFC 9110 strong comparison of an If-Match list (or '*') with the version."""
    tags = [tag.strip() for tag in if_match.split(",")]
    return "*" in tags or f'"{version}"' in tags


def create_meeting(session: Session, *, principal: Principal, payload: MeetingCreate) -> Meeting:
    """A meeting for a cycle that has begun (422 otherwise); one per cycle (409)."""
    scope = get_scope(session, municipality_id=principal.municipality_id)
    current = scope.grid.current()
    try:
        cycle = scope.grid.resolve(payload.cycle)
    except NotFound as exc:  # not a cycle start, or one that has not begun: bad input for a new meeting
        raise InvalidInput(exc.detail, errors=[{"field": "cycle", "message": exc.detail}]) from None
    if cycle.index > current.index:
        raise InvalidInput(f"Cycle {cycle.id} has not begun", errors=[{"field": "cycle", "message": "future cycle"}])
    _refuse_second_meeting(session, principal.municipality_id, cycle)
    meeting = Meeting(municipality_id=principal.municipality_id, cycle=cycle.first_day, held_on=payload.held_on,
                      organisations=list(payload.organisations), minutes=payload.minutes,
                      created_by=principal.user_id)
    try:
        with session.begin_nested():
            session.add(meeting)
            session.flush()
    except IntegrityError:  # another request created it since the check (a double click): the same 409
        _refuse_second_meeting(session, principal.municipality_id, cycle)
        raise
    audit.record(session, principal=principal, entity="meeting", entity_id=meeting.id, operation="create",
                 after=_audit_view(meeting))
    return meeting


def _refuse_second_meeting(session: Session, municipality_id: int, cycle: Cycle) -> None:
    taken = session.scalar(select(Meeting.id).where(Meeting.municipality_id == municipality_id,
                                                    Meeting.cycle == cycle.first_day))
    if taken is not None:
        raise Conflict(f"Cycle {cycle.id} already has a meeting ({taken})")


def _get(session: Session, principal: Principal, meeting_id: int) -> Meeting:
    return in_municipality_or_404(session, Meeting, meeting_id, municipality_id=principal.municipality_id,
                                  what="meeting")


def update_meeting(session: Session, *, principal: Principal, meeting_id: int, payload: MeetingUpdate,
                   if_match: str | None = None) -> Meeting:
    """Minutes, participants, the date. With ``if_match`` (the ETag the client read), only if
    the meeting is still that version: 412 otherwise, and nothing is written."""
    meeting = _get(session, principal, meeting_id)
    if if_match is not None:
        # locked, and read again: of two saves of one version at once, the second finds the first's
        meeting = session.scalars(select(Meeting).where(Meeting.id == meeting_id).with_for_update()
                                  .execution_options(populate_existing=True)).one()
        if not _matches(if_match, meeting_version(meeting)):
            raise PreconditionFailed(
                f"Meeting {meeting_id} was changed by someone else after you read it (If-Match {if_match}; it is "
                f'now "{meeting_version(meeting)}"); nothing was saved. Read it again, merge your change and '
                f"send it with the new ETag")
    before = _audit_view(meeting)
    for key, value in payload.model_dump(exclude_unset=True).items():
        if value is None:
            raise InvalidInput(f"{key} cannot be removed", errors=[{"field": key, "message": "cannot be null"}])
        setattr(meeting, key, value)
    session.flush()
    audit.record(session, principal=principal, entity="meeting", entity_id=meeting.id, operation="update",
                 before=before, after=_audit_view(meeting))
    return meeting


def start_meeting(session: Session, *, principal: Principal, meeting_id: int) -> Meeting:
    """Freeze the situation picture: the cycle's hotspot layer (res 9, verified reports), the
    agenda and its weekday × hour matrix (``frozen_agenda.patterns``) as they are now. Late reports change the live layer, never these; 409 when the
    meeting has already started."""
    _get(session, principal, meeting_id)  # (404 outside the municipality)
    # locked, and read again: of two starts at once, the second waits and then finds it started
    meeting = session.scalars(select(Meeting).where(Meeting.id == meeting_id).with_for_update()
                              .execution_options(populate_existing=True)).one()
    if meeting.started_at is not None:
        raise Conflict(f"Meeting {meeting_id} started at {local_iso(meeting.started_at)}; its picture is frozen")
    scope = get_scope(session, municipality_id=principal.municipality_id)
    cycle = scope.grid.cycle(scope.grid.index_of_day(meeting.cycle))
    selection = build_selection(session, municipality_id=principal.municipality_id, categories=[], groups=[],
                                organisation_kinds=[], statuses=["verified"])
    # one computation of the cells for both: the agenda has the layer's counts, at half the cost
    result = cell_stats(session, scope, cycle=cycle, res=FROZEN_RESOLUTION, selection=selection)
    meeting.frozen_layer = get_layer(session, scope, cycle=cycle, res=FROZEN_RESOLUTION, selection=selection,
                                     result=result)
    agenda = get_top(session, scope, cycle=cycle, res=FROZEN_RESOLUTION, selection=selection, n=AGENDA_ITEMS,
                     result=result)
    agenda["patterns"] = get_patterns(session, selection=selection, start=cycle.start, end=cycle.end)
    # the actions under way as the meeting saw them (which, their status and dates): the report
    # of an old meeting lists these, not those open today. Their texts are not copied: a text
    # corrected since (personal data taken out) is shown as it is now.
    agenda["open_actions"] = [{key: a[key] for key in FROZEN_ACTION_FIELDS}
                              for a in list_actions(session, principal=principal, place_id=None, status=list(OPEN_ACTION_STATUSES))]
    meeting.frozen_agenda = agenda
    before = _audit_view(meeting)
    meeting.started_at = utcnow()
    session.flush()
    audit.record(session, principal=principal, entity="meeting", entity_id=meeting.id, operation="update",
                 before=before, after=_audit_view(meeting))
    return meeting


def meeting_json(session: Session, *, principal: Principal, meeting_id: int,
                 with_picture: bool = True) -> dict[str, Any]:
    """A meeting with its decisions, the follow-ups reviewed (each with its action's ``what``)
    and (unless left out) the frozen situation picture."""
    meeting = _get(session, principal, meeting_id)
    scope = get_scope(session, municipality_id=principal.municipality_id)
    cycle = scope.grid.cycle(scope.grid.index_of_day(meeting.cycle))
    decisions = session.scalars(select(Action).where(Action.meeting_id == meeting.id).order_by(Action.id)).all()
    reviewed = session.scalars(select(FollowUp).where(FollowUp.meeting_id == meeting.id).order_by(FollowUp.id)).all()
    what = dict(session.execute(select(Action.id, Action.what)
                                .where(Action.id.in_({f.action_id for f in reviewed}))).all())
    out = {"id": meeting.id, "version": meeting_version(meeting), "cycle": cycle_json(cycle),
           "held_on": meeting.held_on.isoformat(),
           "organisations": list(meeting.organisations), "minutes": meeting.minutes,
           "started_at": local_iso(meeting.started_at),
           "decisions": [action_json(session, a) for a in decisions],
           "follow_ups": [{**follow_up_json(f), "action_what": what.get(f.action_id)} for f in reviewed]}
    if with_picture:
        out["frozen_layer"] = meeting.frozen_layer
        out["frozen_agenda"] = meeting.frozen_agenda
    return out


def list_meetings(session: Session, *, principal: Principal) -> list[dict[str, Any]]:
    rows = session.scalars(select(Meeting).where(Meeting.municipality_id == principal.municipality_id)
                           .order_by(Meeting.cycle.desc())).all()
    return [{"id": m.id, "cycle": m.cycle.isoformat(), "held_on": m.held_on.isoformat(),
             "organisations": list(m.organisations), "started_at": local_iso(m.started_at)} for m in rows]


def meeting_report(session: Session, *, principal: Principal, meeting_id: int, as_pdf: bool) -> bytes | str:
    """The meeting report: HTML, or PDF rendered from the same HTML."""
    meeting = meeting_json(session, principal=principal, meeting_id=meeting_id)
    scope = get_scope(session, municipality_id=principal.municipality_id)
    frozen = (meeting["frozen_agenda"] or {}).get("open_actions")  # as at the start (since 2026-11-22)
    if frozen is None:  # not started yet (or started before the start kept them): as they are now
        open_actions = list_actions(session, principal=principal, place_id=None, status=list(OPEN_ACTION_STATUSES))
    else:  # as they stood then, with their texts as they are now
        now = {a["id"]: a for a in list_actions(session, principal=principal, place_id=None, status=[])}
        open_actions = [{**now.get(a["id"], {"what": f"Insats {a['id']} (borttagen sedan mötet)", "goal": "",
                                             "baseline": {"per_cycle": None}, "owner_contact": None}), **a}
                        for a in frozen]
    html = report.render_meeting_html(meeting, municipality=scope.municipality.name, open_actions=open_actions)
    return report.render_pdf(html) if as_pdf else html
