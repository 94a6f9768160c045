"""Reports (the incidents), their categories, photos, moderation history and idempotency records."""
from __future__ import annotations

import datetime as dt
import uuid

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger, Boolean, CheckConstraint, DateTime, ForeignKey, Index, Integer, String, Text,
    UniqueConstraint, func, text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base

STATUSES = ("new", "verified", "rejected", "duplicate")

# Occurrence windows longer than this are few ("over the weekend", "during the holiday") and have
# an index of their own (ix_report_long_windows), so that "windows that reach past an instant"
# is two bounded reads: windows ending within 24 hours after it, and long windows. The SQL spelling
# must stay the index's predicate word for word (the planner matches it); PostgreSQL compares
# interval '1 day' as 24 hours (tested against LONG_WINDOW).
LONG_WINDOW = dt.timedelta(hours=24)

# One report per integration and external id; the feed maps a conflict on it to 409 by this name.
EXTERNAL_ID_INDEX = "uq_report_municipality_source_external_id"
LONG_WINDOW_SQL = "interval '1 day'"


class Category(Base):
    """One entry of a municipality's EST taxonomy (Skadegörelse, Klotter, Brand, ...)."""

    __tablename__ = "category"

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(50))
    label_sv: Mapped[str] = mapped_column(String(100))
    label_en: Mapped[str] = mapped_column(String(100))
    group_code: Mapped[str] = mapped_column(String(50))
    colour: Mapped[str] = mapped_column(String(7))
    icon: Mapped[str] = mapped_column(String(50))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    sort_order: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (
        UniqueConstraint("municipality_id", "code"),
        CheckConstraint("colour ~ '^#[0-9a-fA-F]{6}$'", name="colour_hex"),
    )


COUNTED_CELLS = ("h3_r7", "h3_r8", "h3_r9", "h3_r10")


class Report(Base):
    """A geotagged incident. The occurrence is a window [occurred_from, occurred_to] in UTC;
    equal ends mean a known moment. H3 cells (res 7-10) are computed at write time."""

    __tablename__ = "report"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4,
                                          server_default=text("gen_random_uuid()"))
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id", ondelete="CASCADE"))
    category_id: Mapped[int] = mapped_column(ForeignKey("category.id", ondelete="RESTRICT"))
    occurred_from: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    occurred_to: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    reported_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=True), nullable=False)
    # The report's H3 cells. Only h3_r10 is indexed: a coarser cell's descendants are one range
    # of it (app.hotspots.grid.finest_range), and every index costs each write.
    h3_r7: Mapped[int] = mapped_column(BigInteger)
    h3_r8: Mapped[int] = mapped_column(BigInteger)
    h3_r9: Mapped[int] = mapped_column(BigInteger)
    h3_r10: Mapped[int] = mapped_column(BigInteger, index=True)
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    # The coordinator rewrote the description (to take personal data out): an integration's
    # event keeps that text, whatever its source sends later (app/integrations/feed.py).
    description_edited: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    place_name: Mapped[str | None] = mapped_column(String(200))
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(80))
    external_id: Mapped[str | None] = mapped_column(String(200))
    event_type: Mapped[str | None] = mapped_column(String(100))  # an integration's own type, as sent
    status: Mapped[str] = mapped_column(String(20), default="new", server_default="new")
    duplicate_of: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("report.id", ondelete="SET NULL"))
    # Another source's account of the incident whose primary report this is (app/reports/incidents.py);
    # such a report is not counted again in the situation picture.
    incident_of: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("report.id", ondelete="SET NULL"))
    moderated_by: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    moderated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    moderation_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                    onupdate=func.now())

    __table_args__ = (
        CheckConstraint("occurred_to >= occurred_from", name="window_ordered"),
        CheckConstraint("status in ('" + "','".join(STATUSES) + "')", name="status_known"),
        # One report per integration and external_id (an integration's name, in source, is unique
        # within its municipality only: a regional rescue service has one per municipality):
        # integrations upsert on it; web reports have none.
        Index(EXTERNAL_ID_INDEX, "municipality_id", "source", "external_id", unique=True,
              postgresql_where=text("external_id IS NOT NULL")),
        # "Newest first" pages: for everyone in a municipality, and for one reporter's own reports.
        Index("ix_report_municipality_reported", "municipality_id", "reported_at", "id"),
        Index("ix_report_reporter_reported", "reporter_id", "reported_at", "id",
              postgresql_where=text("reporter_id IS NOT NULL")),
        # "Overlaps [lo, hi)": one range from lo on the window's end, and every column the hotspot
        # counts filter or group by, so they never touch the table (app/hotspots/queries.py).
        Index("ix_report_municipality_occurred_to", "municipality_id", "occurred_to",
              postgresql_include=["occurred_from", "status", "incident_of", "category_id", "organisation_id",
                                  *COUNTED_CELLS]),
        # The few reports linked into an incident, found from the primary report.
        Index("ix_report_incident_of", "incident_of", postgresql_where=text("incident_of IS NOT NULL")),
        # Windows longer than LONG_WINDOW, by end: with the occurrence index, the reports whose
        # window reaches past an instant without reading every later report (app/reports/windows.py).
        Index("ix_report_long_windows", "municipality_id", "occurred_to",
              postgresql_where=text(f"occurred_to - occurred_from > {LONG_WINDOW_SQL}")),
        # People's reports by category and time: what an integration's events are linked with
        # (app/reports/incidents.py). Partial, so the events feed's own inserts do not maintain it.
        Index("ix_report_people_category_occurred", "category_id", "occurred_from",
              postgresql_where=text("source NOT LIKE 'integration:%'")),
    )


class ReportEvent(Base):
    """Who changed what on a report, and when (moderation trail)."""

    __tablename__ = "report_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("report.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    action: Mapped[str] = mapped_column(String(40))
    changes: Mapped[dict] = mapped_column(JSONB, default=dict)


class Attachment(Base):
    """A photo of a report, re-encoded without EXIF (no GPS, no camera serial) before storing."""

    __tablename__ = "attachment"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    report_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("report.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(String(300))
    content_type: Mapped[str] = mapped_column(String(50))
    bytes: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class IdempotencyRecord(Base):
    """The first response to an ``Idempotency-Key``, replayed verbatim on retries.

    ``scope`` keeps clients apart (``user:<id>``, ``integration:<id>``, or ``public:<municipality>``
    for anonymous clients, whose keys must be random UUIDs); the request hash
    catches a key reused for a different body."""

    __tablename__ = "idempotency_record"

    scope: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_sha256: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict] = mapped_column(JSONB)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), index=True)
