"""foundation: municipalities, users, reports

Revision ID: 0001
Revises: 
Create Date: 2026-11-21 21:46:29.309051
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import geoalchemy2
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: Union[str, None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # A server given by DATABASE_URL may not have PostGIS enabled in this database yet.
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table('idempotency_record',
    sa.Column('scope', sa.String(length=100), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('request_sha256', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('response', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('scope', 'key', name=op.f('pk_idempotency_record'))
    )
    op.create_index(op.f('ix_idempotency_record_created_at'), 'idempotency_record', ['created_at'], unique=False)
    op.create_geospatial_table('municipality',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('code', sa.String(length=4), nullable=False),
    sa.Column('boundary', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('cycle_days', sa.Integer(), server_default='14', nullable=False),
    sa.Column('cycle_anchor', sa.Date(), nullable=False),
    sa.CheckConstraint("code ~ '^[0-9]{4}$'", name=op.f('ck_municipality_code_is_kommunkod')),
    sa.CheckConstraint('cycle_days between 1 and 366', name=op.f('ck_municipality_cycle_days_range')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_municipality')),
    sa.UniqueConstraint('code', name=op.f('uq_municipality_code'))
    )
    op.create_geospatial_index('idx_municipality_boundary', 'municipality', ['boundary'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_table('category',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('municipality_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=50), nullable=False),
    sa.Column('label_sv', sa.String(length=100), nullable=False),
    sa.Column('label_en', sa.String(length=100), nullable=False),
    sa.Column('group_code', sa.String(length=50), nullable=False),
    sa.Column('colour', sa.String(length=7), nullable=False),
    sa.Column('icon', sa.String(length=50), nullable=False),
    sa.Column('active', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('sort_order', sa.Integer(), server_default='0', nullable=False),
    sa.CheckConstraint("colour ~ '^#[0-9a-fA-F]{6}$'", name=op.f('ck_category_colour_hex')),
    sa.ForeignKeyConstraint(['municipality_id'], ['municipality.id'], name=op.f('fk_category_municipality_id_municipality'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_category')),
    sa.UniqueConstraint('municipality_id', 'code', name=op.f('uq_category_municipality_id_code'))
    )
    op.create_table('organisation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('municipality_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.CheckConstraint("kind in ('kommun','polis','vaktare','fastighetsbolag','raddningstjanst','medborgare','other')", name=op.f('ck_organisation_kind_known')),
    sa.ForeignKeyConstraint(['municipality_id'], ['municipality.id'], name=op.f('fk_organisation_municipality_id_municipality'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organisation')),
    sa.UniqueConstraint('municipality_id', 'name', name=op.f('uq_organisation_municipality_id_name'))
    )
    op.create_index(op.f('ix_organisation_municipality_id'), 'organisation', ['municipality_id'], unique=False)
    op.create_table('integration',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('municipality_id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('active', sa.Boolean(), server_default='true', nullable=False),
    sa.ForeignKeyConstraint(['municipality_id'], ['municipality.id'], name=op.f('fk_integration_municipality_id_municipality'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], name=op.f('fk_integration_organisation_id_organisation'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_integration')),
    sa.UniqueConstraint('municipality_id', 'name', name=op.f('uq_integration_municipality_id_name'))
    )
    op.create_index(op.f('ix_integration_municipality_id'), 'integration', ['municipality_id'], unique=False)
    op.create_table('user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=100), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('active', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("role in ('reporter','est_member','coordinator','gis_reader')", name=op.f('ck_user_role_known')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], name=op.f('fk_user_organisation_id_organisation'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user')),
    sa.UniqueConstraint('username', name=op.f('uq_user_username'))
    )
    op.create_index(op.f('ix_user_organisation_id'), 'user', ['organisation_id'], unique=False)
    op.create_table('api_key',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('integration_id', sa.Integer(), nullable=False),
    sa.Column('key_sha256', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['integration_id'], ['integration.id'], name=op.f('fk_api_key_integration_id_integration'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_key')),
    sa.UniqueConstraint('key_sha256', name=op.f('uq_api_key_key_sha256'))
    )
    op.create_index(op.f('ix_api_key_integration_id'), 'api_key', ['integration_id'], unique=False)
    op.create_geospatial_table('report',
    sa.Column('id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('municipality_id', sa.Integer(), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=False),
    sa.Column('occurred_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('occurred_to', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reported_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('h3_r7', sa.BigInteger(), nullable=False),
    sa.Column('h3_r8', sa.BigInteger(), nullable=False),
    sa.Column('h3_r9', sa.BigInteger(), nullable=False),
    sa.Column('h3_r10', sa.BigInteger(), nullable=False),
    sa.Column('description', sa.Text(), server_default='', nullable=False),
    sa.Column('place_name', sa.String(length=200), nullable=True),
    sa.Column('reporter_id', sa.Integer(), nullable=True),
    sa.Column('organisation_id', sa.Integer(), nullable=True),
    sa.Column('source', sa.String(length=80), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=True),
    sa.Column('status', sa.String(length=20), server_default='new', nullable=False),
    sa.Column('duplicate_of', sa.UUID(), nullable=True),
    sa.Column('moderated_by', sa.Integer(), nullable=True),
    sa.Column('moderated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('moderation_note', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status in ('new','verified','rejected','duplicate')", name=op.f('ck_report_status_known')),
    sa.CheckConstraint('occurred_to >= occurred_from', name=op.f('ck_report_window_ordered')),
    sa.ForeignKeyConstraint(['category_id'], ['category.id'], name=op.f('fk_report_category_id_category'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['duplicate_of'], ['report.id'], name=op.f('fk_report_duplicate_of_report'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['moderated_by'], ['user.id'], name=op.f('fk_report_moderated_by_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['municipality_id'], ['municipality.id'], name=op.f('fk_report_municipality_id_municipality'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], name=op.f('fk_report_organisation_id_organisation'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['reporter_id'], ['user.id'], name=op.f('fk_report_reporter_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report'))
    )
    op.create_geospatial_index('idx_report_geom', 'report', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_report_h3_r10'), 'report', ['h3_r10'], unique=False)
    op.create_index(op.f('ix_report_h3_r7'), 'report', ['h3_r7'], unique=False)
    op.create_index(op.f('ix_report_h3_r8'), 'report', ['h3_r8'], unique=False)
    op.create_index(op.f('ix_report_h3_r9'), 'report', ['h3_r9'], unique=False)
    op.create_index('ix_report_municipality_occurred', 'report', ['municipality_id', 'occurred_from', 'occurred_to'], unique=False)
    op.create_index('ix_report_municipality_reported', 'report', ['municipality_id', 'reported_at', 'id'], unique=False)
    op.create_index('ix_report_reporter_reported', 'report', ['reporter_id', 'reported_at', 'id'], unique=False, postgresql_where=sa.text('reporter_id IS NOT NULL'))
    op.create_index('uq_report_source_external_id', 'report', ['source', 'external_id'], unique=True, postgresql_where=sa.text('external_id IS NOT NULL'))
    op.create_table('attachment',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('report_id', sa.UUID(), nullable=False),
    sa.Column('path', sa.String(length=300), nullable=False),
    sa.Column('content_type', sa.String(length=50), nullable=False),
    sa.Column('bytes', sa.Integer(), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('uploaded_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['report_id'], ['report.id'], name=op.f('fk_attachment_report_id_report'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['uploaded_by'], ['user.id'], name=op.f('fk_attachment_uploaded_by_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attachment'))
    )
    op.create_index(op.f('ix_attachment_report_id'), 'attachment', ['report_id'], unique=False)
    op.create_table('report_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('changes', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.ForeignKeyConstraint(['report_id'], ['report.id'], name=op.f('fk_report_event_report_id_report'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_report_event_user_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_event'))
    )
    op.create_index(op.f('ix_report_event_report_id'), 'report_event', ['report_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_report_event_report_id'), table_name='report_event')
    op.drop_table('report_event')
    op.drop_index(op.f('ix_attachment_report_id'), table_name='attachment')
    op.drop_table('attachment')
    op.drop_index('uq_report_source_external_id', table_name='report', postgresql_where=sa.text('external_id IS NOT NULL'))
    op.drop_index('ix_report_reporter_reported', table_name='report', postgresql_where=sa.text('reporter_id IS NOT NULL'))
    op.drop_index('ix_report_municipality_reported', table_name='report')
    op.drop_index('ix_report_municipality_occurred', table_name='report')
    op.drop_index(op.f('ix_report_h3_r9'), table_name='report')
    op.drop_index(op.f('ix_report_h3_r8'), table_name='report')
    op.drop_index(op.f('ix_report_h3_r7'), table_name='report')
    op.drop_index(op.f('ix_report_h3_r10'), table_name='report')
    op.drop_geospatial_index('idx_report_geom', table_name='report', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('report')
    op.drop_index(op.f('ix_api_key_integration_id'), table_name='api_key')
    op.drop_table('api_key')
    op.drop_index(op.f('ix_user_organisation_id'), table_name='user')
    op.drop_table('user')
    op.drop_index(op.f('ix_integration_municipality_id'), table_name='integration')
    op.drop_table('integration')
    op.drop_index(op.f('ix_organisation_municipality_id'), table_name='organisation')
    op.drop_table('organisation')
    op.drop_table('category')
    op.drop_geospatial_index('idx_municipality_boundary', table_name='municipality', postgresql_using='gist', column_name='boundary')
    op.drop_geospatial_table('municipality')
    op.drop_index(op.f('ix_idempotency_record_created_at'), table_name='idempotency_record')
    op.drop_table('idempotency_record')
