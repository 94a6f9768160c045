"""The Open311 GeoReport v2 service request form (``POST requests.json``), field names as the spec has them."""
from __future__ import annotations

from typing import Any

from fastapi import UploadFile
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.reports.schemas import STORED_DESCRIPTION_MAX_CHARS, ReportCreate, Text, When

# The spec's limit on a request's description; our own forms keep DESCRIPTION_MAX_CHARS (2,000),
# and the column (text) holds either.
OPEN311_DESCRIPTION_MAX_CHARS = STORED_DESCRIPTION_MAX_CHARS

# Fields the spec (or a common app) sends that name or track a person: dropped as the form is read,
# so that they are neither stored nor logged nor echoed in an error. ``deviceid`` and ``devide_id``
# are how the Bloomington GeoReporter apps spell ``device_id``.
PERSONAL_FIELDS = frozenset({"email", "first_name", "last_name", "phone", "device_id", "deviceid", "devide_id",
                             "account_id"})


class Open311ReportCreate(ReportCreate):
    """A report from an Open311 app: as any other, with the spec's longer description."""

    description: Text = Field("", max_length=OPEN311_DESCRIPTION_MAX_CHARS)


class Open311RequestForm(BaseModel):
    """``application/x-www-form-urlencoded`` (or ``multipart/form-data``) fields of a new service request.

    The personal fields the spec allows (:data:`PERSONAL_FIELDS`: email, names, phone, device and
    account ids) are accepted so that existing apps work, and dropped unread: EST reports carry no
    personal data. ``media`` is a photo as a file part of a multipart form; ``media_url`` is not
    fetched. Attributes (see ``services/{code}.json``) are ``attribute[occurred_from]`` and
    ``attribute[occurred_to]``; any other field is refused by name. An empty field counts as absent
    (the spec's "optional"). ``confirm_personal_data`` is ours, as on ``POST /api/v1/reports``.
    """

    model_config = ConfigDict(extra="forbid")

    api_key: str | None = None
    jurisdiction_id: str | None = None
    service_code: Text = Field(min_length=1, max_length=50)
    lat: float | None = Field(None, ge=-90, le=90, allow_inf_nan=False)
    long: float | None = Field(None, ge=-180, le=180, allow_inf_nan=False)
    address_string: Text | None = Field(None, max_length=200, description="stored as the report's place")
    address_id: str | None = None
    description: Text | None = Field(None, max_length=OPEN311_DESCRIPTION_MAX_CHARS)
    media: UploadFile | str | None = Field(None, description="a photo (a file part of multipart/form-data)")
    media_url: str | None = None
    confirm_personal_data: bool = Field(False, description="our extension: true after a 400 saying the description "
                                                         "looks like a personnummer or phone number, to keep it")
    occurred_from: When | None = Field(None, alias="attribute[occurred_from]")
    occurred_to: When | None = Field(None, alias="attribute[occurred_to]")

    @field_validator("description", "address_string", "service_code")
    @classmethod
    def _decoded_as_utf8(cls, value: str | None) -> str | None:
        # A form's %-escapes that are no UTF-8 (%ff%fe) are read as U+FFFD: refuse the text
        # rather than store question marks in the situation picture.
        if value is not None and "\ufffd" in value:
            raise ValueError("is not valid UTF-8: a %-escape stands for bytes that are no UTF-8 characters "
                             "(send the text as UTF-8, %-escaped or not)")
        return value

    @field_validator("api_key")
    @classmethod
    def _trimmed(cls, value: str | None) -> str | None:
        # A key pasted into an app's settings often brings a space or a line break along.
        return (value.strip() or None) if value is not None else None

    @model_validator(mode="before")
    @classmethod
    def _empty_is_absent(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: None if isinstance(v, str) and v == "" else v for k, v in data.items()
                    if k not in PERSONAL_FIELDS}
        return data
