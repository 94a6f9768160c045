"""Hexagon layers of the vector tiles stored once per built layer (unlogged), read by each tile with an index

A tile used to send its hexagons to PostgreSQL as one JSON parameter (about a third of a heavy
tile's time was parsing it). Now a built layer is inserted once, under 63 random bits as its
id, and a tile sends only the layer id and z/x/y (app/gis/tiles.py, app/gis/models.py).
btree_gist lets one GiST index hold (layer id, outline).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 02:00:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision: str = '0006'
down_revision: Union[str, None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")  # trusted: the database owner may create it
    op.create_table('hotspot_tile_layer',
    sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('built_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hotspot_tile_layer')),
    prefixes=['UNLOGGED']
    )
    op.create_index(op.f('ix_hotspot_tile_layer_built_at'), 'hotspot_tile_layer', ['built_at'], unique=False)
    op.create_table('hotspot_tile_cell',
    sa.Column('layer_id', sa.BigInteger(), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('geom', Geometry(geometry_type='POLYGON', srid=3857, spatial_index=False,
                               from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('h3', sa.Text(), nullable=False),
    sa.Column('count', sa.Float(), nullable=True),
    sa.Column('previous', sa.Float(), nullable=True),
    sa.Column('baseline', sa.Float(), nullable=True),
    sa.Column('change', sa.Float(), nullable=True),
    sa.Column('change_vs_baseline', sa.Float(), nullable=True),
    sa.Column('increase', sa.Boolean(), nullable=True),
    sa.Column('hotspot', sa.Text(), nullable=True),
    sa.Column('trend', sa.Text(), nullable=True),
    sa.Column('hot_streak', sa.Integer(), nullable=True),
    sa.Column('repeat', sa.Boolean(), nullable=True),
    sa.ForeignKeyConstraint(['layer_id'], ['hotspot_tile_layer.id'],
                            name=op.f('fk_hotspot_tile_cell_layer_id_hotspot_tile_layer'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('layer_id', 'rank', name=op.f('pk_hotspot_tile_cell')),
    prefixes=['UNLOGGED']
    )
    op.create_index('ix_hotspot_tile_cell_layer_geom', 'hotspot_tile_cell', ['layer_id', 'geom'], unique=False,
                    postgresql_using='gist')


def downgrade() -> None:
    op.drop_index('ix_hotspot_tile_cell_layer_geom', table_name='hotspot_tile_cell', postgresql_using='gist')
    op.drop_table('hotspot_tile_cell')
    op.drop_index(op.f('ix_hotspot_tile_layer_built_at'), table_name='hotspot_tile_layer')
    op.drop_table('hotspot_tile_layer')
