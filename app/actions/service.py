"""Places, cause analysis, actions (insatser) and safety walks of one municipality.

Services flush, never commit; every change is written to the audit log in the same
transaction (:mod:`app.actions.audit`).
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import h3
import numpy as np
import shapely
from geoalchemy2.shape import from_shape, to_shape
from pyproj import Geod
from shapely.geometry import MultiPolygon, Point, shape
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app import geo
from app.actions import audit, counting
from app.actions.models import (
    OPEN_ACTION_STATUSES, Action, AnalysisNote, FollowUp, Meeting, Place, SafetyWalk, SafetyWalkRemark, action_cause,
)
from app.actions.schemas import (
    ActionCreate, ActionUpdate, NoteCreate, NoteUpdate, PlaceCreate, RemarkUpdate, SafetyWalkCreate,
)
from app.auth.service import Principal
from app.db import in_municipality, in_municipality_or_404
from app.errors import Conflict, InvalidInput, NotFound
from app.hotspots import grid
from app.hotspots.service import get_scope, parse_cell_ref
from app.municipalities.models import Municipality
from app.timeutil import local_iso

POLYGON_RESOLUTION = 10  # a drawn polygon is counted by the res-10 cells (~0.015 km²) whose centres lie in it
MAX_CELLS = 2000
_GEOD = Geod(ellps="WGS84")


def _bad(field: str, detail: str) -> InvalidInput:
    return InvalidInput(detail, errors=[{"field": field, "message": detail}])


# --- places -------------------------------------------------------------------------------

def _cells_from_refs(refs: list[str]) -> tuple[int, list[int]]:
    parsed = []
    for ref in refs:
        try:
            parsed.append(parse_cell_ref(ref))
        except InvalidInput as exc:
            raise _bad("cells", f"cells: {exc.detail}") from None
    resolutions = {res for res, _ in parsed}
    if len(resolutions) > 1:
        raise _bad("cells", f"all cells of a place must have one resolution; got {sorted(resolutions)}")
    return resolutions.pop(), sorted({cell for _, cell in parsed})


def _cells_outline(cells: list[int]) -> MultiPolygon:
    outline = shape(h3.cells_to_h3shape([grid.cell_string(c) for c in cells]).__geo_interface__)
    return outline if isinstance(outline, MultiPolygon) else MultiPolygon([outline])


def _sweref_to_wgs84(xy: np.ndarray) -> np.ndarray:
    lon, lat = geo.sweref_to_wgs84_arrays(xy[:, 0], xy[:, 1])
    return np.column_stack([lon, lat])


def _polygon(geometry: dict[str, Any], crs: str | None) -> MultiPolygon:
    kind = geometry.get("type")
    if not isinstance(kind, str) or kind not in {"Polygon", "MultiPolygon"}:
        raise _bad("geometry", f"geometry must be a GeoJSON Polygon or MultiPolygon; got {kind!r}")
    try:
        geom = shape(geometry)
    except (ValueError, TypeError, AttributeError, IndexError, KeyError, shapely.errors.ShapelyError):
        raise _bad("geometry", "geometry is not a valid GeoJSON polygon (coordinates malformed)") from None
    if geo.parse_crs(crs, default=geo.WGS84) == geo.SWEREF99TM:
        geom = shapely.transform(geom, _sweref_to_wgs84)
    if geom.is_empty or not geom.is_valid or geom.area <= 0:
        raise _bad("geometry", f"the polygon is not valid ({shapely.is_valid_reason(geom)})")
    minx, miny, maxx, maxy = geom.bounds
    if not (-180 <= minx and maxx <= 180 and -90 <= miny and maxy <= 90):
        raise _bad("geometry", "polygon coordinates are outside lon/lat range; give crs EPSG:3006 for metres")
    # A place is a part of a town. A polygon around the globe (or a band round it) has a geodesic
    # area of 0, which would pass the size estimate below and then make H3 list the world.
    if maxx - minx > 10 or maxy - miny > 10:
        raise _bad("geometry", f"the polygon spans {maxx - minx:.1f}° of longitude and {maxy - miny:.1f}° of "
                               "latitude; a place is part of the municipality (draw a smaller area)")
    return geom if isinstance(geom, MultiPolygon) else MultiPolygon([geom])


def _polygon_cells(geom: MultiPolygon) -> list[int]:
    # Listing the cells of a large polygon takes minutes and gigabytes (a 1° square: 1.3 s):
    # estimate first from the area; hexagons vary in area, hence the margin before the exact count.
    # pyproj's area is signed by ring direction: oriented first (outer rings anticlockwise, holes
    # clockwise), or a hole would add to the area and two parts running opposite ways cancel out.
    # Cells shrink towards the poles (at 59°N a res-10 cell is ~0.75 of the world average): the
    # area of the cell under the polygon divides, so the number in the refusal is about right.
    area = _GEOD.geometry_area_perimeter(shapely.orient_polygons(geom))[0]
    point = geom.representative_point()
    estimate = area / h3.cell_area(h3.latlng_to_cell(point.y, point.x, POLYGON_RESOLUTION), "m^2")
    if estimate > 2 * MAX_CELLS:
        raise _bad("geometry", f"the place covers about {estimate:,.0f} cells; at most {MAX_CELLS} "
                               "(draw a smaller area)")
    cells = {h3.str_to_int(c) for c in h3.h3shape_to_cells(h3.geo_to_h3shape(geom.__geo_interface__),
                                                          POLYGON_RESOLUTION)}
    if not cells:  # smaller than one cell: the cell under its representative point
        pt = geom.representative_point()
        cells = {h3.str_to_int(h3.latlng_to_cell(pt.y, pt.x, POLYGON_RESOLUTION))}
    return sorted(cells)


def _require_inside(session: Session, municipality_id: int, geom: MultiPolygon) -> None:
    muni = session.get(Municipality, municipality_id)
    if not to_shape(muni.boundary).intersects(geom):
        raise _bad("geometry", f"the place lies outside {muni.name}'s boundary")


def place_json(place: Place, *, with_geometry: bool = True) -> dict[str, Any]:
    """A place as the API shows it."""
    out = {"id": place.id, "name": place.name, "source": place.source, "resolution": place.resolution,
           "cells": [grid.cell_string(c) for c in place.cells], "created_at": local_iso(place.created_at)}
    if with_geometry:
        out["geometry"] = shapely.geometry.mapping(to_shape(place.geom))
    return out


def _place_audit(place: Place) -> dict[str, Any]:
    return {"name": place.name, "source": place.source, "resolution": place.resolution,
            "cells": [grid.cell_string(c) for c in place.cells]}


def create_place(session: Session, *, principal: Principal, payload: PlaceCreate) -> Place:
    """A place from cells or a polygon; 422 for an invalid cell, a mixed resolution, a bad or
    outside polygon, or more than 2,000 cells."""
    if payload.cells is not None:
        res, cells = _cells_from_refs(payload.cells)
        outline, source = _cells_outline(cells), "cells"
        _require_inside(session, principal.municipality_id, outline)
    else:
        outline, res, source = _polygon(payload.geometry, payload.crs), POLYGON_RESOLUTION, "polygon"
        _require_inside(session, principal.municipality_id, outline)  # before listing its cells
        cells = _polygon_cells(outline)
    if len(cells) > MAX_CELLS:
        raise _bad("geometry", f"the place covers {len(cells)} cells; at most {MAX_CELLS} (draw a smaller area)")
    place = Place(municipality_id=principal.municipality_id, name=payload.name.strip(), source=source,
                  resolution=res, cells=cells, geom=from_shape(outline, srid=4326), created_by=principal.user_id)
    session.add(place)
    session.flush()
    audit.record(session, principal=principal, entity="place", entity_id=place.id, operation="create",
                 after=_place_audit(place))
    return place


def get_place(session: Session, *, principal: Principal, place_id: int) -> Place:
    """The place if it belongs to the caller's municipality; 404 otherwise."""
    return in_municipality_or_404(session, Place, place_id, municipality_id=principal.municipality_id, what="place")


