"""Users and their roles."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base

# Ordered by privilege for the reporting/EST roles; gis_reader is a read-only side role.
ROLES = ("reporter", "est_member", "coordinator", "gis_reader")


class User(Base):
    """A person who logs in; belongs to one organisation (and through it, one municipality)."""

    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="RESTRICT"), index=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Bearer tokens carry it; setting a new password counts it up, so tokens issued before stop working.
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (CheckConstraint("role in ('" + "','".join(ROLES) + "')", name="role_known"),)


class ReadingKey(Base):
    """A user's key for a GIS program that cannot log in (QGIS, GDAL, FME): sent as
    ``X-API-Key`` on the read-only GIS routes, it acts with the user's *current* role. Stored
    as SHA-256 of the key (a long random string, so a fast hash is enough); ``prefix`` tells
    keys apart in lists. Each key can be revoked on its own, and expires."""

    __tablename__ = "reading_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_by: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
