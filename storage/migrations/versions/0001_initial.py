"""Documents, pages, chunks with embeddings and full-text search, and the index model row.

PostgreSQL: the pgvector extension, an HNSW cosine index on ``chunks.embedding`` and a generated
``chunks.text_tsv`` column with a GIN index. SQLite: an external-content FTS5 table
``chunks_fts`` (rowid = ``chunks.id``) kept in sync by triggers.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

DIM = 384

SQLITE_FTS = [
    "CREATE VIRTUAL TABLE chunks_fts USING fts5("
    " text, content='chunks', content_rowid='id',"
    " tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN"
    " INSERT INTO chunks_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN"
    " INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.id, old.text); END",
    "CREATE TRIGGER chunks_fts_update AFTER UPDATE OF text ON chunks BEGIN"
    " INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);"
    " INSERT INTO chunks_fts(rowid, text) VALUES (new.id, new.text); END",
]


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    row_id = sa.BigInteger() if pg else sa.Integer()
    json_doc = postgresql.JSONB() if pg else sa.JSON()
    stamp = sa.DateTime(timezone=True)
    if pg:
        op.execute("CREATE EXTENSION IF NOT EXISTS vector")

    op.create_table(
        "documents",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("filename", sa.String(512), nullable=False),
        sa.Column("media_type", sa.String(128), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("page_count", sa.Integer(), nullable=True),
        sa.Column("pages_done", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("metadata", json_doc, nullable=False),
        sa.Column("blob_key", sa.String(80), nullable=False),
        sa.Column("created_at", stamp, nullable=False),
        sa.Column("updated_at", stamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_documents"),
        sa.UniqueConstraint("tenant", "sha256", name="uq_documents_tenant_sha256"),
        sa.CheckConstraint(
            "status IN ('queued', 'processing', 'done', 'failed')",
            name=op.f("ck_documents_status_known"),
        ),
    )
    op.create_index("ix_documents_tenant_created_at", "documents", ["tenant", "created_at"])

    op.create_table(
        "pages",
        sa.Column("id", row_id, autoincrement=True, nullable=False),
        sa.Column("document_id", sa.String(32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("dpi", sa.Integer(), nullable=True),
        sa.Column("rotation", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("layout", json_doc, nullable=False),
        sa.Column("image_key", sa.String(80), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_pages"),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name="fk_pages_document_id_documents",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("document_id", "number", name="uq_pages_document_id_number"),
    )

    chunk_columns: list[sa.Column[object]] = [
        sa.Column("id", row_id, autoincrement=True, nullable=False),
        sa.Column("document_id", sa.String(32), nullable=False),
        sa.Column("page_number", sa.Integer(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("bbox", sa.JSON(), nullable=False),
        sa.Column("line_boxes", sa.JSON(), nullable=False),
        sa.Column("embedding", Vector(DIM) if pg else sa.LargeBinary(), nullable=True),
    ]
    if pg:
        chunk_columns.append(
            sa.Column(
                "text_tsv",
                postgresql.TSVECTOR(),
                sa.Computed("to_tsvector('english', text)", persisted=True),
            )
        )
    op.create_table(
        "chunks",
        *chunk_columns,
        sa.PrimaryKeyConstraint("id", name="pk_chunks"),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name="fk_chunks_document_id_documents",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("document_id", "ordinal", name="uq_chunks_document_id_ordinal"),
        sqlite_autoincrement=True,
    )
    if pg:
        op.create_index(
            "ix_chunks_embedding_hnsw",
            "chunks",
            ["embedding"],
            postgresql_using="hnsw",
            postgresql_with={"m": 16, "ef_construction": 64},
            postgresql_ops={"embedding": "vector_cosine_ops"},
        )
        op.create_index("ix_chunks_text_tsv", "chunks", ["text_tsv"], postgresql_using="gin")
    else:
        for statement in SQLITE_FTS:
            op.execute(statement)

    op.create_table(
        "index_info",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("created_at", stamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_index_info"),
        sa.CheckConstraint("id = 1", name=op.f("ck_index_info_single_row")),
    )


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    op.drop_table("index_info")
    if not pg:
        for trigger in ("chunks_fts_insert", "chunks_fts_delete", "chunks_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS chunks_fts")
    op.drop_table("chunks")
    op.drop_table("pages")
    op.drop_index("ix_documents_tenant_created_at", table_name="documents")
    op.drop_table("documents")
