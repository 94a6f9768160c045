"""EST loop: places, cause analysis, actions, safety walks, follow-ups, meetings, audit log

Re-chained by the lead onto 0002 when merged (written against 0001).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 23:27:06.369223
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import geoalchemy2
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = '0003'
down_revision: Union[str, None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('municipality_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('username', sa.String(length=100), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('entity', sa.String(length=40), nullable=False),
    sa.Column('entity_id', sa.BigInteger(), nullable=False),
    sa.Column('operation', sa.String(length=10), nullable=False),
    sa.Column('changes', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.CheckConstraint("operation in ('create','update','delete')", name=op.f('ck_audit_log_operation_known')),
    sa.ForeignKeyConstraint(['municipality_id'], ['municipality.id'], name=op.f('fk_audit_log_municipality_id_municipality'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_audit_log_user_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    op.create_index('ix_audit_log_entity', 'audit_log', ['entity', 'entity_id'], unique=False)
    op.create_index('ix_audit_log_municipality_at', 'audit_log', ['municipality_id', 'at', 'id'], unique=False)
    op.create_table('meeting',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('municipality_id', sa.Integer(), nullable=False),
    sa.Column('cycle', sa.Date(), nullable=False),
    sa.Column('held_on', sa.Date(), nullable=False),
    sa.Column('organisations', postgresql.ARRAY(sa.String(length=200)), nullable=False),
    sa.Column('minutes', sa.Text(), server_default='', nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('frozen_layer', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('frozen_agenda', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['user.id'], name=op.f('fk_meeting_created_by_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['municipality_id'], ['municipality.id'], name=op.f('fk_meeting_municipality_id_municipality'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_meeting')),
    sa.UniqueConstraint('municipality_id', 'cycle', name=op.f('uq_meeting_municipality_id_cycle'))
    )
    op.create_index(op.f('ix_meeting_municipality_id'), 'meeting', ['municipality_id'], unique=False)
    op.create_geospatial_table('place',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('municipality_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('resolution', sa.Integer(), nullable=False),
    sa.Column('cells', postgresql.ARRAY(sa.BigInteger()), nullable=False),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("source in ('cells','polygon')", name=op.f('ck_place_source_known')),
    sa.CheckConstraint('cardinality(cells) > 0', name=op.f('ck_place_has_cells')),
    sa.CheckConstraint('resolution between 7 and 10', name=op.f('ck_place_resolution_range')),
    sa.ForeignKeyConstraint(['created_by'], ['user.id'], name=op.f('fk_place_created_by_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['municipality_id'], ['municipality.id'], name=op.f('fk_place_municipality_id_municipality'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_place'))
    )
    op.create_geospatial_index('idx_place_geom', 'place', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_place_municipality_id'), 'place', ['municipality_id'], unique=False)
    op.create_table('action',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('municipality_id', sa.Integer(), nullable=False),
    sa.Column('place_id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=True),
    sa.Column('what', sa.Text(), nullable=False),
    sa.Column('goal', sa.Text(), nullable=False),
    sa.Column('baseline', sa.Float(), nullable=False),
    sa.Column('categories', postgresql.ARRAY(sa.String(length=50)), server_default='{}', nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('owner_organisation', sa.String(length=200), nullable=False),
    sa.Column('owner_contact', sa.String(length=200), nullable=True),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('recurrence', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), server_default='planned', nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind in ('situational','social')", name=op.f('ck_action_kind_known')),
    sa.CheckConstraint("recurrence in ('one_off','recurring')", name=op.f('ck_action_recurrence_known')),
    sa.CheckConstraint("status in ('planned','in_progress','done','cancelled')", name=op.f('ck_action_status_known')),
    sa.CheckConstraint('due_date >= start_date', name=op.f('ck_action_due_after_start')),
    sa.CheckConstraint('length(trim(owner_organisation)) > 0', name=op.f('ck_action_has_owner')),
    sa.ForeignKeyConstraint(['created_by'], ['user.id'], name=op.f('fk_action_created_by_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['meeting_id'], ['meeting.id'], name=op.f('fk_action_meeting_id_meeting'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['municipality_id'], ['municipality.id'], name=op.f('fk_action_municipality_id_municipality'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['place_id'], ['place.id'], name=op.f('fk_action_place_id_place'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_action'))
    )
    op.create_index(op.f('ix_action_meeting_id'), 'action', ['meeting_id'], unique=False)
    op.create_index(op.f('ix_action_municipality_id'), 'action', ['municipality_id'], unique=False)
    op.create_index(op.f('ix_action_place_id'), 'action', ['place_id'], unique=False)
    op.create_table('analysis_note',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('place_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('test_plan', sa.Text(), nullable=True),
    sa.Column('result', sa.Text(), nullable=True),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind in ('situation','target_victim','offender','hypothesis')", name=op.f('ck_analysis_note_kind_known')),
    sa.ForeignKeyConstraint(['author_id'], ['user.id'], name=op.f('fk_analysis_note_author_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['place_id'], ['place.id'], name=op.f('fk_analysis_note_place_id_place'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_analysis_note'))
    )
    op.create_index(op.f('ix_analysis_note_place_id'), 'analysis_note', ['place_id'], unique=False)
    op.create_table('safety_walk',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('municipality_id', sa.Integer(), nullable=False),
    sa.Column('place_id', sa.Integer(), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('walked_on', sa.Date(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['user.id'], name=op.f('fk_safety_walk_created_by_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['municipality_id'], ['municipality.id'], name=op.f('fk_safety_walk_municipality_id_municipality'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['place_id'], ['place.id'], name=op.f('fk_safety_walk_place_id_place'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_safety_walk'))
    )
    op.create_index(op.f('ix_safety_walk_municipality_id'), 'safety_walk', ['municipality_id'], unique=False)
    op.create_table('action_cause',
    sa.Column('action_id', sa.Integer(), nullable=False),
    sa.Column('note_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['action_id'], ['action.id'], name=op.f('fk_action_cause_action_id_action'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['note_id'], ['analysis_note.id'], name=op.f('fk_action_cause_note_id_analysis_note'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('action_id', 'note_id', name=op.f('pk_action_cause'))
    )
    op.create_table('follow_up',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('action_id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=True),
    sa.Column('cycles', sa.Integer(), nullable=False),
    sa.Column('window_kind', sa.String(length=10), nullable=False),
    sa.Column('result', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('proposed', sa.String(length=10), nullable=False),
    sa.Column('light', sa.String(length=10), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('confirmed_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("light in ('green','yellow','red')", name=op.f('ck_follow_up_light_known')),
    sa.CheckConstraint("proposed in ('green','yellow','red')", name=op.f('ck_follow_up_proposed_known')),
    sa.CheckConstraint("window_kind in ('first','latest')", name=op.f('ck_follow_up_window_known')),
    sa.ForeignKeyConstraint(['action_id'], ['action.id'], name=op.f('fk_follow_up_action_id_action'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['confirmed_by'], ['user.id'], name=op.f('fk_follow_up_confirmed_by_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['meeting_id'], ['meeting.id'], name=op.f('fk_follow_up_meeting_id_meeting'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_follow_up'))
    )
    op.create_index(op.f('ix_follow_up_action_id'), 'follow_up', ['action_id'], unique=False)
    op.create_index(op.f('ix_follow_up_meeting_id'), 'follow_up', ['meeting_id'], unique=False)
    op.create_geospatial_table('safety_walk_remark',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('walk_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('owner_organisation', sa.String(length=200), nullable=False),
    sa.Column('fix_by', sa.Date(), nullable=True),
    sa.Column('fixed_on', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['walk_id'], ['safety_walk.id'], name=op.f('fk_safety_walk_remark_walk_id_safety_walk'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_safety_walk_remark')),
    sa.UniqueConstraint('walk_id', 'number', name=op.f('uq_safety_walk_remark_walk_id_number'))
    )
    op.create_index(op.f('ix_safety_walk_remark_walk_id'), 'safety_walk_remark', ['walk_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_safety_walk_remark_walk_id'), table_name='safety_walk_remark')
    op.drop_geospatial_table('safety_walk_remark')
    op.drop_index(op.f('ix_follow_up_meeting_id'), table_name='follow_up')
    op.drop_index(op.f('ix_follow_up_action_id'), table_name='follow_up')
    op.drop_table('follow_up')
    op.drop_table('action_cause')
    op.drop_index(op.f('ix_safety_walk_municipality_id'), table_name='safety_walk')
    op.drop_table('safety_walk')
    op.drop_index(op.f('ix_analysis_note_place_id'), table_name='analysis_note')
    op.drop_table('analysis_note')
    op.drop_index(op.f('ix_action_place_id'), table_name='action')
    op.drop_index(op.f('ix_action_municipality_id'), table_name='action')
    op.drop_index(op.f('ix_action_meeting_id'), table_name='action')
    op.drop_table('action')
    op.drop_index(op.f('ix_place_municipality_id'), table_name='place')
    op.drop_geospatial_index('idx_place_geom', table_name='place', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('place')
    op.drop_index(op.f('ix_meeting_municipality_id'), table_name='meeting')
    op.drop_table('meeting')
    op.drop_index('ix_audit_log_municipality_at', table_name='audit_log')
    op.drop_index('ix_audit_log_entity', table_name='audit_log')
    op.drop_table('audit_log')
