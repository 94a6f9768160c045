"""Request and response shapes for reports; responses are RFC 7946 GeoJSON ([lon, lat])."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

DESCRIPTION_MAX_CHARS = 2000  # our own forms and the API's
# The longest description a report can have: an Open311 app's (GeoReport v2 allows 4,000 characters;
# the column is text). The coordinator rewrites any of them to take personal data out.
STORED_DESCRIPTION_MAX_CHARS = 4000
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]


def is_unicode(text: str) -> bool:
    """Whether ``text`` has a UTF-8 form (JSON's "\\ud800" escape decodes to a lone UTF-16
    surrogate, which has none, and PostgreSQL cannot store it)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _storable_text(value: str) -> str:
    """Text PostgreSQL can store: no NUL, and valid Unicode (:func:`is_unicode`)."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if not is_unicode(value):
        raise ValueError("must be valid Unicode text (it contains an unpaired surrogate such as \\ud800)")
    return value


def _plausible_time(value: dt.date) -> dt.date:
    """Times and days from 1970 to 2100: beyond, date arithmetic (cycles, time zones) overflows."""
    if not 1970 <= value.year <= 2100:
        raise ValueError("must be between the years 1970 and 2100")
    return value


Text = Annotated[str, AfterValidator(_storable_text)]
When = Annotated[dt.datetime, AfterValidator(_plausible_time)]
Day = Annotated[dt.date, AfterValidator(_plausible_time)]  # a local calendar day


class ReportCreate(BaseModel):
    """A new report. Position as ``lat``/``lon`` (WGS84) or ``x``/``y`` with ``crs`` "EPSG:3006"
    (SWEREF 99 TM, metres). Times without an offset are Swedish local time; leave both out for
    "now", give only ``occurred_from`` for a known moment, or both for a window."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"category": "klotter", "lat": 59.3706, "lon": 16.5106, "description": "Klotter på busskuren"},
        {"category": "skadegorelse", "x": 585610, "y": 6581999, "crs": "EPSG:3006",
         "occurred_from": "2026-11-20T22:00:00+01:00", "occurred_to": "2026-11-21T06:30:00+01:00"},
    ]})

    category: Text = Field(min_length=1, max_length=50, description="Category code, see GET /api/v1/categories")
    lat: Annotated[Number, Field(ge=-90, le=90)] | None = None
    lon: Annotated[Number, Field(ge=-180, le=180)] | None = None
    x: Number | None = Field(None, description="Easting in metres (with crs EPSG:3006)")
    y: Number | None = Field(None, description="Northing in metres (with crs EPSG:3006)")
    crs: str | None = Field(None, description="EPSG:4326 (default) or EPSG:3006")
    occurred_from: When | None = None
    occurred_to: When | None = None
    description: Text = Field("", max_length=DESCRIPTION_MAX_CHARS)
    place: Text | None = Field(None, max_length=200, description="Optional place name, e.g. 'Fristadstorget'")
    confirm_personal_data: bool = Field(False, description="Send true after a 422 'personal-data' answer when the "
                                                           "description really must contain a personnummer or a "
                                                           "phone number")
    external_id: Text | None = Field(None, min_length=1, max_length=200,
                                    description="The source system's own id (integrations only); unique per source")

    @model_validator(mode="after")
    def _one_position(self) -> "ReportCreate":
        has_latlon = self.lat is not None or self.lon is not None
        has_xy = self.x is not None or self.y is not None
        if has_latlon and has_xy:
            raise ValueError("give either lat/lon or x/y with crs, not both")
        if has_latlon and (self.lat is None or self.lon is None):
            raise ValueError("both lat and lon are required")
        if has_xy and (self.x is None or self.y is None):
            raise ValueError("both x and y are required")
        if not has_latlon and not has_xy:
            raise ValueError("a position is required: lat/lon (WGS84) or x/y with crs EPSG:3006")
        return self


class PublicReportCreate(ReportCreate):
    """An anonymous citizen report; ``municipality`` (kommunkod) may be left out when the
    service runs a single municipality."""

    municipality: str | None = Field(None, pattern=r"^[0-9]{4}$")


class ReportUpdate(BaseModel):
    """Moderation by the coordinator: status, a category fix, a note; and the description or
    place rewritten to take out personal data (the history records that they changed, never
    the text)."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["new", "verified", "rejected", "duplicate"] | None = None
    category: Text | None = Field(None, min_length=1, max_length=50)
    duplicate_of: uuid.UUID | None = None
    moderation_note: Text | None = Field(None, max_length=2000)
    description: Text | None = Field(None, max_length=STORED_DESCRIPTION_MAX_CHARS,
                                     description="The description with personal data taken out")
    place: Text | None = Field(None, max_length=200, description="The place with personal data taken out ('' for none)")


class PointGeometry(BaseModel):
    type: Literal["Point"] = "Point"
    coordinates: tuple[float, float]


class CitizenReportProperties(BaseModel):
    """A report's properties as an anonymous citizen gets them back: no source, organisation or
    incident links (they would tell whether the rescue service was called out nearby)."""

    category: str
    category_label: str
    category_group: str
    occurred_from: str
    occurred_to: str
    reported_at: str
    description: str
    place: str | None
    status: str
    mine: bool
    h3_r9: str
    attachments: list[str] = []
    event_type: str | None = Field(None, description="An integration's own event type, as sent")
    external_id: str | None = Field(None, description="An integration's own id of the event (the rescue service's "
                                                      "call-out number)")


class ReportProperties(CitizenReportProperties):
    source: str
    organisation: str | None
    organisation_kind: str | None
    incident_of: uuid.UUID | None = Field(None, description="The primary report of the incident this report is "
                                                            "linked into (then it is not counted again)")
    linked_reports: list[uuid.UUID] = Field([], description="Reports of other sources linked to this one")


class PublicReportFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: uuid.UUID
    geometry: PointGeometry
    properties: CitizenReportProperties


class ReportFeature(PublicReportFeature):
    properties: ReportProperties


class Link(BaseModel):
    href: str
    rel: str
    type: str = "application/geo+json"


class ReportCollection(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[ReportFeature]
    numberMatched: int
    numberReturned: int
    timeStamp: str
    links: list[Link]
    crs: dict[str, Any] | None = None


class CategoryRead(BaseModel):
    code: str
    label_sv: str
    label_en: str
    group: str
    colour: str
    icon: str


class ReportHistoryEntry(BaseModel):
    at: str
    action: str = Field(description="moderate, feed_update, link, unlink")
    by: str | None = Field(description="The user; none for the system (the feed, automatic links)")
    changes: dict[str, Any] = Field(description="field: [old, new], and for links the distance and time apart")


class AttachmentRead(BaseModel):
    id: uuid.UUID
    report_id: uuid.UUID
    content_type: str
    bytes: int
    width: int
    height: int
    href: str
