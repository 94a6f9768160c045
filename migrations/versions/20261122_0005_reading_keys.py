"""Reading keys: stored (SHA-256), listed, revoked one by one, expiring

Replaces the signed reading keys, which could not be revoked without deactivating the user.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 01:30:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

revision: str = '0005'
down_revision: Union[str, None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('reading_key',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('key_sha256', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('label', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['user.id'], name=op.f('fk_reading_key_created_by_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['revoked_by'], ['user.id'], name=op.f('fk_reading_key_revoked_by_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_reading_key_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reading_key')),
    sa.UniqueConstraint('key_sha256', name=op.f('uq_reading_key_key_sha256'))
    )
    op.create_index(op.f('ix_reading_key_user_id'), 'reading_key', ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_reading_key_user_id'), table_name='reading_key')
    op.drop_table('reading_key')
