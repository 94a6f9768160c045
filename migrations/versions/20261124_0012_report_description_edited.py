"""A report remembers that the coordinator rewrote its description

So that an integration's event keeps the rewritten text (personal data taken out) when its
source sends the event again. Reports whose description the coordinator already rewrote (a
'moderate' entry of their history that names the description) are marked.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-24 09:00:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

revision: str = '0012'
down_revision: Union[str, None] = '0011'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column('report', sa.Column('description_edited', sa.Boolean(), server_default='false', nullable=False))
    op.execute("""UPDATE report SET description_edited = true
                  WHERE id IN (SELECT report_id FROM report_event WHERE action = 'moderate' AND changes ? 'description')""")


def downgrade() -> None:
    op.drop_column('report', 'description_edited')
