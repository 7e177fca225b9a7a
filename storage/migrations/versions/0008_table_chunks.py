"""A table chunk keeps the cells it covers (``cells``: a JSON list of ``{"row", "col",
"row_span", "col_span", "bbox", "text", "header"}``) and which of the document's tables it is
part of (``table_index``, 0-based), so a search hit in a table can name the cells it matched.
Both are null for other chunks, and for every chunk stored before (``scanrag reindex`` rebuilds
them).

Revision ID: 0008
Revises: 0007
Create Date: 2027-01-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("chunks") as batch:
        batch.add_column(sa.Column("cells", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("table_index", sa.Integer(), nullable=True))


def downgrade() -> None:
    # dropped in place (SQLite >= 3.35): a rebuilt table would lose the FTS5 sync triggers
    with op.batch_alter_table("chunks", recreate="never") as batch:
        batch.drop_column("table_index")
        batch.drop_column("cells")
