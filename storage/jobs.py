"""What the service keeps about work: idempotent requests, batches, task deliveries, webhook
attempts and small shared facts. Keyword-only functions taking a Session; callers commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.status import FINAL, STATUSES, BatchStatus, DocumentStatus
from storage.db import dialect_insert
from storage.repository import insert_ignoring_conflict
from storage.tables import (
    Batch,
    BatchItem,
    Document,
    IdempotentRequest,
    ServiceState,
    TaskDelivery,
    WebhookDelivery,
    utcnow,
)

FAILED = DocumentStatus.FAILED.value  # a refused file of a batch counts as failed


def count_delivery(session: Session, *, task_key: str, document_id: str | None) -> int:
    """Count one more delivery of the task message ``task_key``; returns the count so far."""
    table = TaskDelivery.__table__
    stmt = dialect_insert(session, table).values(
        task_key=task_key, document_id=document_id, count=1, updated_at=utcnow()
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["task_key"],
        set_={"count": table.c.count + 1, "updated_at": utcnow()},
    ).returning(table.c.count)
    return int(session.execute(stmt).scalar_one())


def saved_response(session: Session, *, tenant: str, key: str) -> IdempotentRequest | None:
    """The response stored for a tenant's ``Idempotency-Key``, if any."""
    return session.get(IdempotentRequest, (tenant, key))


PENDING = 0  # status_code of a claimed key whose request is still being answered


def claim_key(
    session: Session, *, tenant: str, key: str, fingerprint: str
) -> IdempotentRequest | None:
    """Claim a tenant's ``Idempotency-Key`` for a request with this ``fingerprint``: None when
    this call claimed it (answer the request, then ``save_response``), else the row that holds
    it (another request's, finished or still pending). One atomic insert decides, so of any
    number of concurrent requests exactly one claims the key."""
    values = {
        "tenant": tenant,
        "key": key,
        "fingerprint": fingerprint,
        "status_code": PENDING,
        "response": {},
        "created_at": utcnow(),
    }
    if insert_ignoring_conflict(session, IdempotentRequest.__table__, values):
        return None
    return session.get(IdempotentRequest, (tenant, key), populate_existing=True)


def save_response(
    session: Session, *, tenant: str, key: str, status_code: int, response: dict[str, Any]
) -> None:
    """Keep the response given to the request that claimed ``Idempotency-Key``."""
    row = session.get(IdempotentRequest, (tenant, key))
    if row is not None:
        row.status_code, row.response = status_code, response


def release_key(session: Session, *, tenant: str, key: str) -> None:
    """Give up a claim whose request failed, so that the client's retry is answered anew."""
    row = session.get(IdempotentRequest, (tenant, key))
    if row is not None and row.status_code == PENDING:
        session.delete(row)


def create_batch(session: Session, *, tenant: str, source: str) -> Batch:
    """A new batch of ``tenant`` reading ``source`` (a folder, or "upload")."""
    batch = Batch(tenant=tenant, source=source, status=BatchStatus.LISTING, created_at=utcnow())
    session.add(batch)
    session.flush()
    return batch


def get_batch(session: Session, *, batch_id: str, tenant: str | None = None) -> Batch | None:
    """The batch with this id (in ``tenant`` when given), or None."""
    stmt = select(Batch).where(Batch.id == batch_id)
    if tenant is not None:
        stmt = stmt.where(Batch.tenant == tenant)
    return session.scalars(stmt).one_or_none()


def add_batch_item(
    session: Session,
    *,
    batch_id: str,
    path: str,
    document_id: str | None,
    error_code: str | None = None,
    error_message: str | None = None,
) -> bool:
    """Record one file of a batch; a path already recorded is left as it is (returns False)."""
    stmt = dialect_insert(session, BatchItem.__table__).values(
        batch_id=batch_id,
        path=path,
        document_id=document_id,
        error_code=error_code,
        error_message=error_message,
    )
    inserted = session.execute(
        stmt.on_conflict_do_nothing().returning(BatchItem.__table__.c.id)
    ).first()
    return inserted is not None


def batch_counts(session: Session, *, batch_id: str) -> dict[str, int]:
    """How many files of the batch are in each document status; refused files count "failed"."""
    stmt = (
        select(func.coalesce(Document.status, FAILED), func.count(BatchItem.id))
        .select_from(BatchItem)
        .outerjoin(Document, Document.id == BatchItem.document_id)
        .where(BatchItem.batch_id == batch_id)
        .group_by(func.coalesce(Document.status, FAILED))
    )
    counts = {status: 0 for status in STATUSES}
    for status, count in session.execute(stmt):
        counts[str(status)] = int(count)
    return counts


def record_webhook_attempt(
    session: Session,
    *,
    document_id: str,
    url: str,
    attempt: int,
    status_code: int | None,
    error: str | None,
) -> None:
    """Keep one webhook delivery attempt."""
    session.add(
        WebhookDelivery(
            document_id=document_id,
            url=url,
            attempt=attempt,
            status_code=status_code,
            error=error,
            created_at=utcnow(),
        )
    )
    session.flush()


def webhook_attempts(session: Session, *, document_id: str) -> list[WebhookDelivery]:
    """The document's webhook attempts, oldest first."""
    stmt = (
        select(WebhookDelivery)
        .where(WebhookDelivery.document_id == document_id)
        .order_by(WebhookDelivery.id)
    )
    return list(session.scalars(stmt))


def undelivered_webhooks(session: Session, *, max_attempts: int, since: datetime) -> list[str]:
    """Documents finished since ``since`` whose callback no attempt has delivered yet, with
    attempts left (fewer than ``max_attempts``), oldest first.

    What a broker that lost its queued webhook tasks must send again.
    """
    delivered = select(WebhookDelivery.document_id).where(WebhookDelivery.error.is_(None))
    attempts = (
        select(func.count(WebhookDelivery.id))
        .where(WebhookDelivery.document_id == Document.id)
        .scalar_subquery()
    )
    stmt = (
        select(Document.id)
        .where(
            Document.status.in_(FINAL),
            Document.callback_url.is_not(None),
            Document.finished_at >= since,
            Document.id.not_in(delivered),
            attempts < max_attempts,
        )
        .order_by(Document.finished_at)
    )
    return list(session.scalars(stmt))


def get_state(session: Session, *, name: str) -> str | None:
    """A shared fact by name, or None."""
    row = session.get(ServiceState, name)
    return None if row is None else row.value


def set_state(session: Session, *, name: str, value: str) -> None:
    """Set a shared fact."""
    stmt = dialect_insert(session, ServiceState.__table__).values(
        name=name, value=value, updated_at=utcnow()
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["name"], set_={"value": value, "updated_at": utcnow()}
        )
    )
