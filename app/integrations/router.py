"""HTTP routes for integrations: the events feed (X-API-Key) and, for the coordinator, the
integrations, their keys (rotation) and their event-type mappings."""
from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request, Response

from app.auth.deps import RequireRole, SettingsDep
from app.auth.service import MODERATOR_ROLES, Principal
from app.db import RowId, SessionDep
from app.errors import Unauthenticated
from app.integrations import feed, service
from app.integrations.schemas import (
    EXAMPLE_BATCH, EXAMPLE_CSV, ApiKeyCreate, ApiKeyCreated, ApiKeyRead, EventTypeMappingRead,
    EventTypeMappingWrite, FeedResponse, IntegrationRead, IntegrationUpdate,
)
from app.middleware import require_json
from app.responses import gzipped_response

router = APIRouter(prefix="/api/v1/integrations", tags=["integrations"])
Coordinator = Annotated[Principal, Depends(RequireRole(MODERATOR_ROLES, "manage integrations"))]
JsonBody = Depends(require_json)


# X-API-Key has no registered HTTP authentication scheme; this names the header to send it in
# (RFC 9110 §11.6.1: a 401 carries a challenge that applies to the resource).
API_KEY_CHALLENGE = 'ApiKey realm="Lagesbild events feed", header="X-API-Key"'


def feed_client(
    session: SessionDep,
    api_key: Annotated[str | None, Header(alias="X-API-Key", description="The integration's API key")] = None,
) -> service.IntegrationClient:
    """The integration behind the X-API-Key; 401 otherwise, before a byte of the body is read."""
    try:
        if not api_key:
            raise Unauthenticated("Send the integration's API key in the X-API-Key header")
        return service.authenticate_key(session, key=api_key)
    except Unauthenticated as exc:
        exc.headers = {"WWW-Authenticate": API_KEY_CHALLENGE}
        raise


FeedClient = Annotated[service.IntegrationClient, Depends(feed_client)]


async def raw_body(request: Request, client: FeedClient) -> bytes:
    """The request body as bytes, read only once the key is known (so that nobody can make the
    server hold a 32 MB body without one), before the route runs in its worker thread."""
    return await request.body()


FEED_BODY = {"requestBody": {"required": True, "content": {
    "application/geo+json": {"schema": {"type": "object"}, "example": EXAMPLE_BATCH},
    "text/csv": {"schema": {"type": "string"}, "example": EXAMPLE_CSV},
}}}


@router.post("/events", response_model=FeedResponse, openapi_extra=FEED_BODY,
             summary="Push up to 10,000 events (X-API-Key): GeoJSON FeatureCollection or CSV; idempotent upsert "
                     "by external_id, one result per item")
def post_events(
    request: Request, session: SessionDep, settings: SettingsDep, client: FeedClient,
    body: Annotated[bytes, Depends(raw_body)],
    crs: Annotated[str | None, Query(description="CRS of items without their own crs: EPSG:4326 (default) "
                                                 "or EPSG:3006")] = None,
) -> Response:
    result = feed.ingest(session, client=client, body=body, content_type=request.headers.get("content-type", ""),
                         content_encoding=request.headers.get("content-encoding"), crs=crs, settings=settings)
    return gzipped_response(request, orjson.dumps(result), media_type="application/json")


@router.get("", response_model=list[IntegrationRead], summary="The municipality's integrations (coordinator)")
def list_integrations(principal: Coordinator, session: SessionDep) -> list[dict]:
    return service.list_integrations(session, principal=principal)


@router.patch("/{integration_id}", response_model=IntegrationRead, dependencies=[JsonBody],
              summary="Set what new events start as (new/verified), or switch an integration off (coordinator)")
def update_integration(integration_id: RowId, changes: IntegrationUpdate, principal: Coordinator,
                       session: SessionDep) -> dict:
    return service.update_integration(session, integration_id=integration_id, principal=principal,
                                      initial_status=changes.initial_status, active=changes.active)


@router.get("/{integration_id}/keys", response_model=list[ApiKeyRead], summary="An integration's keys, without "
            "secrets (coordinator)")
def list_keys(integration_id: RowId, principal: Coordinator, session: SessionDep) -> list[dict]:
    return service.list_keys(session, integration_id=integration_id, principal=principal)


@router.post("/{integration_id}/keys", status_code=201, response_model=ApiKeyCreated, dependencies=[JsonBody],
             summary="A new key, shown once (coordinator). Rotation: create, switch the system over, revoke the old")
def create_key(integration_id: RowId, payload: ApiKeyCreate, principal: Coordinator, session: SessionDep) -> dict:
    return service.create_key(session, integration_id=integration_id, label=payload.label, principal=principal)


@router.delete("/{integration_id}/keys/{key_id}", response_model=ApiKeyRead,
               summary="Revoke a key now (coordinator)")
def revoke_key(integration_id: RowId, key_id: RowId, principal: Coordinator, session: SessionDep) -> dict:
    return service.revoke_key(session, integration_id=integration_id, key_id=key_id, principal=principal)


@router.get("/{integration_id}/event-types", response_model=list[EventTypeMappingRead],
            summary="The integration's event types and their categories (coordinator)")
def get_event_types(integration_id: RowId, principal: Coordinator, session: SessionDep) -> list[dict]:
    return service.get_mapping(session, integration_id=integration_id, principal=principal)


@router.put("/{integration_id}/event-types", response_model=list[EventTypeMappingRead], dependencies=[JsonBody],
            summary="Replace the integration's event-type mapping (coordinator); applies to events that arrive next")
def set_event_types(integration_id: RowId, mapping: list[EventTypeMappingWrite], principal: Coordinator,
                    session: SessionDep) -> list[dict]:
    return service.set_mapping(session, integration_id=integration_id, principal=principal,
                               entries=[(m.event_type, m.category) for m in mapping])
