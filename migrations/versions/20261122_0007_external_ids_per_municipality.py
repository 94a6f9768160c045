"""External ids unique per municipality: integrations of the same name in two municipalities

An integration's name (and so a report's ``source``) is unique within its municipality only:
a regional rescue service is set up once per municipality under the same name. The unique
index on (source, external_id) made such integrations share their external ids, and the feed
could update another municipality's report. Now the key includes the municipality.
(A downgrade fails once two municipalities hold the same source and external id.)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 02:00:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

revision: str = '0007'
down_revision: Union[str, None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_index('uq_report_municipality_source_external_id', 'report', ['municipality_id', 'source', 'external_id'],
                    unique=True, postgresql_where=sa.text('external_id IS NOT NULL'))
    op.drop_index('uq_report_source_external_id', table_name='report', postgresql_where=sa.text('external_id IS NOT NULL'))


def downgrade() -> None:
    op.create_index('uq_report_source_external_id', 'report', ['source', 'external_id'], unique=True,
                    postgresql_where=sa.text('external_id IS NOT NULL'))
    op.drop_index('uq_report_municipality_source_external_id', table_name='report',
                  postgresql_where=sa.text('external_id IS NOT NULL'))
