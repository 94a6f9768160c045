"""The hexagon layers of the vector tiles, stored once per built layer so that a tile reads its
hexagons with an index instead of receiving them (app/gis/tiles.py).

Both tables are UNLOGGED: they are a cache (no WAL, cheaper writes), and PostgreSQL empties them
after a crash; the process that built a layer notices and builds it again (``hotspot_tile``).
A layer's id is 63 random bits, drawn by the process that builds it: never handed out twice in
practice, not even across a crash or a failover to a replica whose sequence would lag (a reused
id could serve one municipality's hexagons as another's), and several worker processes (each
with its own in-process layer cache) never mix their layers.
"""
from __future__ import annotations

import datetime as dt

from geoalchemy2 import Geometry
from sqlalchemy import BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base

class HotspotTileLayer(Base):
    """One built hexagon layer (a process's cache entry): removed with its cells once no process
    can still hold it (app.gis.tiles.STORED_LAYER_SECONDS after it was built)."""

    __tablename__ = "hotspot_tile_layer"
    __table_args__ = {"prefixes": ["UNLOGGED"]}

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    built_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), index=True)


class HotspotTileCell(Base):
    """A hexagon of a layer: its outline in Web Mercator and the properties tiles carry
    (app.gis.tiles.HOTSPOT_FIELDS, with the same types)."""

    __tablename__ = "hotspot_tile_cell"

    layer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("hotspot_tile_layer.id", ondelete="CASCADE"),
                                          primary_key=True)
    rank: Mapped[int] = mapped_column(Integer, primary_key=True)
    geom = mapped_column(Geometry("POLYGON", srid=3857, spatial_index=False), nullable=False)
    h3: Mapped[str] = mapped_column(Text)
    count: Mapped[float | None] = mapped_column(Float)
    previous: Mapped[float | None] = mapped_column(Float)
    baseline: Mapped[float | None] = mapped_column(Float)
    change: Mapped[float | None] = mapped_column(Float)
    change_vs_baseline: Mapped[float | None] = mapped_column(Float)
    increase: Mapped[bool | None] = mapped_column(Boolean)
    hotspot: Mapped[str | None] = mapped_column(Text)
    trend: Mapped[str | None] = mapped_column(Text)
    hot_streak: Mapped[int | None] = mapped_column(Integer)
    repeat: Mapped[bool | None] = mapped_column(Boolean)

    __table_args__ = (
        # A tile asks for one layer's hexagons in a box: both in one GiST index (btree_gist for
        # the id), so other layers over the same place are never read.
        Index("ix_hotspot_tile_cell_layer_geom", "layer_id", "geom", postgresql_using="gist"),
        {"prefixes": ["UNLOGGED"]},
    )
