"""Measured follow-up (uppföljning) and its repetition over later cycles (återkoppling).

Windows: ``n`` full cycles after the action against the ``n`` full cycles before its start.
"Before" ends with the last cycle that ends before the start. "After" begins with the first
cycle that starts on or after the day the action is in place: its start for a recurring action
(part of regular work, it works while it runs), its due date for a one-off action (new lighting,
a cleared thicket: it works once it is done), so a one-off's implementation period is in neither
window. A cycle partly before and partly after is left out. ``window=first`` takes the ``n``
cycles right after; ``window=latest`` the ``n`` most recent full cycles (still after), which is
how the group sees whether an effect lasted. With fewer full cycles than asked, as many as exist
are used (before and after always equally many). A one-off action whose due date has not come
yet is measured from its start for now (the numbers so far; no light is proposed unless it is
already done).
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.actions import audit, counting, effect
from app.actions.models import Action, FollowUp, Meeting, Place
from app.actions.schemas import FollowUpCreate
from app.actions.service import follow_up_audit, get_action, get_place
from app.auth.service import Principal
from app.db import in_municipality
from app.errors import InvalidInput
from app.hotspots.cycles import Cycle, CycleGrid
from app.hotspots.service import cycle_json, get_scope
from app.timeutil import STOCKHOLM, local_iso, local_today


def windows(grid: CycleGrid, *, start: dt.date, cycles: int, window: str, effect_from: dt.date | None = None,
            now: dt.datetime | None = None) -> tuple[list[Cycle], list[Cycle]]:
    """(before, after) cycle lists: before the ``start``, after ``effect_from`` (default: the start;
    see the module docstring). 422 when the start is in the future or no full cycle has passed
    since ``effect_from``."""
    current = grid.current(now)
    today = now.astimezone(STOCKHOLM).date() if now else local_today()
    if start > today:
        raise InvalidInput(f"The start {start} has not come yet; a follow-up needs at least one full cycle after "
                           "the start", errors=[{"field": "date", "message": "start in the future"}])
    first = grid.cycle(grid.index_of_day(start))
    since = effect_from or start
    in_place = grid.cycle(grid.index_of_day(since))
    first_after = in_place.index if in_place.first_day == since else in_place.index + 1
    available = current.index - first_after  # full cycles from first_after up to the previous one
    if available < 1:
        nxt = grid.cycle(first_after)
        what, code = ("start", "start") if since == start else ("due date (a one-off action is measured from when it "
                                                                 "is in place)", "due date")
        raise InvalidInput(f"No full cycle has passed since the {what} {since}: the first full cycle after it is "
                           f"{nxt.id}, which ends on {nxt.last_day}",
                           errors=[{"field": "date", "message": f"no full cycle after the {code} yet"}])
    n = min(cycles, available)
    after_first = first_after if window == "first" else current.index - n
    after = [grid.cycle(i) for i in range(after_first, after_first + n)]
    before = [grid.cycle(i) for i in range(first.index - n, first.index)]
    return before, after


def measure(session: Session, *, principal: Principal, place: Place, start: dt.date, cycles: int, window: str,
            control: str, categories: list[str], effect_from: dt.date | None = None,
            action: Action | None = None) -> dict[str, Any]:
    """Counts before/after in the place, its ring and the control; the exact test, the rate
    ratio, WDD/WDQ, the displacement check and (for an ``action``) the proposed light."""
    scope = get_scope(session, municipality_id=principal.municipality_id)
    before, after = windows(scope.grid, start=start, cycles=cycles, window=window, effect_from=effect_from)
    selection = counting.place_selection(session, scope=scope, categories=categories)
    span = scope.grid.span(after[-1], after[-1].index - before[0].index + 1)
    counts = counting.area_counts(session, place=place, cycles=span, selection=selection)
    pos = {c.index: i for i, c in enumerate(span)}

    def total(series, chosen: list[Cycle]) -> float:
        return float(sum(series[pos[c.index]] for c in chosen))

    t0, t1 = total(counts.target, before), total(counts.target, after)
    d0, d1 = total(counts.ring, before), total(counts.ring, after)
    ctl = counts.rest if control == "municipality" else counts.ring
    c0, c1 = total(ctl, before), total(ctl, after)
    target = effect.conditional_test(t0, t1, c0, c1)
    ratio = effect.rate_ratio(t0, t1, c0, c1)
    displacement = effect.conditional_test(d0, d1, c0, c1) if control == "municipality" else None
    out: dict[str, Any] = {
        "place_id": place.id, "start": start.isoformat(), "effect_from": (effect_from or start).isoformat(),
        "control": control, "window": window,
        "cycles_requested": cycles, "cycles_used": len(after), "categories": categories,
        "before": [cycle_json(c) for c in before], "after": [cycle_json(c) for c in after],
        "counts": {"target": [round(t0, 3), round(t1, 3)], "ring": [round(d0, 3), round(d1, 3)],
                   "control": [round(c0, 3), round(c1, 3)]},
        "series": [{"cycle": c.id, "target": round(float(counts.target[i]), 3), "ring": round(float(counts.ring[i]), 3),
                    "rest": round(float(counts.rest[i]), 3)} for i, c in enumerate(span)],
        "test": effect.as_dict(target), "rate_ratio": effect.as_dict(ratio),
        "displacement": effect.as_dict(displacement),
        "wdd": effect.as_dict(effect.wdd(t0, t1, d0, d1, c0, c1)) if control == "municipality" else None,
        "wdq": (lambda v: None if v is None else round(v, 6))(effect.wdq(t0, t1, d0, d1, c0, c1))
        if control == "municipality" else None,
        "ring_steps": counting.RING_STEPS[place.resolution],
    }
    if action is not None:
        light = effect.propose_light(carried_out=carried_out(action), target=target, ratio=ratio,
                                     displacement=displacement, due_passed=due_passed(action),
                                     status=action.status, due_date=action.due_date.isoformat())
        out["proposal"] = {"light": light.light, "reason": light.reason, "code": light.code, "values": light.values}
    return out


def carried_out(action: Action) -> bool:
    """Done, or a recurring action that is running (part of regular work)."""
    return action.status == "done" or (action.recurrence == "recurring" and action.status == "in_progress")


def due_passed(action: Action) -> bool:
    """The action's due date is behind us (one comparison for the window and the light)."""
    return action.due_date < local_today()


