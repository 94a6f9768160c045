"""rescue-service feed: event-type mappings, key rotation, incident links

integration.initial_status, api_key prefix/created_by/revoked_by, event_type_mapping,
report.event_type (the source's own type) and report.incident_of (one incident, many sources).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 23:12:16.986253
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0002'
down_revision: Union[str, None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('event_type_mapping',
    sa.Column('integration_id', sa.Integer(), nullable=False),
    sa.Column('type_key', sa.String(length=100), nullable=False),
    sa.Column('event_type', sa.String(length=100), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['category_id'], ['category.id'], name=op.f('fk_event_type_mapping_category_id_category'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['integration_id'], ['integration.id'], name=op.f('fk_event_type_mapping_integration_id_integration'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by'], ['user.id'], name=op.f('fk_event_type_mapping_updated_by_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('integration_id', 'type_key', name=op.f('pk_event_type_mapping'))
    )
    op.add_column('api_key', sa.Column('prefix', sa.String(length=16), server_default='', nullable=False))
    op.add_column('api_key', sa.Column('created_by', sa.Integer(), nullable=True))
    op.add_column('api_key', sa.Column('revoked_by', sa.Integer(), nullable=True))
    op.create_foreign_key(op.f('fk_api_key_created_by_user'), 'api_key', 'user', ['created_by'], ['id'], ondelete='SET NULL')
    op.create_foreign_key(op.f('fk_api_key_revoked_by_user'), 'api_key', 'user', ['revoked_by'], ['id'], ondelete='SET NULL')
    op.add_column('integration', sa.Column('initial_status', sa.String(length=20), server_default='new', nullable=False))
    op.create_check_constraint(op.f('ck_integration_initial_status_known'), 'integration',
                               "initial_status in ('new','verified')")
    op.add_column('report', sa.Column('event_type', sa.String(length=100), nullable=True))
    op.add_column('report', sa.Column('incident_of', sa.UUID(), nullable=True))
    op.create_index('ix_report_incident_of', 'report', ['incident_of'], unique=False, postgresql_where=sa.text('incident_of IS NOT NULL'))
    op.create_index('ix_report_people_category_occurred', 'report', ['category_id', 'occurred_from'], unique=False,
                    postgresql_where=sa.text("source NOT LIKE 'integration:%'"))
    op.create_foreign_key(op.f('fk_report_incident_of_report'), 'report', 'report', ['incident_of'], ['id'], ondelete='SET NULL')


def downgrade() -> None:
    op.drop_constraint(op.f('fk_report_incident_of_report'), 'report', type_='foreignkey')
    op.drop_index('ix_report_people_category_occurred', table_name='report',
                  postgresql_where=sa.text("source NOT LIKE 'integration:%'"))
    op.drop_index('ix_report_incident_of', table_name='report', postgresql_where=sa.text('incident_of IS NOT NULL'))
    op.drop_column('report', 'incident_of')
    op.drop_column('report', 'event_type')
    op.drop_constraint(op.f('ck_integration_initial_status_known'), 'integration', type_='check')
    op.drop_column('integration', 'initial_status')
    op.drop_constraint(op.f('fk_api_key_revoked_by_user'), 'api_key', type_='foreignkey')
    op.drop_constraint(op.f('fk_api_key_created_by_user'), 'api_key', type_='foreignkey')
    op.drop_column('api_key', 'revoked_by')
    op.drop_column('api_key', 'created_by')
    op.drop_column('api_key', 'prefix')
    op.drop_table('event_type_mapping')
