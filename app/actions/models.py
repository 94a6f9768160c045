"""The EST loop's tables: places, cause analysis, actions (insatser), safety walks,
follow-ups, meetings and the audit log."""
from __future__ import annotations

import datetime as dt

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger, CheckConstraint, Column, Date, DateTime, Float, ForeignKey, Index, Integer, String, Table, Text,
    UniqueConstraint, func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base

NOTE_KINDS = ("situation", "target_victim", "offender", "hypothesis")
ACTION_KINDS = ("situational", "social")
RECURRENCES = ("one_off", "recurring")
ACTION_STATUSES = ("planned", "in_progress", "done", "cancelled")
OPEN_ACTION_STATUSES = ("planned", "in_progress")  # under way: listed as open, frozen at a meeting's start
LIGHTS = ("green", "yellow", "red")


def _known(column: str, values: tuple[str, ...]) -> str:
    return f"{column} in ('" + "','".join(values) + "')"


class Place(Base):
    """What the group talks about (*plats*): H3 cells of one resolution, or a drawn polygon
    (then ``cells`` are the res-10 cells whose centres lie in it, used for counting).
    ``geom`` is the outline in WGS84 either way."""

    __tablename__ = "place"

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(10))
    resolution: Mapped[int] = mapped_column(Integer)
    cells: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True), nullable=False)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                    onupdate=func.now())

    __table_args__ = (
        CheckConstraint("source in ('cells','polygon')", name="source_known"),
        CheckConstraint("resolution between 7 and 10", name="resolution_range"),
        CheckConstraint("cardinality(cells) > 0", name="has_cells"),
    )


class AnalysisNote(Base):
    """Cause analysis on a place: a note under one of the three perspectives (situation,
    target/victim, offender) or a hypothesis with how it will be tested and the result."""

    __tablename__ = "analysis_note"

    id: Mapped[int] = mapped_column(primary_key=True)
    place_id: Mapped[int] = mapped_column(ForeignKey("place.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    test_plan: Mapped[str | None] = mapped_column(Text)
    result: Mapped[str | None] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                    onupdate=func.now())

    __table_args__ = (CheckConstraint(_known("kind", NOTE_KINDS), name="kind_known"),)


action_cause = Table(
    "action_cause", Base.metadata,
    Column("action_id", ForeignKey("action.id", ondelete="CASCADE"), primary_key=True),
    Column("note_id", ForeignKey("analysis_note.id", ondelete="CASCADE"), primary_key=True),
)


class Meeting(Base):
    """The EST meeting of one cycle. ``frozen_layer``/``frozen_agenda`` hold the situation
    picture as it was when the meeting started, so the minutes stay reproducible."""

    __tablename__ = "meeting"

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id", ondelete="CASCADE"), index=True)
    cycle: Mapped[dt.date] = mapped_column(Date)
    held_on: Mapped[dt.date] = mapped_column(Date)
    organisations: Mapped[list[str]] = mapped_column(ARRAY(String(200)))
    minutes: Mapped[str] = mapped_column(Text, default="", server_default="")
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    frozen_layer: Mapped[dict | None] = mapped_column(JSONB)
    frozen_agenda: Mapped[dict | None] = mapped_column(JSONB)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (UniqueConstraint("municipality_id", "cycle"),)


class Action(Base):
    """An action (*insats*) at a place: what, the SMART goal, the problem owner and dates.
    ``baseline`` is the place's mean count per cycle over the ``baseline_cycles`` (up to 6) full
    cycles before creation since the municipality's reporting began; None when there was none."""

    __tablename__ = "action"

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id", ondelete="CASCADE"), index=True)
    place_id: Mapped[int] = mapped_column(ForeignKey("place.id", ondelete="RESTRICT"), index=True)
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("meeting.id", ondelete="SET NULL"), index=True)
    what: Mapped[str] = mapped_column(Text)
    goal: Mapped[str] = mapped_column(Text)
    baseline: Mapped[float | None] = mapped_column(Float)
    baseline_cycles: Mapped[int] = mapped_column(Integer)
    categories: Mapped[list[str]] = mapped_column(ARRAY(String(50)), default=list, server_default="{}")
    kind: Mapped[str] = mapped_column(String(20))
    owner_organisation: Mapped[str] = mapped_column(String(200))
    owner_contact: Mapped[str | None] = mapped_column(String(200))
    start_date: Mapped[dt.date] = mapped_column(Date)
    due_date: Mapped[dt.date] = mapped_column(Date)
    recurrence: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="planned", server_default="planned")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                    onupdate=func.now())

    __table_args__ = (
        CheckConstraint(_known("kind", ACTION_KINDS), name="kind_known"),
        CheckConstraint(_known("recurrence", RECURRENCES), name="recurrence_known"),
        CheckConstraint(_known("status", ACTION_STATUSES), name="status_known"),
        CheckConstraint("due_date >= start_date", name="due_after_start"),
        CheckConstraint("length(trim(owner_organisation)) > 0", name="has_owner"),
    )


class SafetyWalk(Base):
    """A safety walk (*trygghetsvandring*): a date and a numbered list of remarks."""

    __tablename__ = "safety_walk"

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id", ondelete="CASCADE"), index=True)
    place_id: Mapped[int | None] = mapped_column(ForeignKey("place.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(200))
    walked_on: Mapped[dt.date] = mapped_column(Date)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SafetyWalkRemark(Base):
    """Remark number ``number`` of a walk: a point, the problem, who fixes it and by when."""

    __tablename__ = "safety_walk_remark"

    id: Mapped[int] = mapped_column(primary_key=True)
    walk_id: Mapped[int] = mapped_column(ForeignKey("safety_walk.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=False)
    owner_organisation: Mapped[str] = mapped_column(String(200))
    fix_by: Mapped[dt.date | None] = mapped_column(Date)
    fixed_on: Mapped[dt.date | None] = mapped_column(Date)

    __table_args__ = (UniqueConstraint("walk_id", "number"),)


class FollowUp(Base):
    """A stored follow-up of an action: the measured numbers, the proposed traffic light and
    the coordinator's confirmed (or overridden, with a comment) light."""

    __tablename__ = "follow_up"

    id: Mapped[int] = mapped_column(primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("action.id", ondelete="CASCADE"), index=True)
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("meeting.id", ondelete="SET NULL"), index=True)
    cycles: Mapped[int] = mapped_column(Integer)
    window_kind: Mapped[str] = mapped_column(String(10))
    result: Mapped[dict] = mapped_column(JSONB)
    proposed: Mapped[str] = mapped_column(String(10))
    light: Mapped[str] = mapped_column(String(10))
    comment: Mapped[str | None] = mapped_column(Text)
    confirmed_by: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        CheckConstraint(_known("proposed", LIGHTS), name="proposed_known"),
        CheckConstraint(_known("light", LIGHTS), name="light_known"),
        CheckConstraint("window_kind in ('first','latest')", name="window_known"),
    )


class AuditEntry(Base):
    """Who created, changed or deleted what in the EST loop, and when (``changes``: field ->
    [old, new])."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    username: Mapped[str] = mapped_column(String(100))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int] = mapped_column(BigInteger)
    operation: Mapped[str] = mapped_column(String(10))
    changes: Mapped[dict] = mapped_column(JSONB)

    __table_args__ = (
        CheckConstraint("operation in ('create','update','delete')", name="operation_known"),
        Index("ix_audit_log_municipality_at", "municipality_id", "at", "id"),
        Index("ix_audit_log_entity", "entity", "entity_id"),
    )