def update_place(session: Session, *, principal: Principal, place_id: int, name: str) -> Place:
    """Rename a place."""
    place = get_place(session, principal=principal, place_id=place_id)
    before = _place_audit(place)
    place.name = name.strip()
    session.flush()
    audit.record(session, principal=principal, entity="place", entity_id=place.id, operation="update",
                 before=before, after=_place_audit(place))
    return place


def delete_place(session: Session, *, principal: Principal, place_id: int) -> None:
    """Delete a place and its analysis; 409 while actions refer to it."""
    place = get_place(session, principal=principal, place_id=place_id)
    if session.scalar(select(Action.id).where(Action.place_id == place.id).limit(1)) is not None:
        raise Conflict(f"Place {place_id} has actions; delete or move them first")
    before = _place_audit(place)
    notes = session.scalars(select(AnalysisNote).where(AnalysisNote.place_id == place.id)
                          .order_by(AnalysisNote.id)).all()
    for note in notes:  # deleted with the place by the foreign key's cascade: logged one by one
        audit.record(session, principal=principal, entity="analysis_note", entity_id=note.id, operation="delete",
                     before=_note_audit(note))
    session.delete(place)
    session.flush()
    audit.record(session, principal=principal, entity="place", entity_id=place_id, operation="delete", before=before)


