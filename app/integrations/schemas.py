"""Request and response shapes for integrations: keys, event-type mappings and the events feed."""
from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.reports.schemas import Text


class ApiKeyRead(BaseModel):
    """A key as listed: never the key itself, only its first characters."""

    id: int
    prefix: str = Field(description="The key's first characters, to tell keys apart")
    label: str
    created_at: str = Field(description="Europe/Stockholm with offset, like every time shown")
    last_used_at: str | None = Field(description="Last authenticated request (to the minute)")
    revoked_at: str | None
    active: bool


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: Text = Field("", max_length=100, description="What the key is for, e.g. 'produktion 2026'")


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="The key. Shown this once; only its SHA-256 is stored")


class IntegrationRead(BaseModel):
    id: int
    name: str
    source: str = Field(description="The reports' source, integration:<name>")
    organisation: str
    active: bool
    initial_status: Literal["new", "verified"] = Field(description="What the integration's new reports start as")
    event_types_mapped: int
    keys: list[ApiKeyRead]


class IntegrationUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    initial_status: Literal["new", "verified"] | None = None
    active: bool | None = Field(None, description="false: every key of the integration stops working")


class EventTypeMappingWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_type: Text = Field(min_length=1, max_length=100, description="The source's own type, e.g. 'Brand i container'")
    category: Text = Field(min_length=1, max_length=50, description="Category code, see GET /api/v1/categories")


class EventTypeMappingRead(EventTypeMappingWrite):
    category_label: str


class FeedSummary(BaseModel):
    created: int
    updated: int
    unchanged: int
    rejected: int
    total: int
    linked: int = Field(description="Reports of other sources linked into incidents with this batch's new events")


class FeedResult(BaseModel):
    index: int = Field(description="Position of the item in the batch (0-based)")
    external_id: str | None
    status: Literal["created", "updated", "unchanged", "rejected"]
    id: uuid.UUID | None = Field(None, description="The report's id (not for rejected items)")
    reason: str | None = Field(None, description="Why the item was rejected")
    linked_reports: list[uuid.UUID] | None = Field(None, description="Reports linked into this event's incident")


class FeedResponse(BaseModel):
    summary: FeedSummary
    results: list[FeedResult]


EXAMPLE_BATCH = {
    "type": "FeatureCollection",
    "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [16.5098, 59.3712]},
         "properties": {"external_id": "RTJ-2026-004711", "event_type": "Brand i container",
                        "occurred_at": "2026-11-21T22:15:00+01:00", "description": "Container vid skolan"}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [585610, 6581999]},
         "properties": {"external_id": "RTJ-2026-004712", "event_type": "Brand i fordon", "crs": "EPSG:3006",
                        "occurred_from": "2026-11-21T23:00:00", "occurred_to": "2026-11-21T23:20:00"}},
    ],
}
EXAMPLE_CSV = ("external_id;event_type;occurred_at;x;y;crs;description\n"
               "RTJ-2026-004713;Brand i papperskorg;2026-11-22T01:10:00+01:00;585610;6581999;EPSG:3006;Papperskorg\n")
