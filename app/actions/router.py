"""HTTP routes for the EST loop: places, analysis, actions, safety walks, follow-ups, meetings,
the audit log. Thin: parse, call one service, return JSON."""
from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Header, Query, Response

from app.actions import audit, feedback, follow_up, lagesbild, meetings, service
from app.actions.schemas import (
    ActionCreate, ActionUpdate, FollowUpCreate, MeetingCreate, MeetingUpdate, NoteCreate, NoteUpdate, PlaceCreate,
    PlaceUpdate, RemarkUpdate, SafetyWalkCreate,
)
from app.auth.deps import CurrentPrincipal, RequireRole
from app.auth.service import ALL_REPORTS_ROLES, MODERATOR_ROLES, Principal
from app.db import RowId, SessionDep
from app.middleware import require_json
from app.reports.deps import reject_unknown_query_params
from app.reports.schemas import Day

# (a typo in a filter — stauts=planned — is 422 naming it, not the unfiltered list)
router = APIRouter(prefix="/api/v1", tags=["EST loop"], dependencies=[Depends(reject_unknown_query_params)])
WRITE_ROLES = frozenset({"est_member", "coordinator"})
Reader = Annotated[Principal, Depends(RequireRole(ALL_REPORTS_ROLES, "see the EST group's places and actions"))]
Writer = Annotated[Principal, Depends(RequireRole(WRITE_ROLES, "change the EST group's places and actions"))]
Coordinator = Annotated[Principal, Depends(RequireRole(MODERATOR_ROLES, "read the audit log"))]
JsonBody = [Depends(require_json)]
Cycles = Annotated[int, Query(ge=1, le=26, description="cycles before and after the start (equal numbers)")]
Window = Annotated[Literal["first", "latest"], Query(description="'first' cycles after the start, or the 'latest' "
                                                                 "full cycles (did the effect last?)")]
Control = Annotated[Literal["municipality", "ring"], Query(description="control area: the rest of the "
                                                                       "municipality, or the ring around the place")]


def _json(data: Any, status: int = 200, media_type: str = "application/json",
          headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type=media_type, headers=headers)


def _meeting(data: dict[str, Any], status: int = 200) -> Response:
    """A meeting, with its version as the ETag (for If-Match on the next change)."""
    return _json(data, status, headers={"ETag": f'"{data["version"]}"'})


# --- places and analysis -----------------------------------------------------------------

@router.get("/places", summary="Places as GeoJSON with open actions and the latest traffic light")
def list_places(session: SessionDep, principal: Reader) -> Response:
    return _json(service.list_places(session, principal=principal), media_type="application/geo+json")


@router.post("/places", status_code=201, dependencies=JsonBody, summary="Create a place from H3 cells or a polygon")
def create_place(payload: PlaceCreate, session: SessionDep, principal: Writer) -> Response:
    return _json(service.place_json(service.create_place(session, principal=principal, payload=payload)), 201)


@router.get("/places/{place_id}", summary="One place with its analysis and actions")
def get_place(place_id: RowId, session: SessionDep, principal: Reader) -> Response:
    place = service.get_place(session, principal=principal, place_id=place_id)
    return _json({**service.place_json(place),
                  "baseline": service.place_baseline(session, principal=principal, place=place),
                  "analysis": service.list_notes(session, principal=principal, place_id=place_id),
                  "actions": service.list_actions(session, principal=principal, place_id=place_id, status=[])})


@router.patch("/places/{place_id}", dependencies=JsonBody, summary="Rename a place")
def update_place(place_id: RowId, payload: PlaceUpdate, session: SessionDep, principal: Writer) -> Response:
    return _json(service.place_json(service.update_place(session, principal=principal, place_id=place_id,
                                                         name=payload.name)))


@router.delete("/places/{place_id}", status_code=204, summary="Delete a place without actions")
def delete_place(place_id: RowId, session: SessionDep, principal: Writer) -> Response:
    service.delete_place(session, principal=principal, place_id=place_id)
    return Response(status_code=204)


@router.post("/places/{place_id}/analysis", status_code=201, dependencies=JsonBody,
             summary="Add a cause-analysis note or hypothesis")
def create_note(place_id: RowId, payload: NoteCreate, session: SessionDep, principal: Writer) -> Response:
    note = service.create_note(session, principal=principal, place_id=place_id, payload=payload)
    return _json(service.note_json(note, {principal.user_id: principal.username}), 201)


@router.get("/places/{place_id}/analysis", summary="A place's cause analysis")
def list_notes(place_id: RowId, session: SessionDep, principal: Reader) -> Response:
    return _json(service.list_notes(session, principal=principal, place_id=place_id))