def list_places(session: Session, *, principal: Principal) -> dict[str, Any]:
    """The places as a GeoJSON FeatureCollection for the map, each with its open actions and
    the latest confirmed traffic light of its actions."""
    places = session.scalars(select(Place).where(Place.municipality_id == principal.municipality_id)
                             .order_by(Place.id)).all()
    actions = session.scalars(select(Action).where(Action.municipality_id == principal.municipality_id)
                              .order_by(Action.id)).all()
    latest = latest_lights(session, action_ids=[a.id for a in actions])
    features = []
    for place in places:
        mine = [a for a in actions if a.place_id == place.id]
        lights = [latest[a.id] for a in mine if a.id in latest]
        props = place_json(place, with_geometry=False)
        props["open_actions"] = [action_summary(a) for a in mine if a.status in OPEN_ACTION_STATUSES]
        props["actions"] = len(mine)
        props["latest_light"] = max(lights, key=lambda x: x["at"]) if lights else None
        features.append({"type": "Feature", "id": place.id,
                         "geometry": shapely.geometry.mapping(to_shape(place.geom)), "properties": props})
    return {"type": "FeatureCollection", "features": features}


def latest_lights(session: Session, *, action_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Per action, its most recent stored follow-up's light."""
    if not action_ids:
        return {}
    rows = session.scalars(select(FollowUp).where(FollowUp.action_id.in_(action_ids))
                           .order_by(FollowUp.action_id, FollowUp.id)).all()
    return {f.action_id: {"action_id": f.action_id, "light": f.light, "proposed": f.proposed,
                          "at": local_iso(f.created_at), "follow_up_id": f.id} for f in rows}


# --- cause analysis ---------------------------------------------------------------------

def note_json(note: AnalysisNote, authors: dict[int, str] | None = None) -> dict[str, Any]:
    return {"id": note.id, "place_id": note.place_id, "kind": note.kind, "text": note.text,
            "test_plan": note.test_plan, "result": note.result,
            "author": (authors or {}).get(note.author_id), "author_id": note.author_id,
            "created_at": local_iso(note.created_at), "updated_at": local_iso(note.updated_at)}


def _note_audit(note: AnalysisNote) -> dict[str, Any]:
    return {"place_id": note.place_id, "kind": note.kind, "text": note.text, "test_plan": note.test_plan,
            "result": note.result}


def create_note(session: Session, *, principal: Principal, place_id: int, payload: NoteCreate) -> AnalysisNote:
    """Add a cause-analysis note or hypothesis to a place."""
    get_place(session, principal=principal, place_id=place_id)
    note = AnalysisNote(place_id=place_id, kind=payload.kind, text=payload.text, test_plan=payload.test_plan,
                        result=payload.result, author_id=principal.user_id)
    session.add(note)
    session.flush()
    session.refresh(note)
    audit.record(session, principal=principal, entity="analysis_note", entity_id=note.id, operation="create",
                 after=_note_audit(note))
    return note


def _get_note(session: Session, *, principal: Principal, note_id: int) -> AnalysisNote:
    note = session.get(AnalysisNote, note_id)
    if note is None:
        raise NotFound(f"No analysis note {note_id} in your municipality")
    get_place(session, principal=principal, place_id=note.place_id)
    return note


def update_note(session: Session, *, principal: Principal, note_id: int, payload: NoteUpdate) -> AnalysisNote:
    """Edit a note; a hypothesis gets its test plan and result this way."""
    note = _get_note(session, principal=principal, note_id=note_id)
    changes = payload.model_dump(exclude_unset=True)
    if note.kind != "hypothesis" and (changes.get("test_plan") or changes.get("result")):
        raise _bad("test_plan", "test_plan and result belong to hypotheses (kind 'hypothesis')")
    before = _note_audit(note)
    for key, value in changes.items():
        if key == "text" and value is None:
            raise _bad("text", "text cannot be removed")
        setattr(note, key, value)
    session.flush()
    session.refresh(note)
    audit.record(session, principal=principal, entity="analysis_note", entity_id=note.id, operation="update",
                 before=before, after=_note_audit(note))
    return note


def delete_note(session: Session, *, principal: Principal, note_id: int) -> None:
    note = _get_note(session, principal=principal, note_id=note_id)
    before = _note_audit(note)
    session.delete(note)
    session.flush()
    audit.record(session, principal=principal, entity="analysis_note", entity_id=note_id, operation="delete",
                 before=before)


def list_notes(session: Session, *, principal: Principal, place_id: int) -> list[dict[str, Any]]:
    """A place's analysis, grouped by the client; oldest first, with the author's username."""
    from app.auth.models import User

    get_place(session, principal=principal, place_id=place_id)
    rows = session.execute(select(AnalysisNote, User.username).outerjoin(User, User.id == AnalysisNote.author_id)
                           .where(AnalysisNote.place_id == place_id).order_by(AnalysisNote.id)).all()
    return [note_json(n, {n.author_id: name}) for n, name in rows]


# --- actions ------------------------------------------------------------------------------

def action_summary(action: Action) -> dict[str, Any]:
    return {"id": action.id, "what": action.what, "owner_organisation": action.owner_organisation,
            "due_date": action.due_date.isoformat(), "status": action.status}


def action_json(session: Session, action: Action) -> dict[str, Any]:
    """An action with its causes and the baseline that makes its goal concrete."""
    causes = session.scalars(select(action_cause.c.note_id).where(action_cause.c.action_id == action.id)
                             .order_by(action_cause.c.note_id)).all()
    return {"id": action.id, "place_id": action.place_id, "meeting_id": action.meeting_id, "what": action.what,
            "goal": action.goal, "baseline": {"per_cycle": _rounded(action.baseline),
                                              "cycles": action.baseline_cycles},
            "categories": list(action.categories), "kind": action.kind,
            "owner_organisation": action.owner_organisation, "owner_contact": action.owner_contact,
            "start_date": action.start_date.isoformat(), "due_date": action.due_date.isoformat(),
            "recurrence": action.recurrence, "status": action.status, "causes": list(causes),
            "created_at": local_iso(action.created_at), "updated_at": local_iso(action.updated_at)}


def _action_audit(session: Session, action: Action) -> dict[str, Any]:
    data = action_json(session, action)
    for key in ("id", "created_at", "updated_at", "baseline"):
        data.pop(key)
    return data


def _check_dates(start: dt.date, due: dt.date) -> None:
    if due < start:
        raise _bad("due_date", f"due_date {due} is before start_date {start}")


def _check_owner(owner: str) -> None:
    if not owner.strip():
        raise _bad("owner_organisation", "an action needs an owner organisation (problem owner)")


def _set_causes(session: Session, action: Action, note_ids: list[int]) -> None:
    ids = sorted(set(note_ids))
    if ids:
        found = set(session.scalars(select(AnalysisNote.id).where(AnalysisNote.id.in_(ids),
                                                                  AnalysisNote.place_id == action.place_id)))
        missing = [i for i in ids if i not in found]
        if missing:
            raise _bad("causes", f"analysis notes {missing} are not notes of place {action.place_id}")
    session.execute(delete(action_cause).where(action_cause.c.action_id == action.id))
    if ids:
        session.execute(action_cause.insert(), [{"action_id": action.id, "note_id": i} for i in ids])


def _check_meeting(session: Session, principal: Principal, meeting_id: int | None) -> None:
    if meeting_id is None:
        return
    if in_municipality(session, Meeting, meeting_id, municipality_id=principal.municipality_id) is None:
        raise _bad("meeting_id", f"No meeting {meeting_id} in your municipality")


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def place_baseline(session: Session, *, principal: Principal, place: Place) -> dict[str, Any]:
    """What a new action's goal starts from: the place's mean count per cycle over the last
    full cycles since reporting began (all categories), shown in the action form so a goal
    like "from 12 to ≤ 6" is concrete; ``per_cycle`` None and ``cycles`` 0 before a full cycle."""
    scope = get_scope(session, municipality_id=principal.municipality_id)
    selection = counting.place_selection(session, scope=scope, categories=[])
    found = counting.baseline(session, scope=scope, place=place, selection=selection)
    return {"per_cycle": _rounded(found.per_cycle), "cycles": found.cycles}


def create_action(session: Session, *, principal: Principal, payload: ActionCreate) -> Action:
    """A new action; its baseline (mean count per cycle at the place over the last 6 full
    cycles since reporting began, for its categories) is computed and stored now."""
    place = get_place(session, principal=principal, place_id=payload.place_id)
    _check_dates(payload.start_date, payload.due_date)
    _check_owner(payload.owner_organisation)
    _check_meeting(session, principal, payload.meeting_id)
    scope = get_scope(session, municipality_id=principal.municipality_id)
    selection = counting.place_selection(session, scope=scope, categories=payload.categories)
    baseline = counting.baseline(session, scope=scope, place=place, selection=selection)
    action = Action(municipality_id=principal.municipality_id, place_id=place.id, meeting_id=payload.meeting_id,
                    what=payload.what, goal=payload.goal, baseline=baseline.per_cycle,
                    baseline_cycles=baseline.cycles, categories=sorted(set(payload.categories)),
                    kind=payload.kind, owner_organisation=payload.owner_organisation.strip(),
                    owner_contact=payload.owner_contact, start_date=payload.start_date, due_date=payload.due_date,
                    recurrence=payload.recurrence, status=payload.status, created_by=principal.user_id)
    session.add(action)
    session.flush()
    _set_causes(session, action, payload.causes)
    session.refresh(action)
    audit.record(session, principal=principal, entity="action", entity_id=action.id, operation="create",
                 after=_action_audit(session, action))
    return action


def get_action(session: Session, *, principal: Principal, action_id: int) -> Action:
    return in_municipality_or_404(session, Action, action_id, municipality_id=principal.municipality_id,
                                  what="action")


def update_action(session: Session, *, principal: Principal, action_id: int, payload: ActionUpdate) -> Action:
    """Change an action (status, dates, owner, ...); the same checks as on creation."""
    action = get_action(session, principal=principal, action_id=action_id)
    changes = payload.model_dump(exclude_unset=True)
    for key in ("what", "goal", "kind", "owner_organisation", "start_date", "due_date", "recurrence", "status"):
        if key in changes and changes[key] is None:
            raise _bad(key, f"{key} cannot be removed")
    _check_dates(changes.get("start_date", action.start_date), changes.get("due_date", action.due_date))
    if "owner_organisation" in changes:
        _check_owner(changes["owner_organisation"])
    before = _action_audit(session, action)
    causes = changes.pop("causes", None)
    for key, value in changes.items():
        setattr(action, key, value)
    session.flush()
    if causes is not None:
        _set_causes(session, action, causes)
    session.refresh(action)
    audit.record(session, principal=principal, entity="action", entity_id=action.id, operation="update",
                 before=before, after=_action_audit(session, action))
    return action


def delete_action(session: Session, *, principal: Principal, action_id: int) -> None:
    action = get_action(session, principal=principal, action_id=action_id)
    before = _action_audit(session, action)
    for f in session.scalars(select(FollowUp).where(FollowUp.action_id == action.id).order_by(FollowUp.id)):  # cascaded
        audit.record(session, principal=principal, entity="follow_up", entity_id=f.id, operation="delete",
                     before=follow_up_audit(f))
    session.delete(action)
    session.flush()
    audit.record(session, principal=principal, entity="action", entity_id=action_id, operation="delete",
                 before=before)


def follow_up_audit(f: FollowUp) -> dict[str, Any]:
    """What the audit log keeps of a stored follow-up."""
    return {"action_id": f.action_id, "proposed": f.proposed, "light": f.light, "comment": f.comment,
            "cycles": f.cycles, "window": f.window_kind, "meeting_id": f.meeting_id}


def list_actions(session: Session, *, principal: Principal, place_id: int | None,
                 status: list[str]) -> list[dict[str, Any]]:
    query = select(Action).where(Action.municipality_id == principal.municipality_id)
    if place_id is not None:
        query = query.where(Action.place_id == place_id)
    if status:
        query = query.where(Action.status.in_(status))
    return [action_json(session, a) for a in session.scalars(query.order_by(Action.due_date, Action.id))]


# --- safety walks ---------------------------------------------------------------------------

def walk_json(walk: SafetyWalk, remarks: list[SafetyWalkRemark]) -> dict[str, Any]:
    return {"id": walk.id, "title": walk.title, "walked_on": walk.walked_on.isoformat(), "place_id": walk.place_id,
            "remarks": [{"id": r.id, "number": r.number, "text": r.text,
                         "point": list(to_shape(r.geom).coords[0]),
                         "owner_organisation": r.owner_organisation,
                         "fix_by": r.fix_by.isoformat() if r.fix_by else None,
                         "fixed_on": r.fixed_on.isoformat() if r.fixed_on else None} for r in remarks]}


def create_walk(session: Session, *, principal: Principal, payload: SafetyWalkCreate) -> dict[str, Any]:
    """A safety walk with its remarks numbered 1, 2, … in the order given."""
    if payload.place_id is not None:
        get_place(session, principal=principal, place_id=payload.place_id)
    walk = SafetyWalk(municipality_id=principal.municipality_id, place_id=payload.place_id, title=payload.title,
                      walked_on=payload.walked_on, created_by=principal.user_id)
    session.add(walk)
    session.flush()
    remarks = []
    for i, r in enumerate(payload.remarks, start=1):
        if r.fix_by is not None and r.fix_by < payload.walked_on:
            raise _bad(f"remarks.{i - 1}.fix_by", f"remark {i}: fix_by {r.fix_by} is before the walk "
                                                  f"({payload.walked_on})")
        remarks.append(SafetyWalkRemark(walk_id=walk.id, number=i, text=r.text,
                                        geom=from_shape(Point(r.lon, r.lat), srid=4326),
                                        owner_organisation=r.owner_organisation, fix_by=r.fix_by))
    session.add_all(remarks)
    session.flush()
    out = walk_json(walk, remarks)
    audit.record(session, principal=principal, entity="safety_walk", entity_id=walk.id, operation="create", after=out)
    return out


def get_walk(session: Session, *, principal: Principal, walk_id: int) -> dict[str, Any]:
    walk = in_municipality_or_404(session, SafetyWalk, walk_id, municipality_id=principal.municipality_id,
                                  what="safety walk")
    remarks = session.scalars(select(SafetyWalkRemark).where(SafetyWalkRemark.walk_id == walk_id)
                              .order_by(SafetyWalkRemark.number)).all()
    return walk_json(walk, list(remarks))


def update_remark(session: Session, *, principal: Principal, walk_id: int, number: int,
                  payload: RemarkUpdate) -> dict[str, Any]:
    """Mark a remark fixed, move its date or change its problem owner."""
    get_walk(session, principal=principal, walk_id=walk_id)
    remark = session.scalar(select(SafetyWalkRemark).where(SafetyWalkRemark.walk_id == walk_id,
                                                           SafetyWalkRemark.number == number))
    if remark is None:
        raise NotFound(f"Safety walk {walk_id} has no remark {number}")
    changes = payload.model_dump(exclude_unset=True)
    if "owner_organisation" in changes and changes["owner_organisation"] is None:
        raise _bad("owner_organisation", "a remark needs a problem owner")
    before = {k: getattr(remark, k) for k in changes}
    for key, value in changes.items():
        setattr(remark, key, value)
    session.flush()
    audit.record(session, principal=principal, entity="safety_walk_remark", entity_id=remark.id, operation="update",
                 before=before, after=changes)
    return get_walk(session, principal=principal, walk_id=walk_id)
