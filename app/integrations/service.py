"""Integrations: API-key authentication, key rotation by the coordinator, and the mapping from
each system's own event types to the municipality's EST categories."""
from __future__ import annotations

import datetime as dt
import logging
import re
import unicodedata
from dataclasses import dataclass

from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import caller
from app.actions import audit
# Made, stored and their use recorded like users' reading keys (last_used_at at most once a
# minute and never waiting: a busy feed would otherwise update, and lock, the same row each time).
from app.auth.keys import PREFIX_CHARS as KEY_PREFIX_CHARS, key_digest, new_secret, record_use
from app.auth.service import Principal
from app.config import DEMO_API_KEY, get_settings
from app.db import in_municipality_or_404
from app.errors import Conflict, InvalidInput, NotFound, Unauthenticated, summarise
from app.integrations.models import INITIAL_STATUSES, ApiKey, EventTypeMapping, Integration
from app.municipalities.models import Organisation
from app.reports.models import EXTERNAL_ID_INDEX, Category
from app.timeutil import local_iso, utcnow

log = logging.getLogger("lagesbild.integrations")

INTEGRATION_NAME = r"[a-z0-9][a-z0-9_-]{0,63}"


@dataclass(frozen=True)
class IntegrationClient:
    """An authenticated integration: whose reports it files, and under which source name."""

    integration_id: int
    name: str
    municipality_id: int
    organisation_id: int
    organisation_name: str
    organisation_kind: str
    initial_status: str = "new"

    @property
    def source(self) -> str:
        return f"integration:{self.name}"


INTEGRATION_KEY_PREFIX = "lgb_"  # reading keys start "lbr_" (app.auth.keys)

def authenticate_key(session: Session, *, key: str) -> IntegrationClient:
    """The active integration behind a (non-revoked) API key; records when the key was last
    used (to the minute)."""
    key_id, last_used_at, client = find_key(session, key=key)
    caller.note(f"integration:{client.integration_id}")
    record_use(session, ApiKey, key_id, last_used_at)
    return client


def find_key(session: Session, *, key: str) -> tuple[int, dt.datetime | None, IntegrationClient]:
    """The (non-revoked) key's id, when it was last used, and its active integration, without
    recording the use (a read-only route that refuses integration keys); 401 when unknown, and
    for the demo data's key outside demo mode (the log tells the operator to rotate it)."""
    row = session.execute(
        select(ApiKey.id, ApiKey.last_used_at, Integration.id, Integration.name, Integration.municipality_id,
               Organisation.id, Organisation.name, Organisation.kind, Integration.initial_status, Integration.active)
        .join(Integration, Integration.id == ApiKey.integration_id)
        .join(Organisation, Organisation.id == Integration.organisation_id)
        .where(ApiKey.key_sha256 == key_digest(key), ApiKey.revoked_at.is_(None))
    ).first()
    if row is not None and not get_settings().demo_mode and key == DEMO_API_KEY:
        log.warning("API key refused: integration:%s still has the demo data's key (key:%s), which is not accepted "
                    "outside demo mode. Rotate it: a new key with POST /api/v1/integrations/%s/keys (or the meeting "
                    "map, panel Integrationer), then revoke this one with DELETE /api/v1/integrations/%s/keys/%s",
                    row[2], row[0], row[2], row[2], row[0])
        row = None
    if row is None:
        raise Unauthenticated("The API key is not valid, or it was revoked")
    if not row.active:  # a valid key: saying so spares the system's owner a needless key rotation
        raise Unauthenticated(f"The integration '{row.name}' is switched off by the municipality's EST coordinator "
                              "(panel Integrationer on the meeting map); its keys work again when it is switched on")
    return row[0], row[1], IntegrationClient(integration_id=row[2], name=row[3], municipality_id=row[4],
                                             organisation_id=row[5], organisation_name=row[6],
                                             organisation_kind=row[7], initial_status=row[8])


def duplicate_external_id(exc: IntegrityError) -> bool:
    """Whether a failed write broke the unique index of (municipality, source, external_id) on
    report (app.reports.models.EXTERNAL_ID_INDEX), and not another constraint."""
    return getattr(getattr(exc.orig, "diag", None), "constraint_name", None) == EXTERNAL_ID_INDEX


# pg_advisory_xact_lock(class, integration id): one writer of an integration's external ids at a time.
EXTERNAL_IDS_LOCK_CLASS = 7101


def lock_external_ids(session: Session, *, integration_id: int) -> None:
    """Until the transaction ends, be the only writer of this integration's external ids (a feed
    batch, or a single report with an ``external_id``): a batch then classifies every event
    against what is committed, and inserts its new ones without conflicts."""
    session.execute(text("SELECT pg_advisory_xact_lock(:c, :i)"), {"c": EXTERNAL_IDS_LOCK_CLASS, "i": integration_id})


def normalise_event_type(value: str) -> str:
    """The key event types are matched on: 'Brand ute – övrigt', 'brand ute - Övrigt' and
    'BRAND UTE-ÖVRIGT' are one type (Unicode form, case, dashes and spacing ignored)."""
    text = unicodedata.normalize("NFKC", value).casefold()
    text = re.sub(r"[\u2010-\u2015\u2212]", "-", text)
    text = re.sub(r"\s*([-/])\s*", r"\1", text)
    return " ".join(text.split())