@router.patch("/analysis/{note_id}", dependencies=JsonBody, summary="Edit a note (a hypothesis' test and result)")
def update_note(note_id: RowId, payload: NoteUpdate, session: SessionDep, principal: Writer) -> Response:
    return _json(service.note_json(service.update_note(session, principal=principal, note_id=note_id,
                                                       payload=payload)))


@router.delete("/analysis/{note_id}", status_code=204, summary="Delete a note")
def delete_note(note_id: RowId, session: SessionDep, principal: Writer) -> Response:
    service.delete_note(session, principal=principal, note_id=note_id)
    return Response(status_code=204)


@router.get("/places/{place_id}/effect", summary="Measured effect at a place from a date (no action needed)")
def place_effect(place_id: RowId, session: SessionDep, principal: Reader,
                 date: Annotated[Day, Query(description="the start, a local day")],
                 cycles: Cycles = 3, window: Window = "first", control: Control = "municipality",
                 category: Annotated[list[str], Query(description="category codes (all when absent)")] = []) -> Response:
    return _json(follow_up.place_effect(session, principal=principal, place_id=place_id, start=date, cycles=cycles,
                                        window=window, control=control, categories=category))


# --- actions and follow-up -------------------------------------------------------------

@router.get("/actions", summary="Actions, earliest due first")
def list_actions(session: SessionDep, principal: Reader, place_id: RowId | None = None,
                 status: Annotated[list[Literal["planned", "in_progress", "done", "cancelled"]], Query()] = []
                 ) -> Response:
    return _json(service.list_actions(session, principal=principal, place_id=place_id, status=status))


@router.post("/actions", status_code=201, dependencies=JsonBody, summary="Create an action (insats)")
def create_action(payload: ActionCreate, session: SessionDep, principal: Writer) -> Response:
    return _json(service.action_json(session, service.create_action(session, principal=principal, payload=payload)),
                 201)


@router.get("/actions/{action_id}", summary="One action with its baseline")
def get_action(action_id: RowId, session: SessionDep, principal: Reader) -> Response:
    return _json(service.action_json(session, service.get_action(session, principal=principal, action_id=action_id)))


@router.patch("/actions/{action_id}", dependencies=JsonBody, summary="Change an action (status, dates, owner…)")
def update_action(action_id: RowId, payload: ActionUpdate, session: SessionDep, principal: Writer) -> Response:
    action = service.update_action(session, principal=principal, action_id=action_id, payload=payload)
    return _json(service.action_json(session, action))


@router.delete("/actions/{action_id}", status_code=204, summary="Delete an action")
def delete_action(action_id: RowId, session: SessionDep, principal: Writer) -> Response:
    service.delete_action(session, principal=principal, action_id=action_id)
    return Response(status_code=204)


@router.get("/actions/{action_id}/follow-up", summary="Measured follow-up with a traffic-light proposal")
def action_follow_up(action_id: RowId, session: SessionDep, principal: Reader, cycles: Cycles = 3,
                     window: Window = "first", control: Control = "municipality") -> Response:
    return _json(follow_up.action_follow_up(session, principal=principal, action_id=action_id, cycles=cycles,
                                            window=window, control=control))


@router.post("/actions/{action_id}/follow-ups", status_code=201, dependencies=JsonBody,
             summary="Store a follow-up: confirm the proposed light or override it with a comment")
def create_follow_up(action_id: RowId, payload: FollowUpCreate, session: SessionDep, principal: Writer) -> Response:
    row = follow_up.create_follow_up(session, principal=principal, action_id=action_id, payload=payload)
    return _json(follow_up.follow_up_json(row), 201)


@router.get("/actions/{action_id}/follow-ups", summary="Stored follow-ups of an action, oldest first")
def list_follow_ups(action_id: RowId, session: SessionDep, principal: Reader) -> Response:
    return _json(follow_up.list_follow_ups(session, principal=principal, action_id=action_id))


# --- safety walks ------------------------------------------------------------------------

@router.post("/safety-walks", status_code=201, dependencies=JsonBody, summary="Record a safety walk with remarks")
def create_walk(payload: SafetyWalkCreate, session: SessionDep, principal: Writer) -> Response:
    return _json(service.create_walk(session, principal=principal, payload=payload), 201)


@router.get("/safety-walks/{walk_id}", summary="A safety walk and its numbered remarks")
def get_walk(walk_id: RowId, session: SessionDep, principal: Reader) -> Response:
    return _json(service.get_walk(session, principal=principal, walk_id=walk_id))


@router.patch("/safety-walks/{walk_id}/remarks/{number}", dependencies=JsonBody, summary="Update a remark")
def update_remark(walk_id: RowId, number: RowId, payload: RemarkUpdate, session: SessionDep,
                  principal: Writer) -> Response:
    return _json(service.update_remark(session, principal=principal, walk_id=walk_id, number=number,
                                       payload=payload))


# --- meetings -------------------------------------------------------------------------------

