"""An action's baseline says over how many cycles it was taken, and may be missing

The baseline was always the mean over the last 6 cycles, counting the cycles before the
municipality's first report as zeros; now it is over the cycles since reporting began (up to 6)
and None before half a cycle of reporting. Actions stored before this migration were taken over 6 cycles.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 10:00:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

revision: str = '0011'
down_revision: Union[str, None] = '0010'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column('action', sa.Column('baseline_cycles', sa.Integer(), server_default='6', nullable=False))
    op.alter_column('action', 'baseline_cycles', server_default=None)
    op.alter_column('action', 'baseline', existing_type=sa.Float(), nullable=True)


def downgrade() -> None:
    op.execute("UPDATE action SET baseline = 0 WHERE baseline IS NULL")
    op.alter_column('action', 'baseline', existing_type=sa.Float(), nullable=False)
    op.drop_column('action', 'baseline_cycles')
