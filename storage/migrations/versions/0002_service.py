"""The service: tenants and API keys, idempotent requests, batches, task deliveries, webhook
attempts, shared worker state; documents gain a callback URL, a queue and timings.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    row_id = sa.BigInteger() if pg else sa.Integer()
    stamp = sa.DateTime(timezone=True)

    with op.batch_alter_table("documents") as batch:
        batch.add_column(sa.Column("callback_url", sa.String(2048), nullable=True))
        batch.add_column(sa.Column("queue", sa.String(32), nullable=True))
        batch.add_column(sa.Column("started_at", stamp, nullable=True))
        batch.add_column(sa.Column("finished_at", stamp, nullable=True))
    op.create_index("ix_documents_status", "documents", ["status"])

    op.create_table(
        "tenants",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("webhook_secret", sa.String(128), nullable=False),
        sa.Column("created_at", stamp, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_tenants"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_at", stamp, nullable=False),
        sa.Column("revoked_at", stamp, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.ForeignKeyConstraint(
            ["tenant"], ["tenants.name"], name="fk_api_keys_tenant_tenants", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )
    op.create_table(
        "idempotent_requests",
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("created_at", stamp, nullable=False),
        sa.PrimaryKeyConstraint("tenant", "key", name="pk_idempotent_requests"),
    )
    op.create_table(
        "batches",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("files_total", sa.Integer(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_at", stamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_batches"),
    )
    op.create_table(
        "batch_items",
        sa.Column("id", row_id, autoincrement=True, nullable=False),
        sa.Column("batch_id", sa.String(32), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("document_id", sa.String(32), nullable=True),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_batch_items"),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], name="fk_batch_items_batch_id_batches", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name="fk_batch_items_document_id_documents",
            ondelete="SET NULL",
        ),
        sa.UniqueConstraint("batch_id", "path", name="uq_batch_items_batch_id_path"),
    )
    op.create_table(
        "task_deliveries",
        sa.Column("task_key", sa.String(200), nullable=False),
        sa.Column("document_id", sa.String(32), nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("updated_at", stamp, nullable=False),
        sa.PrimaryKeyConstraint("task_key", name="pk_task_deliveries"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", row_id, autoincrement=True, nullable=False),
        sa.Column("document_id", sa.String(32), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", stamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name="fk_webhook_deliveries_document_id_documents",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "service_state",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", stamp, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_service_state"),
    )


def downgrade() -> None:
    for table in (
        "service_state",
        "webhook_deliveries",
        "task_deliveries",
        "batch_items",
        "batches",
        "idempotent_requests",
        "api_keys",
        "tenants",
    ):
        op.drop_table(table)
    op.drop_index("ix_documents_status", table_name="documents")
    with op.batch_alter_table("documents") as batch:
        for column in ("finished_at", "started_at", "queue", "callback_url"):
            batch.drop_column(column)
