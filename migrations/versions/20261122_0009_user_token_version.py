"""Bearer tokens carry the user's token version; a new password counts it up

Before, a password set anew (app.manage user --reset-password) left the tokens issued with
the old one valid until they expired (12 hours by default). Tokens issued before this
migration have no version and count as version 0, which every user starts with.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 04:40:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

revision: str = '0009'
down_revision: Union[str, None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column('user', sa.Column('token_version', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    op.drop_column('user', 'token_version')
