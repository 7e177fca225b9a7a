"""An ``Idempotency-Key`` remembers what its first request asked for (a fingerprint), so that the
same key with a different body is refused, and is claimed before the request is answered, so
that concurrent requests with one key make one document.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("idempotent_requests") as batch:
        batch.add_column(sa.Column("fingerprint", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("idempotent_requests") as batch:
        batch.drop_column("fingerprint")