def in_place_from(action: Action) -> dt.date:
    """The day from which the action can work (see the module docstring): the start for a
    recurring action; the due date for a one-off carried out and due, else the start — the
    numbers so far, and for a one-off not carried out by its due date (red needs no "after"
    window: it must not wait a cycle for one)."""
    if action.recurrence == "one_off" and carried_out(action) and due_passed(action):
        return action.due_date
    return action.start_date


def action_follow_up(session: Session, *, principal: Principal, action_id: int, cycles: int, window: str,
                     control: str) -> dict[str, Any]:
    """The measured follow-up of an action with a traffic-light proposal (not stored)."""
    action = get_action(session, principal=principal, action_id=action_id)
    place = get_place(session, principal=principal, place_id=action.place_id)
    result = measure(session, principal=principal, place=place, start=action.start_date, cycles=cycles,
                     window=window, control=control, categories=list(action.categories),
                     effect_from=in_place_from(action), action=action)
    return {"action_id": action.id, "status": action.status, "recurrence": action.recurrence, **result}


def follow_up_json(f: FollowUp) -> dict[str, Any]:
    return {"id": f.id, "action_id": f.action_id, "meeting_id": f.meeting_id, "cycles": f.cycles, "window": f.window_kind,
            "proposed": f.proposed, "light": f.light, "overridden": f.light != f.proposed, "comment": f.comment,
            "confirmed_by": f.confirmed_by, "created_at": local_iso(f.created_at), "result": f.result}


def create_follow_up(session: Session, *, principal: Principal, action_id: int,
                     payload: FollowUpCreate) -> FollowUp:
    """Store a follow-up: compute it now, confirm the proposal or override it (with a comment)."""
    result = action_follow_up(session, principal=principal, action_id=action_id, cycles=payload.cycles,
                              window=payload.window, control=payload.control)
    proposed = result["proposal"]["light"]
    if proposed is None:
        raise InvalidInput(f"Action {action_id} is not done and not due until {result['proposal']['values']['due_date']}: "
                           "there is nothing to follow up yet; follow it up after the due date (or when it is done)",
                           errors=[{"field": "action_id", "message": "not due yet"}])
    light = payload.light or proposed
    if light != proposed and not (payload.comment or "").strip():
        raise InvalidInput(f"Overriding the proposed light ({proposed}) with {light} needs a comment saying why",
                           errors=[{"field": "comment", "message": "required when overriding"}])
    if payload.meeting_id is not None:
        if in_municipality(session, Meeting, payload.meeting_id, municipality_id=principal.municipality_id) is None:
            raise InvalidInput(f"No meeting {payload.meeting_id} in your municipality",
                               errors=[{"field": "meeting_id", "message": "unknown meeting"}])
    row = FollowUp(action_id=action_id, meeting_id=payload.meeting_id, cycles=result["cycles_used"],
                   window_kind=payload.window, result=result, proposed=proposed, light=light, comment=payload.comment,
                   confirmed_by=principal.user_id)
    session.add(row)
    session.flush()
    session.refresh(row)
    audit.record(session, principal=principal, entity="follow_up", entity_id=row.id, operation="create",
                 after=follow_up_audit(row))
    return row


def list_follow_ups(session: Session, *, principal: Principal, action_id: int) -> list[dict[str, Any]]:
    """An action's stored follow-ups, oldest first: the återkoppling over the cycles."""
    get_action(session, principal=principal, action_id=action_id)
    rows = session.scalars(select(FollowUp).where(FollowUp.action_id == action_id).order_by(FollowUp.id)).all()
    return [follow_up_json(f) for f in rows]


def place_effect(session: Session, *, principal: Principal, place_id: int, start: dt.date, cycles: int,
                 window: str, control: str, categories: list[str]) -> dict[str, Any]:
    """On-demand effect for any place and date (no action, so no traffic light)."""
    place = get_place(session, principal=principal, place_id=place_id)
    return measure(session, principal=principal, place=place, start=start, cycles=cycles, window=window,
                   control=control, categories=categories)