def list_integrations(session: Session, *, principal: Principal) -> list[dict]:
    """The municipality's integrations with their keys (never the keys themselves) and how many
    event types each maps."""
    integrations = session.scalars(select(Integration).where(Integration.municipality_id == principal.municipality_id)
                                   .order_by(Integration.name)).all()
    return [read_integration(session, integration=integration, principal=principal) for integration in integrations]


def read_integration(session: Session, *, integration: Integration, principal: Principal) -> dict:
    """One integration as the coordinator sees it (keys without secrets, mapped event types counted)."""
    mapped = session.scalar(select(func.count()).select_from(EventTypeMapping)
                            .where(EventTypeMapping.integration_id == integration.id))
    organisation = session.get(Organisation, integration.organisation_id)
    return {"id": integration.id, "name": integration.name, "source": f"integration:{integration.name}",
            "organisation": organisation.name, "active": integration.active,
            "initial_status": integration.initial_status, "event_types_mapped": mapped,
            "keys": list_keys(session, integration_id=integration.id, principal=principal)}


def get_integration(session: Session, *, integration_id: int, principal: Principal) -> Integration:
    """One of the principal's municipality's integrations (404 otherwise)."""
    return in_municipality_or_404(session, Integration, integration_id, municipality_id=principal.municipality_id,
                                  what="integration")


def update_integration(session: Session, *, integration_id: int, principal: Principal,
                       initial_status: str | None, active: bool | None) -> dict:
    """Set what new events start as, or switch the integration off (its keys then stop working);
    the integration as :func:`read_integration` gives it."""
    integration = get_integration(session, integration_id=integration_id, principal=principal)
    before = {"initial_status": integration.initial_status, "active": integration.active}
    if initial_status is not None:
        integration.initial_status = initial_status
    if active is not None:
        integration.active = active
    session.flush()
    # what a source's events count as changes the situation picture: who changed it is kept
    audit.record(session, principal=principal, entity="integration", entity_id=integration.id, operation="update",
                 before=before, after={"initial_status": integration.initial_status, "active": integration.active})
    return read_integration(session, integration=integration, principal=principal)


def list_keys(session: Session, *, integration_id: int, principal: Principal) -> list[dict]:
    """An integration's keys, newest first, without secrets: prefix, label, created, last used, revoked."""
    get_integration(session, integration_id=integration_id, principal=principal)
    keys = session.scalars(select(ApiKey).where(ApiKey.integration_id == integration_id)
                           .order_by(ApiKey.created_at.desc(), ApiKey.id.desc())).all()
    return [_key_read(k) for k in keys]


def _key_read(key: ApiKey) -> dict:
    return {"id": key.id, "prefix": key.prefix, "label": key.label, "created_at": local_iso(key.created_at),
            "last_used_at": local_iso(key.last_used_at), "revoked_at": local_iso(key.revoked_at),
            "active": key.revoked_at is None}


def create_key(session: Session, *, integration_id: int, label: str, principal: Principal) -> dict:
    """A new key for the integration: returned once, stored only as its SHA-256."""
    get_integration(session, integration_id=integration_id, principal=principal)
    return add_key(session, integration_id=integration_id, label=label, created_by=principal.user_id)


def add_key(session: Session, *, integration_id: int, label: str, created_by: int | None) -> dict:
    """:func:`create_key` without the permission check (the operator's command, app/manage.py)."""
    secret = new_secret(INTEGRATION_KEY_PREFIX)
    key = ApiKey(integration_id=integration_id, key_sha256=key_digest(secret), prefix=secret[:KEY_PREFIX_CHARS],
                 label=label, created_by=created_by, created_at=utcnow())
    session.add(key)
    session.flush()
    return {**_key_read(key), "key": secret}


def revoke_key(session: Session, *, integration_id: int, key_id: int, principal: Principal) -> dict:
    """Revoke a key now: the next request with it gets 401. Revoking twice is refused (409)."""
    get_integration(session, integration_id=integration_id, principal=principal)
    key = session.get(ApiKey, key_id)
    if key is None or key.integration_id != integration_id:
        raise NotFound(f"No key {key_id} for integration {integration_id}")
    if key.revoked_at is not None:
        raise Conflict(f"Key {key_id} was already revoked at {local_iso(key.revoked_at)}")
    key.revoked_at, key.revoked_by = utcnow(), principal.user_id
    session.flush()
    return _key_read(key)


def get_mapping(session: Session, *, integration_id: int, principal: Principal) -> list[dict]:
    """The integration's event types and the category each files under, alphabetically."""
    get_integration(session, integration_id=integration_id, principal=principal)
    rows = session.execute(select(EventTypeMapping.event_type, Category.code, Category.label_sv)
                           .join(Category, Category.id == EventTypeMapping.category_id)
                           .where(EventTypeMapping.integration_id == integration_id)
                           .order_by(EventTypeMapping.type_key)).all()
    return [{"event_type": t, "category": code, "category_label": label} for t, code, label in rows]


