"""Återkoppling to the reporters: what came of the reports this cycle, as aggregates only.

A reporter sees their own count and municipality-wide totals; never another reporter's
reports, names or places of individual reports."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.actions.models import Action, FollowUp
from app.auth.service import Principal
from app.hotspots.service import cycle_json, get_scope
from app.reports.models import Report


def get_feedback(session: Session, *, principal: Principal, cycle_ref: str) -> dict[str, Any]:
    """For the cycle: my reports (by when they were sent), all reports in the municipality,
    places with actions running in the cycle, actions done, follow-ups with a green light."""
    scope = get_scope(session, municipality_id=principal.municipality_id)
    cycle = scope.grid.resolve(cycle_ref)
    muni = principal.municipality_id
    sent = (Report.municipality_id == muni, Report.reported_at >= cycle.start, Report.reported_at < cycle.end)
    mine = session.scalar(select(func.count()).select_from(Report).where(*sent, Report.reporter_id == principal.user_id))
    everyone = session.scalar(select(func.count()).select_from(Report).where(*sent))
    running = (Action.municipality_id == muni, Action.start_date <= cycle.last_day,
               Action.due_date >= cycle.first_day, Action.status.in_(("in_progress", "done")))
    places = session.scalar(select(func.count(func.distinct(Action.place_id))).where(*running))
    done = session.scalar(select(func.count()).select_from(Action).where(*running, Action.status == "done"))
    green = session.scalar(select(func.count()).select_from(FollowUp).join(Action, Action.id == FollowUp.action_id)
                           .where(Action.municipality_id == muni, FollowUp.light == "green",
                                  FollowUp.created_at >= cycle.start, FollowUp.created_at < cycle.end))
    return {"cycle": cycle_json(cycle), "my_reports": mine, "all_reports": everyone, "places_acted_upon": places,
            "actions_done": done, "follow_ups_green": green}
