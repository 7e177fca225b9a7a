"""Document metadata holding NaN or Infinity (accepted by uploads before they refused it) is
repaired: those values become null. SQLite kept them as text its JSON functions cannot read, so
every metadata-filtered search of the tenant failed; PostgreSQL never stored them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import json
import math
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinite number replaced by None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    rows = bind.execute(
        sa.text(
            "SELECT id, metadata FROM documents"
            " WHERE metadata IS NOT NULL AND NOT json_valid(metadata)"
        )
    ).all()
    for doc_id, text in rows:
        try:
            value = finite(json.loads(text))
        except ValueError:
            value = {}  # not JSON at all: nothing a filter could match
        bind.execute(
            sa.text("UPDATE documents SET metadata = :m WHERE id = :id"),
            {"m": json.dumps(value, allow_nan=False), "id": doc_id},
        )


def downgrade() -> None:
    pass  # the values replaced were not numbers a client could use
