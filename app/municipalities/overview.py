"""What an installation holds, for the operator (``python -m app.manage list``): each kommun
with its organisations, users and integrations, and how many reports it has.

Read-only. Nothing secret is read: no password hashes, no key hashes (keys are counted and
their last use shown), no report contents.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.models import ReadingKey, User
from app.integrations.models import ApiKey, EventTypeMapping, Integration
from app.municipalities.models import Municipality, Organisation
from app.municipalities.service import get_municipality
from app.reports.models import Report


@dataclass(frozen=True)
class UserLine:
    username: str
    display_name: str
    role: str
    organisation: str
    active: bool
    reading_keys: int  # neither revoked nor expired: each reads like a password until then
    key_last_used: dt.datetime | None
    id: int  # as the access log names the user (user:<id>)


@dataclass(frozen=True)
class IntegrationLine:
    name: str
    organisation: str
    active: bool
    initial_status: str
    keys: int  # not revoked
    key_last_used: dt.datetime | None  # the latest use of any of its keys
    mapped_types: int
    id: int  # as the access log names the integration (integration:<id>)


@dataclass(frozen=True)
class MunicipalityOverview:
    code: str
    name: str
    cycle_days: int
    cycle_anchor: dt.date
    reports: int
    organisations: list[tuple[str, str, int]]  # (name, kind, users)
    users: list[UserLine]
    integrations: list[IntegrationLine]


def overview(session: Session, *, code: str | None = None) -> list[MunicipalityOverview]:
    """Every municipality by kommunkod, or only ``code`` (NotFound naming those there are)."""
    if code is not None:
        municipalities = [get_municipality(session, code=code)]
    else:
        municipalities = list(session.scalars(select(Municipality).order_by(Municipality.code)))
    return [_one(session, m) for m in municipalities]


def _one(session: Session, muni: Municipality) -> MunicipalityOverview:
    reports = session.scalar(select(func.count()).select_from(Report).where(Report.municipality_id == muni.id))
    users_per_org = (select(User.organisation_id, func.count().label("n")).group_by(User.organisation_id)
                     .subquery())
    organisations = [tuple(row) for row in session.execute(
        select(Organisation.name, Organisation.kind, func.coalesce(users_per_org.c.n, 0))
        .outerjoin(users_per_org, users_per_org.c.organisation_id == Organisation.id)
        .where(Organisation.municipality_id == muni.id).order_by(Organisation.name))]
    live_keys = (select(ReadingKey.user_id, func.count().label("n"), func.max(ReadingKey.last_used_at).label("last"))
                 .where(ReadingKey.revoked_at.is_(None), ReadingKey.expires_at > func.now())
                 .group_by(ReadingKey.user_id).subquery())
    users = [UserLine(*row) for row in session.execute(
        select(User.username, User.display_name, User.role, Organisation.name, User.active,
               func.coalesce(live_keys.c.n, 0), live_keys.c.last, User.id)
        .join(Organisation, Organisation.id == User.organisation_id)
        .outerjoin(live_keys, live_keys.c.user_id == User.id)
        .where(Organisation.municipality_id == muni.id).order_by(User.username))]
    keys = (select(ApiKey.integration_id, func.count().label("n"), func.max(ApiKey.last_used_at).label("last"))
            .where(ApiKey.revoked_at.is_(None)).group_by(ApiKey.integration_id).subquery())
    mapped = (select(EventTypeMapping.integration_id, func.count().label("n"))
              .group_by(EventTypeMapping.integration_id).subquery())
    integrations = [IntegrationLine(*row) for row in session.execute(
        select(Integration.name, Organisation.name, Integration.active, Integration.initial_status,
               func.coalesce(keys.c.n, 0), keys.c.last, func.coalesce(mapped.c.n, 0), Integration.id)
        .join(Organisation, Organisation.id == Integration.organisation_id)
        .outerjoin(keys, keys.c.integration_id == Integration.id)
        .outerjoin(mapped, mapped.c.integration_id == Integration.id)
        .where(Integration.municipality_id == muni.id).order_by(Integration.name))]
    return MunicipalityOverview(code=muni.code, name=muni.name, cycle_days=muni.cycle_days,
                                cycle_anchor=muni.cycle_anchor, reports=reports or 0, organisations=organisations,
                                users=users, integrations=integrations)
