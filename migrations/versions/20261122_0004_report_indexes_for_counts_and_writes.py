"""Report indexes: one H3 index instead of four; the occurrence index keyed on the window's end, covering

The hotspot counts become index-only scans over one range (app/hotspots/queries.py), and a
new report maintains 9 indexes instead of 12 (bulk load, the events feed): h3_r7..h3_r9 are
found through h3_r10 (app.hotspots.grid.finest_range).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 01:10:00
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0004'
down_revision: Union[str, None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

COVERED = ['occurred_from', 'status', 'incident_of', 'category_id', 'organisation_id',
           'h3_r7', 'h3_r8', 'h3_r9', 'h3_r10']


def upgrade() -> None:
    op.create_index('ix_report_municipality_occurred_to', 'report', ['municipality_id', 'occurred_to'],
                    unique=False, postgresql_include=COVERED)
    op.drop_index('ix_report_municipality_occurred', table_name='report')
    for res in (7, 8, 9):
        op.drop_index(f'ix_report_h3_r{res}', table_name='report')
    # Index-only scans skip the table only for pages vacuum has marked all-visible: vacuum
    # after every ~1 % of new rows (default 20 %), so the current cycle is not left out.
    op.execute("ALTER TABLE report SET (autovacuum_vacuum_insert_scale_factor = 0.01)")


def downgrade() -> None:
    op.execute("ALTER TABLE report RESET (autovacuum_vacuum_insert_scale_factor)")
    for res in (7, 8, 9):
        op.create_index(f'ix_report_h3_r{res}', 'report', [f'h3_r{res}'], unique=False)
    op.create_index('ix_report_municipality_occurred', 'report', ['municipality_id', 'occurred_from', 'occurred_to'],
                    unique=False)
    op.drop_index('ix_report_municipality_occurred_to', table_name='report')
