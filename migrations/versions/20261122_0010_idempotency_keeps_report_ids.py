"""Idempotency records of reports keep the report's id only, not a copy of the report

A retried Idempotency-Key is now answered with the report as it is now, so the first answer
(its description, place and exact position) need not be kept: a copy there would outlive the
coordinator taking personal data out of the report. Photo records keep their answer (it holds
no text). The downgrade cannot bring the copies back; a retry then answers with the id alone.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22 12:30:00
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0010'
down_revision: Union[str, None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # (a photo's scope ends in "photo"; a report's is user, integration or public and an id)
    op.execute("""
        UPDATE idempotency_record SET response = jsonb_build_object('id', response -> 'id')
        WHERE scope NOT LIKE '%photo' AND response ? 'properties'
    """)


def downgrade() -> None:
    pass
