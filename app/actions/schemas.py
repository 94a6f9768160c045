"""Request shapes for the EST loop (places, analysis, actions, safety walks, follow-ups, meetings).

Responses are plain JSON built by the services; dates are local days (YYYY-MM-DD), times
Europe/Stockholm with offset, geometries RFC 7946 (lon/lat).
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.db import RowId
from app.reports import personal_data
from app.reports.schemas import Day, Number, Text

Name = Annotated[Text, Field(min_length=1, max_length=200)]
LongText = Annotated[Text, Field(max_length=10_000)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# Free text that the whole EST group reads and the meeting report prints: asked about as a
# report's description is (a personnummer, a phone number, an e-mail address), confirmed with
# confirm_personal_data. An action's owner_contact is left alone: it is the owner's contact.
PERSONAL_TEXT = ("name", "title", "text", "test_plan", "result", "what", "goal", "comment", "minutes")


class _FreeText(_Strict):
    confirm_personal_data: bool = Field(False, exclude=True, description=(
        "Send true after a 422 'personal-data' answer when the text really must contain what it was asked about"))

    def _free_texts(self) -> dict[str, str]:
        """Field (as the error names it) -> text, for the check."""
        return {name: value for name in PERSONAL_TEXT if isinstance(value := getattr(self, name, None), str)}

    @model_validator(mode="after")
    def _no_unconfirmed_personal_data(self) -> "_FreeText":
        if not self.confirm_personal_data:
            found = personal_data.found_in(self._free_texts())
            if found:  # (a DomainError: pydantic lets it through, and it is answered as such)
                raise personal_data.suspected(
                    found, read_by="The whole EST group reads it and the meeting report prints it",
                    resend="send it again with confirm_personal_data: true")
        return self


class PlaceCreate(_FreeText):
    """A place from H3 cells (one resolution, 7–10; e.g. hotspot cells) or a drawn polygon
    (GeoJSON Polygon/MultiPolygon in ``crs``: EPSG:4326 lon/lat by default, or EPSG:3006)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"name": "Fristadstorget", "cells": ["89088699e1bffff"]},
        {"name": "Stationsområdet", "geometry": {"type": "Polygon", "coordinates": [
            [[16.505, 59.369], [16.512, 59.369], [16.512, 59.372], [16.505, 59.372], [16.505, 59.369]]]}},
    ]})

    name: Name
    cells: list[Annotated[str, Field(max_length=20)]] | None = Field(None, max_length=2000)
    geometry: dict[str, Any] | None = None
    crs: str | None = Field(None, description="crs of 'geometry': EPSG:4326 (default) or EPSG:3006")

    @model_validator(mode="after")
    def _one_shape(self) -> "PlaceCreate":
        if self.cells is not None and self.geometry is not None:
            raise ValueError("give either cells or geometry, not both")
        if not self.cells and self.geometry is None:
            raise ValueError("a place needs at least one H3 cell ('cells') or a polygon ('geometry')")
        return self


class PlaceUpdate(_FreeText):
    name: Name


class NoteCreate(_FreeText):
    """A cause-analysis note: ``kind`` is a perspective (situation, target_victim, offender) or
    ``hypothesis`` (then ``test_plan`` says how it will be tested, ``result`` what came out)."""

    kind: Literal["situation", "target_victim", "offender", "hypothesis"]
    text: Annotated[Text, Field(min_length=1, max_length=10_000)]
    test_plan: LongText | None = None
    result: LongText | None = None

    @model_validator(mode="after")
    def _hypothesis_fields(self) -> "NoteCreate":
        if self.kind != "hypothesis" and (self.test_plan or self.result):
            raise ValueError("test_plan and result belong to hypotheses (kind 'hypothesis')")
        return self


class NoteUpdate(_FreeText):
    text: Annotated[Text, Field(min_length=1, max_length=10_000)] | None = None
    test_plan: LongText | None = None
    result: LongText | None = None


class ActionFields(_FreeText):
    what: Annotated[Text, Field(min_length=1, max_length=10_000)]
    goal: Annotated[Text, Field(min_length=1, max_length=2000,
                                description="SMART operational goal, e.g. 'from 12 to ≤ 6 per cycle by March'")]
    kind: Literal["situational", "social"]
    owner_organisation: Annotated[Text, Field(min_length=1, max_length=200, description="problem owner (required)")]
    owner_contact: Annotated[Text, Field(max_length=200)] | None = None
    start_date: Day
    due_date: Day
    recurrence: Literal["one_off", "recurring"] = "one_off"
    status: Literal["planned", "in_progress", "done", "cancelled"] = "planned"
    causes: list[RowId] = Field([], max_length=100, description="ids of the place's analysis notes it addresses")
    categories: list[Annotated[str, Field(max_length=50)]] = Field(
        [], max_length=50, description="category codes the goal is about (all when empty): counts use these")
    meeting_id: RowId | None = Field(None, description="the meeting that decided it")


class ActionCreate(ActionFields):
    place_id: RowId


class ActionUpdate(_FreeText):
    what: Annotated[Text, Field(min_length=1, max_length=10_000)] | None = None
    goal: Annotated[Text, Field(min_length=1, max_length=2000)] | None = None
    kind: Literal["situational", "social"] | None = None
    owner_organisation: Annotated[Text, Field(min_length=1, max_length=200)] | None = None
    owner_contact: Annotated[Text, Field(max_length=200)] | None = None
    start_date: Day | None = None
    due_date: Day | None = None
    recurrence: Literal["one_off", "recurring"] | None = None
    status: Literal["planned", "in_progress", "done", "cancelled"] | None = None
    causes: list[RowId] | None = Field(None, max_length=100)


class RemarkCreate(_Strict):  # its text is checked, and confirmed, with its walk's
    text: Annotated[Text, Field(min_length=1, max_length=2000)]
    lat: Annotated[Number, Field(ge=-90, le=90)]
    lon: Annotated[Number, Field(ge=-180, le=180)]
    owner_organisation: Annotated[Text, Field(min_length=1, max_length=200)]
    fix_by: Day | None = None


class SafetyWalkCreate(_FreeText):
    title: Name
    walked_on: Day
    place_id: RowId | None = None
    remarks: list[RemarkCreate] = Field([], max_length=500)

    def _free_texts(self) -> dict[str, str]:
        return {**super()._free_texts(), **{f"remarks.{i}.text": r.text for i, r in enumerate(self.remarks)}}


class RemarkUpdate(_Strict):
    fixed_on: Day | None = None
    fix_by: Day | None = None
    owner_organisation: Annotated[Text, Field(min_length=1, max_length=200)] | None = None


class FollowUpCreate(_FreeText):
    """Store a follow-up: the numbers are computed now; ``light`` confirms the proposal when
    equal to it (or left out) and overrides it otherwise, which needs a ``comment``."""

    cycles: int = Field(3, ge=1, le=26)
    window: Literal["first", "latest"] = "first"
    control: Literal["municipality", "ring"] = "municipality"
    light: Literal["green", "yellow", "red"] | None = None
    comment: LongText | None = None
    meeting_id: RowId | None = None


class MeetingCreate(_FreeText):
    cycle: str = Field(description="'current', 'previous' or a cycle id (first day, YYYY-MM-DD)")
    held_on: Day
    organisations: list[Name] = Field([], max_length=50)
    minutes: LongText = ""


class MeetingUpdate(_FreeText):
    held_on: Day | None = None
    organisations: list[Name] | None = Field(None, max_length=50)
    minutes: LongText | None = None
