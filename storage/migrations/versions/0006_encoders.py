"""Encoders by name and weights' sha256, named by every vector; image vectors of pages and
figures; vectors of any width.

``encoders`` replaces ``index_info`` (one model name and width for the whole index): each
``chunks`` row names the encoder of its embedding (``encoder_id``), and the new
``image_vectors`` table holds the image encoder's vectors of page images and figure regions.
Existing vectors are assigned to the model ``index_info`` named (the built-in MiniLM's weights'
sha256 when it is that model). PostgreSQL: the vector column loses its fixed width and the one
HNSW index becomes one per encoder, over ``embedding::vector(dim)`` of that encoder's rows.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


def upgrade() -> None:
    bind = op.get_bind()
    pg = bind.dialect.name == "postgresql"
    stamp = sa.DateTime(timezone=True)
    row_id = sa.BigInteger() if pg else sa.Integer()
    vector = Vector() if pg else sa.LargeBinary()
    op.create_table(
        "encoders",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("created_at", stamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_encoders"),
        sa.UniqueConstraint(
            "kind", "name", "sha256", "dim", name="uq_encoders_kind_name_sha256_dim"
        ),
        sa.CheckConstraint("kind IN ('text', 'image')", name="ck_encoders_kind_known"),
    )
    op.add_column("chunks", sa.Column("encoder_id", sa.Integer(), nullable=True))
    op.create_index("ix_chunks_encoder_id", "chunks", ["encoder_id"])
    op.create_table(
        "image_vectors",
        sa.Column("id", row_id, autoincrement=True, nullable=False),
        sa.Column("document_id", sa.String(32), nullable=False),
        sa.Column("page_number", sa.Integer(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("region", sa.String(16), nullable=False),
        sa.Column("bbox", sa.JSON(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("embedding", vector, nullable=False),
        sa.Column("encoder_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_image_vectors"),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name="fk_image_vectors_document_id_documents",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "document_id",
            "page_number",
            "ordinal",
            name="uq_image_vectors_document_id_page_number_ordinal",
        ),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_image_vectors_encoder_id", "image_vectors", ["encoder_id"])
    if pg:
        op.drop_index("ix_chunks_embedding_hnsw", table_name="chunks")
        op.execute("ALTER TABLE chunks ALTER COLUMN embedding TYPE vector")

    held = bind.execute(sa.text("SELECT model_name, dim FROM index_info")).first()
    has_vectors = bind.execute(
        sa.text("SELECT 1 FROM chunks WHERE embedding IS NOT NULL LIMIT 1")
    ).first()
    if has_vectors is not None:
        name, dim = (held[0], int(held[1])) if held is not None else (MINILM, 384)
        # only the built-in model's weights are known here; another name keeps an unknown
        # sha256, which no configured model matches: reindex is asked for, as it should be
        sha256 = MINILM_SHA256 if name == MINILM else "unknown"
        bind.execute(
            sa.text(
                "INSERT INTO encoders (kind, name, sha256, dim, created_at)"
                " VALUES ('text', :name, :sha256, :dim, CURRENT_TIMESTAMP)"
            ),
            {"name": name, "sha256": sha256, "dim": dim},
        )
        encoder_id = bind.execute(sa.text("SELECT max(id) FROM encoders")).scalar_one()
        bind.execute(
            sa.text("UPDATE chunks SET encoder_id = :id WHERE embedding IS NOT NULL"),
            {"id": encoder_id},
        )
        if pg:
            op.execute(
                f"CREATE INDEX ix_chunks_embedding_hnsw_e{int(encoder_id)} ON chunks USING hnsw"
                f" ((embedding::vector({dim})) vector_cosine_ops)"
                f" WITH (m = 16, ef_construction = 64) WHERE encoder_id = {int(encoder_id)}"
            )
    op.drop_table("index_info")


def downgrade() -> None:
    # back to one model for the whole index: the text encoder with the most vectors (the
    # others' vectors are dropped; image vectors go with their table)
    bind = op.get_bind()
    pg = bind.dialect.name == "postgresql"
    kept = bind.execute(
        sa.text(
            "SELECT e.id, e.name, e.dim FROM encoders e JOIN chunks c ON c.encoder_id = e.id"
            " GROUP BY e.id, e.name, e.dim ORDER BY count(*) DESC LIMIT 1"
        )
    ).first()
    if kept is not None:
        bind.execute(
            sa.text("UPDATE chunks SET embedding = NULL WHERE encoder_id <> :id"), {"id": kept[0]}
        )
    if pg:
        for (name,) in bind.execute(
            sa.text(
                "SELECT indexname FROM pg_indexes WHERE indexname LIKE 'ix_%_embedding_hnsw_e%'"
            )
        ):
            op.execute(f'DROP INDEX IF EXISTS "{name}"')
        dim = 384 if kept is None else int(kept[2])
        op.execute(f"ALTER TABLE chunks ALTER COLUMN embedding TYPE vector({dim})")
        op.create_index(
            "ix_chunks_embedding_hnsw",
            "chunks",
            ["embedding"],
            postgresql_using="hnsw",
            postgresql_with={"m": 16, "ef_construction": 64},
            postgresql_ops={"embedding": "vector_cosine_ops"},
        )
    op.create_table(
        "index_info",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_index_info"),
        sa.CheckConstraint("id = 1", name="ck_index_info_single_row"),
    )
    if kept is not None:
        bind.execute(
            sa.text(
                "INSERT INTO index_info (id, model_name, dim, created_at)"
                " VALUES (1, :name, :dim, CURRENT_TIMESTAMP)"
            ),
            {"name": kept[1], "dim": kept[2]},
        )
    op.drop_index("ix_image_vectors_encoder_id", table_name="image_vectors")
    op.drop_table("image_vectors")
    op.drop_index("ix_chunks_encoder_id", table_name="chunks")
    with op.batch_alter_table("chunks") as batch:
        batch.drop_column("encoder_id")
    op.drop_table("encoders")
