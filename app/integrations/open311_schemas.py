"""The Open311 GeoReport v2 service request form (``POST requests.json``), field names as the spec has them."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.reports.schemas import DESCRIPTION_MAX_CHARS, Text, When


class Open311RequestForm(BaseModel):
    """``application/x-www-form-urlencoded`` fields of a new service request.

    The personal fields the spec allows (email, names, phone, device and account ids) are
    accepted so that existing apps work, and never stored: EST reports carry no personal data.
    ``media_url`` is not fetched. Attributes (see ``services/{code}.json``) are
    ``attribute[occurred_from]`` and ``attribute[occurred_to]``; any other is refused by name.
    An empty field counts as absent (the spec's "optional"). ``confirm_personal_data`` is ours, as on
    ``POST /api/v1/reports``.
    """

    model_config = ConfigDict(extra="forbid")

    api_key: str | None = None
    jurisdiction_id: str | None = None
    service_code: Text = Field(min_length=1, max_length=50)
    lat: float | None = Field(None, ge=-90, le=90, allow_inf_nan=False)
    long: float | None = Field(None, ge=-180, le=180, allow_inf_nan=False)
    address_string: Text | None = Field(None, max_length=200, description="stored as the report's place")
    address_id: str | None = None
    email: str | None = None
    device_id: str | None = None
    account_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    description: Text | None = Field(None, max_length=DESCRIPTION_MAX_CHARS)
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

    @model_validator(mode="before")
    @classmethod
    def _empty_is_absent(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: None if v == "" else v for k, v in data.items()}
        return data