@router.get("/meetings", summary="Meetings, newest cycle first")
def list_meetings(session: SessionDep, principal: Reader) -> Response:
    return _json(meetings.list_meetings(session, principal=principal))


@router.post("/meetings", status_code=201, dependencies=JsonBody, summary="Create the meeting of a cycle")
def create_meeting(payload: MeetingCreate, session: SessionDep, principal: Writer) -> Response:
    meeting = meetings.create_meeting(session, principal=principal, payload=payload)
    return _meeting(meetings.meeting_json(session, principal=principal, meeting_id=meeting.id), 201)


@router.get("/meetings/{meeting_id}", summary="A meeting: decisions, follow-ups, the frozen situation picture")
def get_meeting(meeting_id: RowId, session: SessionDep, principal: Reader,
                picture: Annotated[bool, Query(description="include the frozen layer and agenda")] = True) -> Response:
    return _meeting(meetings.meeting_json(session, principal=principal, meeting_id=meeting_id, with_picture=picture))


@router.patch("/meetings/{meeting_id}", dependencies=JsonBody, summary="Minutes, participants, date",
              responses={412: {"description": "If-Match names an earlier version: someone else changed the "
                                              "meeting meanwhile; nothing was saved"}})
def update_meeting(meeting_id: RowId, payload: MeetingUpdate, session: SessionDep, principal: Writer,
                   if_match: Annotated[str | None, Header(description="the ETag (or `version`) read with the "
                                                                        "meeting: save only if it is still that")]
                   = None) -> Response:
    meetings.update_meeting(session, principal=principal, meeting_id=meeting_id, payload=payload, if_match=if_match)
    return _meeting(meetings.meeting_json(session, principal=principal, meeting_id=meeting_id, with_picture=False))


@router.post("/meetings/{meeting_id}/start", summary="Start the meeting: freeze the situation picture")
def start_meeting(meeting_id: RowId, session: SessionDep, principal: Writer) -> Response:
    meetings.start_meeting(session, principal=principal, meeting_id=meeting_id)
    return _meeting(meetings.meeting_json(session, principal=principal, meeting_id=meeting_id))


@router.get("/meetings/{meeting_id}/report.html", summary="The meeting report as HTML (A4 print)")
def meeting_report_html(meeting_id: RowId, session: SessionDep, principal: Reader) -> Response:
    html = meetings.meeting_report(session, principal=principal, meeting_id=meeting_id, as_pdf=False)
    return Response(html, media_type="text/html; charset=utf-8")


@router.get("/meetings/{meeting_id}/report.pdf", summary="The meeting report as PDF")
def meeting_report_pdf(meeting_id: RowId, session: SessionDep, principal: Reader) -> Response:
    pdf = meetings.meeting_report(session, principal=principal, meeting_id=meeting_id, as_pdf=True)
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="est-mote-{meeting_id}.pdf"'})


# --- the two-year lägesbild (lag 2023:196) ------------------------------------------------

From = Annotated[Day | None, Query(alias="from", description="first local day (default: two years before 'to')")]
To = Annotated[Day | None, Query(alias="to", description="last local day, inclusive (default: today)")]


@router.get("/lagesbild.html", summary="The lägesbild over a period (default two years) as HTML (A4 print)")
def lagesbild_html(session: SessionDep, principal: Reader, start: From = None, end: To = None) -> Response:
    html = lagesbild.lagesbild_report(session, principal=principal, start=start, end=end, as_pdf=False)
    return Response(html, media_type="text/html; charset=utf-8")


@router.get("/lagesbild.pdf", summary="The lägesbild over a period (default two years) as PDF")
def lagesbild_pdf(session: SessionDep, principal: Reader, start: From = None, end: To = None) -> Response:
    pdf = lagesbild.lagesbild_report(session, principal=principal, start=start, end=end, as_pdf=True)
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": 'inline; filename="lagesbild.pdf"'})


# --- audit -----------------------------------------------------------------------------------

@router.get("/audit", summary="The audit log of the EST loop (coordinator)")
def list_audit(session: SessionDep, principal: Coordinator, entity: str | None = None, entity_id: RowId | None = None,
               limit: Annotated[int, Query(ge=1, le=500)] = 100, before_id: RowId | None = None) -> Response:
    return _json(audit.list_audit(session, municipality_id=principal.municipality_id, entity=entity,
                                  entity_id=entity_id, limit=limit, before_id=before_id))


# --- feedback to reporters -----------------------------------------------------------------

@router.get("/feedback", summary="What came of the reports this cycle (aggregates; every role, reporters too)")
def get_feedback(session: SessionDep, principal: CurrentPrincipal,
                 cycle: Annotated[str, Query(description="'current', 'previous' or a cycle id")] = "current"
                 ) -> Response:
    return _json(feedback.get_feedback(session, principal=principal, cycle_ref=cycle))
