"""An index of the long occurrence windows (over a day), by end

Report point tiles of an older cycle need the windows that end after the cycle but start
before its end. On the occurrence index (keyed on the window's end) that read every later
report — a sequential scan of the table, ~0.4 s a tile with 1,000,000 reports a year. Now it is
the windows ending within a day after the cycle (a bounded range of that index) plus the long
windows from this small partial index (app/gis/tiles.py, reports_tile).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 03:30:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

revision: str = '0008'
down_revision: Union[str, None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# Frozen here (app.reports.models.LONG_WINDOW_SQL may change in a later migration).
LONG = "occurred_to - occurred_from > interval '1 day'"


def upgrade() -> None:
    op.create_index('ix_report_long_windows', 'report', ['municipality_id', 'occurred_to'], unique=False,
                    postgresql_where=sa.text(LONG))


def downgrade() -> None:
    op.drop_index('ix_report_long_windows', table_name='report', postgresql_where=sa.text(LONG))
