"""Taking uploads in: check every file, store the originals, create documents, queue the new;
and an ``Idempotency-Key``'s claim, its lease kept while the request is answered, and the
saved answer replayed to a repeat (``upload_files``: what the upload and batch routes call).

A request is all or nothing: if any file is refused, none is kept (its temp copies are deleted
and no row is written). Tasks are sent only after the rows are committed, and a document whose
task could not be sent is removed again, so the client's retry starts clean.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, NamedTuple

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from api.errors import ApiError
from api.schemas import DocumentPublic, UploadedDocument, UploadResponse
from api.state import ApiState
from api.uploads import UploadForm, receive_upload
from core.errors import BadInput, EmptyFile, ScanragError, Transient
from core.logging import get_logger
from core.netguard import Allow, check_url
from core.status import DocumentStatus
from pipelines.load import open_document, sniff
from storage import jobs
from storage import repository as repo
from workers.celery.queues import PREPARE
from workers.views import parse_metadata

log = get_logger("api")


class BrokerUnavailable(Transient):
    code = "broker_unavailable"
    default_message = (
        "the job queue cannot be reached; nothing was stored, try again shortly. The service"
        " needs Redis (SCANRAG_REDIS_URL): is redis-server running?"
    )


def parse_callback_url(text: str | None, allow: Allow) -> str | None:
    """The ``callback_url`` form field: an http(s) URL to a public address, or one the operator
    allowed (absent: None). Checked again, after DNS resolution, when the webhook is sent."""
    if text is None or not text.strip():
        return None
    check_url(text.strip(), allow)  # UrlRefused (422) otherwise
    return text.strip()


def check_files(state: ApiState, form: UploadForm) -> None:
    """Refuse the request unless every file is a readable document within the limits."""
    if not form.files:
        raise ApiError("bad_request", "no file: send one or more files in the field 'files'")
    for upload in form.files:
        try:
            if upload.size == 0:
                raise EmptyFile()
            sniff(upload.head)
            open_document(upload.path, state.load)  # encryption, damage, page count
        except BadInput as exc:
            refused = type(exc)(f"{upload.filename}: {exc.message}")
            raise refused from exc


def accept(
    state: ApiState,
    form: UploadForm,
    *,
    tenant: str,
    meta: dict[str, Any],
    callback_url: str | None,
    queue: str,
) -> list[repo.StoredDocument]:
    """Check every file (``check_files``), store them as documents of ``tenant`` and queue the
    new ones, and the failed ones sent again (retried: same id). Returns each file's document,
    whether this call created it and whether it retried it.
    """
    check_files(state, form)
    keys = [state.blobs.adopt(upload.path, upload.sha256) for upload in form.files]
    results: list[repo.StoredDocument] = []
    with state.writing(), state.sessions.begin() as session:
        for upload, key in zip(form.files, keys, strict=True):
            stored = repo.store_document(
                session,
                tenant=tenant,
                sha256=upload.sha256,
                filename=upload.filename,
                media_type=sniff(upload.head),
                size_bytes=upload.size,
                blob_key=key,
                meta=meta,
                callback_url=callback_url,
                queue=queue,
            )
            results.append(stored)
    try:
        for stored in results:
            if stored.queued:
                state.send(PREPARE, (stored.document.id, queue), queue)
    except Exception as exc:
        log.warning("cannot queue documents", extra={"error": str(exc)[:200]})
        _forget(state, results)
        raise BrokerUnavailable() from exc
    return results


def _forget(state: ApiState, results: list[repo.StoredDocument]) -> None:
    """Undo what an upload queued whose tasks could not be sent: the documents it created are
    removed, the failed ones it retried fail again (the client's retry retries them)."""
    document_ids = [s.document.id for s in results if s.created]
    try:
        with state.writing(), state.sessions.begin() as session:
            unused: list[str] = []
            for stored in results:
                if stored.retried:
                    error = BrokerUnavailable()
                    repo.finish(
                        session,
                        document_id=stored.document.id,
                        status=DocumentStatus.FAILED,
                        error_code=error.code,
                        error_message=error.message,
                    )
            for document_id in document_ids:
                unused += repo.delete_document(session, document_id=document_id)
        for key in unused:
            state.blobs.delete(key)
    except ScanragError:
        log.exception("cannot remove unqueued documents", extra={"documents": document_ids})


def _accept_and_answer(
    state: ApiState,
    form: UploadForm,
    *,
    tenant: str,
    meta: dict[str, Any],
    callback_url: str | None,
    queue: str,
    idempotency_key: str | None,
    holder: str = "",
) -> tuple[int, dict[str, Any]]:
    """``accept`` the form, build the response and keep it for ``idempotency_key`` (claimed
    by the caller as ``holder``): the blocking part of an upload, run in one thread hop. A
    failed request gives its key up again."""
    try:
        accepted = accept(
            state, form, tenant=tenant, meta=meta, callback_url=callback_url, queue=queue
        )
    except BaseException:
        if idempotency_key:
            _release(state, tenant, idempotency_key, holder)
        raise
    documents = [
        UploadedDocument(**DocumentPublic.fields_of(s.document), created=s.created)
        for s in accepted
    ]
    # 202 when anything was queued: new, or a failed document retried (created false, queued)
    status = 202 if any(s.queued for s in accepted) else 200
    body = UploadResponse(documents=documents).model_dump(mode="json")
    if idempotency_key:
        with state.writing(), state.sessions.begin() as session:
            jobs.save_response(
                session,
                tenant=tenant,
                key=idempotency_key,
                holder=holder,
                status_code=status,
                response=body,
            )
    return status, body


def _release(state: ApiState, tenant: str, key: str, holder: str) -> None:
    try:
        with state.writing(), state.sessions.begin() as session:
            jobs.release_key(session, tenant=tenant, key=key, holder=holder)
    except Exception as exc:  # the request's own error matters more; the lease runs out anyway
        log.warning("cannot release an idempotency key", extra={"error": str(exc)[:200]})


class Replay(NamedTuple):
    """The saved answer to an earlier request with the same ``Idempotency-Key``."""

    status: int
    body: dict[str, Any]


def _claim(state: ApiState, tenant: str, key: str, fingerprint: str, holder: str) -> Replay | None:
    """Claim ``key`` for this request as ``holder`` (None), or the saved answer to replay;
    raises 422 for the key reused with another request and 409 while its first request is
    still answered by a live process (its lease is renewed: ``_holding``)."""
    with state.writing(), state.sessions.begin() as session:
        held = jobs.claim_key(
            session,
            tenant=tenant,
            key=key,
            fingerprint=fingerprint,
            holder=holder,
            lease_seconds=state.settings.service.idempotency_lease,
        )
        if held is None:
            return None
        if held.fingerprint is not None and held.fingerprint != fingerprint:
            raise ApiError(
                "idempotency_key_reused",
                "this Idempotency-Key was used for a different request (other files or fields)",
                422,
            )
        if held.status_code == jobs.PENDING:
            raise ApiError(
                "idempotency_key_in_progress",
                "a request with this Idempotency-Key is still being answered: retry shortly",
                409,
            )
        return Replay(held.status_code, held.response)


@asynccontextmanager
async def _holding(
    state: ApiState, tenant: str, key: str | None, holder: str
) -> AsyncIterator[None]:
    """Renew ``holder``'s lease on ``key`` every third of the lease while the body runs, so a
    long request (a large PDF being opened) keeps its claim and a dead process's runs out."""
    if not key:
        yield
        return
    lease = state.settings.service.idempotency_lease

    def renew() -> bool:
        with state.writing(), state.sessions.begin() as session:
            return jobs.renew_key(
                session, tenant=tenant, key=key, holder=holder, lease_seconds=lease
            )

    async def keep() -> None:
        while True:
            await asyncio.sleep(lease / 3)
            try:
                if not await run_in_threadpool(renew):
                    return  # answered, or taken over after this process stalled past its lease
            except Exception as exc:  # a busy database: try again at the next beat
                log.warning("cannot renew an idempotency key", extra={"error": str(exc)[:200]})

    beat = asyncio.create_task(keep())
    try:
        yield
    finally:
        beat.cancel()


async def upload_files(
    request: Request, state: ApiState, tenant: str, idempotency_key: str | None, queue: str
) -> tuple[int, dict[str, Any], UploadForm, bool]:
    """Receive, check and accept an upload; returns (status, body, form, replayed)."""
    form = await receive_upload(request, state.blobs, max_bytes=state.settings.limits.max_bytes)
    try:
        meta = parse_metadata(form.fields.get("metadata"))
        callback_url = parse_callback_url(
            form.fields.get("callback_url"), state.settings.service.webhook_allowed
        )
        holder = state.claim_holder() if idempotency_key else ""
        if idempotency_key:
            replay = await run_in_threadpool(
                _claim, state, tenant, idempotency_key, form.fingerprint(), holder
            )
            if replay is not None:
                form.discard()
                return replay.status, replay.body, form, True
        async with _holding(state, tenant, idempotency_key, holder):
            status, body = await run_in_threadpool(
                _accept_and_answer,
                state,
                form,
                tenant=tenant,
                meta=meta,
                callback_url=callback_url,
                queue=queue,
                idempotency_key=idempotency_key,
                holder=holder,
            )
    except BaseException:
        form.discard()
        raise
    return status, body, form, False
