"""API-key authentication for integration clients (the rescue service's system, say)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.errors import Unauthenticated
from app.integrations.models import ApiKey, Integration
from app.municipalities.models import Organisation
from app.timeutil import utcnow


@dataclass(frozen=True)
class IntegrationClient:
    """An authenticated integration: whose reports it files, and under which source name."""

    integration_id: int
    name: str
    municipality_id: int
    organisation_id: int
    organisation_name: str
    organisation_kind: str

    @property
    def source(self) -> str:
        return f"integration:{self.name}"


def key_digest(key: str) -> str:
    """How API keys are stored and looked up: SHA-256 hex of the key."""
    return hashlib.sha256(key.encode()).hexdigest()


def authenticate_key(session: Session, *, key: str) -> IntegrationClient:
    """The active integration behind a (non-revoked) API key; records when the key was last used."""
    row = session.execute(
        select(ApiKey.id, Integration.id, Integration.name, Integration.municipality_id, Organisation.id,
               Organisation.name, Organisation.kind)
        .join(Integration, Integration.id == ApiKey.integration_id)
        .join(Organisation, Organisation.id == Integration.organisation_id)
        .where(ApiKey.key_sha256 == key_digest(key), ApiKey.revoked_at.is_(None), Integration.active.is_(True))
    ).first()
    if row is None:
        raise Unauthenticated("The API key is not valid, or it was revoked")
    session.execute(update(ApiKey).where(ApiKey.id == row[0]).values(last_used_at=utcnow()))
    return IntegrationClient(integration_id=row[1], name=row[2], municipality_id=row[3], organisation_id=row[4],
                             organisation_name=row[5], organisation_kind=row[6])
