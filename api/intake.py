"""Taking uploads in: check every file, store the originals, create documents, queue the new.

A request is all or nothing: if any file is refused, none is kept (its temp copies are deleted
and no row is written). Tasks are sent only after the rows are committed, and a document whose
task could not be sent is removed again, so the client's retry starts clean.
"""

from __future__ import annotations

from typing import Any

from api.errors import ApiError
from api.state import ApiState
from api.uploads import UploadForm
from core.errors import BadInput, EmptyFile, ScanragError, Transient
from core.logging import get_logger
from core.netguard import Allow, UrlRefused, check_url
from core.status import DocumentStatus
from pipelines.load import open_document, sniff
from storage import repository as repo
from workers.celery.queues import PREPARE

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
    try:
        check_url(text.strip(), allow)
    except UrlRefused as exc:
        raise ApiError(exc.code, exc.message, 422) from exc
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
