"""Municipalities (the tenant: boundary and EST cycle) and the organisations that report in them."""
from __future__ import annotations

import datetime as dt

from geoalchemy2 import Geometry
from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base

ORGANISATION_KINDS = ("kommun", "polis", "vaktare", "fastighetsbolag", "raddningstjanst", "medborgare", "other")


class Municipality(Base):
    """A kommun running EST: its boundary and the fortnightly meeting cycle."""

    __tablename__ = "municipality"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    code: Mapped[str] = mapped_column(String(4), unique=True)
    boundary = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True), nullable=False)
    cycle_days: Mapped[int] = mapped_column(Integer, default=14, server_default="14")
    cycle_anchor: Mapped[dt.date] = mapped_column(Date)

    __table_args__ = (
        CheckConstraint("code ~ '^[0-9]{4}$'", name="code_is_kommunkod"),
        CheckConstraint("cycle_days between 1 and 366", name="cycle_days_range"),
    )


class Organisation(Base):
    """An organisation whose staff report: the kommun, police, guards, housing company, rescue service..."""

    __tablename__ = "organisation"

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))

    __table_args__ = (
        UniqueConstraint("municipality_id", "name"),
        CheckConstraint("kind in ('" + "','".join(ORGANISATION_KINDS) + "')", name="kind_known"),
    )
