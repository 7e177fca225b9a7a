"""What the service keeps about work: idempotent requests, batches, task deliveries, webhook
attempts and small shared facts. Keyword-only functions taking a Session; callers commit."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Text, cast, delete, func, select, update
from sqlalchemy.orm import Session

from core.status import FINAL, BatchStatus, DocumentStatus
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


def _range_prefix(document_id: str) -> str:
    return f"range:{document_id}:"


def claim_range(session: Session, *, document_id: str, start: int) -> bool:
    """Record that the document's page range starting at ``start`` was handed to a worker;
    False when it already was (one atomic insert decides between concurrent claimers).

    Kept as a ``task_deliveries`` row keyed ``range:<document>:<start>`` (workers/fairness.py)."""
    values = {
        "task_key": f"{_range_prefix(document_id)}{start}",
        "document_id": document_id,
        "count": 1,
        "updated_at": utcnow(),
    }
    return insert_ignoring_conflict(session, TaskDelivery.__table__, values)


def claimed_ranges(session: Session, *, document_id: str) -> set[int]:
    """The first pages of the document's ranges claimed so far."""
    prefix = _range_prefix(document_id)
    keys = session.scalars(
        select(TaskDelivery.task_key).where(
            TaskDelivery.document_id == document_id,
            TaskDelivery.task_key.startswith(prefix, autoescape=True),
        )
    )
    return {int(key.removeprefix(prefix)) for key in keys}


def forget_ranges(session: Session, *, document_id: str) -> None:
    """Drop the document's range claims (its window starts afresh, or it is finished)."""
    session.execute(
        delete(TaskDelivery)
        .where(
            TaskDelivery.document_id == document_id,
            TaskDelivery.task_key.startswith(_range_prefix(document_id), autoescape=True),
        )
        .execution_options(synchronize_session=False)
    )


def saved_response(session: Session, *, tenant: str, key: str) -> IdempotentRequest | None:
    """The response stored for a tenant's ``Idempotency-Key``, if any."""
    return session.get(IdempotentRequest, (tenant, key))


PENDING = 0  # status_code of a claimed key whose request is still being answered


def _lease(holder: str, lease_seconds: float) -> dict[str, Any]:
    return {"holder": holder, "lease_until": time.time() + lease_seconds}


def lease_expired(row: IdempotentRequest) -> bool:
    """Whether a pending claim's lease ran out (its holder stopped renewing it: the process
    answering it died). A pending row without a lease (kept before leases existed) has none."""
    until = (row.response or {}).get("lease_until")
    return not isinstance(until, int | float) or until < time.time()


def _holder_is(holder: str | None) -> Any:
    held = IdempotentRequest.response["holder"].as_string()
    return held.is_(None) if holder is None else held == holder


def _update_claim(
    session: Session, *, tenant: str, key: str, holder: str | None, values: dict[str, Any]
) -> bool:
    """Update the pending claim of ``key`` only while ``holder`` holds it; True when it did."""
    stmt = (
        update(IdempotentRequest)
        .where(
            IdempotentRequest.tenant == tenant,
            IdempotentRequest.key == key,
            IdempotentRequest.status_code == PENDING,
            _holder_is(holder),
        )
        .values(**values)
        .returning(IdempotentRequest.key)
        .execution_options(synchronize_session=False)
    )
    return session.execute(stmt).first() is not None


def claim_key(
    session: Session,
    *,
    tenant: str,
    key: str,
    fingerprint: str,
    holder: str,
    lease_seconds: float,
) -> IdempotentRequest | None:
    """Claim a tenant's ``Idempotency-Key`` for a request with this ``fingerprint``, held by
    ``holder`` (unique to this request) for ``lease_seconds`` unless renewed (``renew_key``):
    None when this call claimed it (answer the request, then ``save_response``), else the row
    that holds it (another request's, finished or still pending with a live lease).

    One atomic insert decides, so of any number of concurrent requests exactly one claims a
    new key. A pending claim whose lease ran out (its process died) is taken over by the same
    request, by an update conditional on the old holder: of concurrent retries, one wins.
    """
    values = {
        "tenant": tenant,
        "key": key,
        "fingerprint": fingerprint,
        "status_code": PENDING,
        "response": _lease(holder, lease_seconds),
        "created_at": utcnow(),
    }
    if insert_ignoring_conflict(session, IdempotentRequest.__table__, values):
        return None
    row = session.get(IdempotentRequest, (tenant, key), populate_existing=True)
    if (
        row is not None
        and row.status_code == PENDING
        and row.fingerprint in (None, fingerprint)
        and lease_expired(row)
    ):
        old = (row.response or {}).get("holder")
        taken = _update_claim(
            session,
            tenant=tenant,
            key=key,
            holder=old if isinstance(old, str) else None,
            values={"fingerprint": fingerprint, "response": values["response"]},
        )
        if taken:
            return None
        row = session.get(IdempotentRequest, (tenant, key), populate_existing=True)
    return row


def renew_key(
    session: Session, *, tenant: str, key: str, holder: str, lease_seconds: float
) -> bool:
    """Extend ``holder``'s claim of ``key`` by ``lease_seconds`` from now; False when it no
    longer holds it (answered, released, or taken over after its lease ran out)."""
    return _update_claim(
        session,
        tenant=tenant,
        key=key,
        holder=holder,
        values={"response": _lease(holder, lease_seconds)},
    )


def save_response(
    session: Session,
    *,
    tenant: str,
    key: str,
    holder: str,
    status_code: int,
    response: dict[str, Any],
) -> bool:
    """Keep the response given to the request that claimed ``Idempotency-Key`` (as
    ``holder``); False when its claim was taken over meanwhile (the other request's answer
    is kept)."""
    return _update_claim(
        session,
        tenant=tenant,
        key=key,
        holder=holder,
        values={"status_code": status_code, "response": response},
    )


def release_key(session: Session, *, tenant: str, key: str, holder: str) -> None:
    """Give up ``holder``'s claim whose request failed, so that the client's retry is
    answered anew."""
    session.execute(
        delete(IdempotentRequest)
        .where(
            IdempotentRequest.tenant == tenant,
            IdempotentRequest.key == key,
            IdempotentRequest.status_code == PENDING,
            _holder_is(holder),
        )
        .execution_options(synchronize_session=False)
    )


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


def batch_counts(session: Session, *, batch_id: str) -> dict[DocumentStatus, int]:
    """How many files of the batch are in each document status; refused files count "failed"."""
    stmt = (
        select(func.coalesce(Document.status, FAILED), func.count(BatchItem.id))
        .select_from(BatchItem)
        .outerjoin(Document, Document.id == BatchItem.document_id)
        .where(BatchItem.batch_id == batch_id)
        .group_by(func.coalesce(Document.status, FAILED))
    )
    counts = dict.fromkeys(DocumentStatus, 0)
    for status, count in session.execute(stmt):
        counts[DocumentStatus(status)] = int(count)
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


def add_to_count(session: Session, *, name: str, amount: int) -> None:
    """Add ``amount`` to the shared count ``name`` (a fact holding an integer; 0 when new), in
    one statement, so concurrent adders never lose one another's."""
    table = ServiceState.__table__
    stmt = dialect_insert(session, table).values(name=name, value=str(amount), updated_at=utcnow())
    total = cast(cast(table.c.value, Integer) + amount, Text)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["name"], set_={"value": total, "updated_at": utcnow()}
        )
    )


def get_count(session: Session, *, name: str) -> int:
    """The shared count ``name`` (0 when never added to)."""
    value = get_state(session, name=name)
    return int(value) if value is not None and value.lstrip("-").isdigit() else 0
