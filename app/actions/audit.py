"""The audit log of the EST loop: every create, update and delete of places, analysis notes,
actions, safety walks, follow-ups and meetings, with who, when and what changed."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.actions.models import AuditEntry
from app.actions.schemas import PERSONAL_TEXT
from app.auth.service import Principal
from app.timeutil import local_iso


def _plain(value: Any) -> Any:
    """A value as JSON can hold it (dates as ISO text)."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# Free text (cause-analysis notes, the minutes, comments, a safety walk's remarks, an action's
# what, goal and contact, a place's or walk's name) may name people: the log says that it changed,
# never what it said — as a report's history does — so that text taken out is gone, not kept
# here for ever: the texts checked for personal data, and the owner's contact.
FREE_TEXT = frozenset(PERSONAL_TEXT) | {"owner_contact"}
NOT_LOGGED = "(text not logged)"


def _without_text(value: Any) -> Any:
    """``value`` with the free text of any dict in it (a walk's remarks) replaced by :data:`NOT_LOGGED`."""
    if isinstance(value, dict):
        return {k: (NOT_LOGGED if k in FREE_TEXT and v else _without_text(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_text(v) for v in value]
    return value


def diff(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
    """Field -> [old, new] for every field that differs (``None`` on the missing side); a free-text
    field that differs -> ``True``."""
    before, after = before or {}, after or {}
    out: dict[str, Any] = {}
    for key in sorted(set(before) | set(after)):
        old, new = _plain(before.get(key)), _plain(after.get(key))
        if old != new:
            out[key] = True if key in FREE_TEXT else [_without_text(old), _without_text(new)]
    return out


def record(session: Session, *, principal: Principal, entity: str, entity_id: int, operation: str,
           before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> None:
    """Write one audit entry in the request's transaction (so a failed request leaves none);
    an update that changes nothing is not logged."""
    changes = diff(before, after)
    if operation == "update" and not changes:
        return
    session.add(AuditEntry(municipality_id=principal.municipality_id, user_id=principal.user_id,
                           username=principal.username, entity=entity, entity_id=entity_id,
                           operation=operation, changes=changes))
    session.flush()


def list_audit(session: Session, *, municipality_id: int, entity: str | None, entity_id: int | None,
               limit: int, before_id: int | None) -> dict[str, Any]:
    """The municipality's audit entries, newest first; ``before_id`` pages backwards."""
    query = select(AuditEntry).where(AuditEntry.municipality_id == municipality_id)
    if entity:
        query = query.where(AuditEntry.entity == entity)
    if entity_id is not None:
        query = query.where(AuditEntry.entity_id == entity_id)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    rows = session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit + 1)).all()
    items = [{"id": r.id, "at": local_iso(r.at), "user": r.username, "entity": r.entity,
              "entity_id": r.entity_id, "operation": r.operation, "changes": r.changes} for r in rows[:limit]]
    return {"items": items, "next_before_id": rows[limit - 1].id if len(rows) > limit else None}