def set_mapping(session: Session, *, integration_id: int, entries: list[tuple[str, str]],
                principal: Principal) -> list[dict]:
    """Replace the integration's mapping with ``entries`` of (event type, category code).

    Events already filed keep their category; the new mapping applies to what arrives next
    (including updates of earlier events)."""
    integration = get_integration(session, integration_id=integration_id, principal=principal)
    before = get_mapping(session, integration_id=integration_id, principal=principal)
    replace_mapping(session, integration=integration, entries=entries, updated_by=principal.user_id)
    after = get_mapping(session, integration_id=integration_id, principal=principal)
    audit.record(session, principal=principal, entity="integration", entity_id=integration.id, operation="update",
                 before={"event_types": _as_map(before)}, after={"event_types": _as_map(after)})
    return after


def _as_map(mapping: list[dict]) -> dict[str, str]:
    return {m["event_type"]: m["category"] for m in mapping}


TYPE_KEY_CHARS = EventTypeMapping.__table__.c.type_key.type.length


def replace_mapping(session: Session, *, integration: Integration, entries: list[tuple[str, str]],
                    updated_by: int | None) -> None:
    """:func:`set_mapping` without the permission check; InvalidInput (nothing changed) when an
    entry is empty, repeats another, or names a category the municipality does not have."""
    categories = dict(session.execute(select(Category.code, Category.id)
                                      .where(Category.municipality_id == integration.municipality_id,
                                             Category.active.is_(True))).all())
    seen: dict[str, str] = {}
    errors = []
    for i, (event_type, code) in enumerate(entries):
        key = normalise_event_type(event_type)
        if not key:
            errors.append({"field": f"{i}.event_type", "message": "empty event type"})
        elif len(key) > TYPE_KEY_CHARS:  # Unicode normalisation can lengthen it (ligatures)
            errors.append({"field": f"{i}.event_type",
                           "message": f"longer than {TYPE_KEY_CHARS} characters once normalised"})
        elif key in seen:
            errors.append({"field": f"{i}.event_type",
                           "message": f"{event_type!r} is the same type as {seen[key]!r} (case, dashes and "
                                      "spacing are ignored)"})
        seen.setdefault(key, event_type)
        if code not in categories:
            errors.append({"field": f"{i}.category", "message": f"unknown category {code!r}"})
    if errors:
        raise InvalidInput("The mapping has errors; nothing was changed: " + summarise(errors), errors=errors)
    # One replacement at a time: two at once would both delete, then insert the same keys (a 500).
    session.execute(select(Integration.id).where(Integration.id == integration.id).with_for_update(key_share=True))
    session.execute(delete(EventTypeMapping).where(EventTypeMapping.integration_id == integration.id))
    now = utcnow()
    session.add_all(EventTypeMapping(integration_id=integration.id, type_key=normalise_event_type(t),
                                     event_type=t.strip(), category_id=categories[c], updated_at=now,
                                     updated_by=updated_by) for t, c in entries)
    session.flush()


def create_integration(session: Session, *, municipality_id: int, organisation_id: int, name: str,
                       initial_status: str = "new", event_types: list[tuple[str, str]] | None = None
                       ) -> tuple[Integration, dict]:
    """A new integration of the organisation (the operator's command, app/manage.py), its first
    key (returned once, as from :func:`create_key`) and, optionally, its mapping of ``event_types``
    (event type, category code). Its reports carry ``source = integration:<name>``, so the name
    is short and plain; Conflict when the municipality has one of that name already."""
    if not re.fullmatch(INTEGRATION_NAME, name):
        raise InvalidInput(f"An integration's name is 1-64 lower-case letters a-z, digits, '-' or '_', starting "
                           f"with a letter or digit (its reports' source is integration:<name>); got {name!r}")
    if initial_status not in INITIAL_STATUSES:
        raise InvalidInput(f"initial status must be one of {', '.join(INITIAL_STATUSES)}; got {initial_status!r}")
    if session.scalar(select(Integration.id).where(Integration.municipality_id == municipality_id,
                                                   Integration.name == name)):
        raise Conflict(f"The municipality already has an integration {name!r}; the coordinator makes new keys for "
                       "it on the meeting map (Integrationer) or with POST /api/v1/integrations/{id}/keys")
    integration = Integration(municipality_id=municipality_id, organisation_id=organisation_id, name=name,
                              initial_status=initial_status)
    session.add(integration)
    session.flush()
    if event_types:
        replace_mapping(session, integration=integration, entries=event_types, updated_by=None)
    key = add_key(session, integration_id=integration.id, label="made with app.manage integration", created_by=None)
    return integration, key


def mapping_lookup(session: Session, *, integration_id: int) -> dict[str, int]:
    """Normalised event type -> category id, for the feed."""
    return dict(session.execute(select(EventTypeMapping.type_key, EventTypeMapping.category_id)
                                .join(Category, Category.id == EventTypeMapping.category_id)
                                .where(EventTypeMapping.integration_id == integration_id,
                                       Category.active.is_(True))).all())
