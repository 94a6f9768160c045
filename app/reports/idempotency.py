"""Idempotency-Key handling: a retried request returns the first response and stores nothing new.

The record is claimed *first* with INSERT ... ON CONFLICT DO NOTHING, in the same
transaction as the work. A concurrent retry with the same key blocks on the unique key
until the first commits, then finds the stored response; if the first fails, its claim
rolls back with its work and the retry proceeds as new.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from app.errors import InvalidInput
from app.reports.models import IdempotencyRecord

KEY_MIN, KEY_MAX = 8, 200


def request_fingerprint(payload: Any) -> str:
    """SHA-256 over the canonical JSON of the request body."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _as_is(body: dict[str, Any]) -> dict[str, Any]:
    return body


def run_once(session: Session, *, scope: str, key: str | None, fingerprint: str, status_code: int,
             work: Callable[[], dict[str, Any]], keep: Callable[[dict[str, Any]], dict[str, Any]] = _as_is,
             replay: Callable[[dict[str, Any]], dict[str, Any]] = _as_is) -> tuple[int, dict[str, Any], bool]:
    """Run ``work`` once per (scope, key); returns (status, body, replayed).

    What is stored of the first answer is ``keep(body)`` and a retry gets ``replay(kept)``: a
    report keeps only its id and is answered as it is now, so that no second copy of its text and
    position outlives a correction (personal data taken out by the coordinator stays out)."""
    if key is None:
        return status_code, work(), False
    if not (KEY_MIN <= len(key) <= KEY_MAX) or not key.isprintable():
        raise InvalidInput(f"Idempotency-Key must be {KEY_MIN}-{KEY_MAX} printable characters (a UUID is ideal)",
                           errors=[{"field": "Idempotency-Key", "message": "invalid length"}])
    claimed = session.execute(
        insert(IdempotencyRecord)
        .values(scope=scope, key=key, request_sha256=fingerprint, status_code=0, response={})
        .on_conflict_do_nothing()
        .returning(IdempotencyRecord.key)
    ).first()
    if claimed is None:
        record = session.scalar(select(IdempotencyRecord).where(IdempotencyRecord.scope == scope,
                                                                IdempotencyRecord.key == key))
        if record.request_sha256 != fingerprint:
            raise InvalidInput("This Idempotency-Key was already used for a different request; "
                               "use a new key for a new report",
                               errors=[{"field": "Idempotency-Key", "message": "reused with another body"}])
        return record.status_code, replay(record.response), True
    body = work()
    record = session.get(IdempotencyRecord, (scope, key))
    record.status_code = status_code
    record.response = keep(body)
    session.flush()
    return status_code, body, False
