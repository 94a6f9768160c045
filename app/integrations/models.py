"""Integration clients (e.g. the rescue service's call-out system), their hashed API keys and
the mapping from each system's own event types to the municipality's EST categories."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base

INITIAL_STATUSES = ("new", "verified")


class Integration(Base):
    """A system that pushes events; its reports carry ``source = integration:<name>``.

    ``initial_status`` is what its new reports start as: ``verified`` for a source whose events
    are confirmed call-outs (the rescue service), ``new`` when the coordinator checks them first."""

    __tablename__ = "integration"

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    initial_status: Mapped[str] = mapped_column(String(20), default="new", server_default="new")

    __table_args__ = (
        UniqueConstraint("municipality_id", "name"),
        CheckConstraint("initial_status in ('" + "','".join(INITIAL_STATUSES) + "')", name="initial_status_known"),
    )


class ApiKey(Base):
    """An API key, stored as SHA-256 of the key: keys are long random strings, so a fast hash
    is enough and the per-request lookup stays an index probe. Rotation = new key + revoke old.
    ``prefix`` (the key's first characters) tells keys apart in lists without revealing them."""

    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("integration.id", ondelete="CASCADE"), index=True)
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16), default="", server_default="")
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_by: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))


class EventTypeMapping(Base):
    """One of an integration's own event types (``Brand i container``) and the category it
    files under. ``type_key`` is the normalised form events are matched on (case, dashes and
    spacing ignored); ``event_type`` keeps the spelling the coordinator gave."""

    __tablename__ = "event_type_mapping"

    integration_id: Mapped[int] = mapped_column(ForeignKey("integration.id", ondelete="CASCADE"), primary_key=True)
    type_key: Mapped[str] = mapped_column(String(100), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(100))
    category_id: Mapped[int] = mapped_column(ForeignKey("category.id", ondelete="RESTRICT"))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
