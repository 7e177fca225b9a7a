"""Batch ingestion: every file under a folder becomes a document on the batch queue."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from core.errors import BadInput, ScanragError
from core.logging import get_logger
from core.status import BatchStatus
from pipelines.load import files_inside
from storage import jobs
from storage.tables import Batch
from workers.ingest import document_for_file, fingerprint
from workers.queues import BATCH
from workers.runtime import Runtime

log = get_logger("batches")


def list_batch_files(state: Runtime, batch_id: str, *, enqueue: Callable[[str], None]) -> None:
    """Create (or find) a document per file of the batch's folder and queue the new ones.

    Safe to run again: files already listed are skipped, content already stored is not queued.
    """
    with state.sessions.begin() as session:
        batch = session.get(Batch, batch_id)
        if batch is None or batch.status != BatchStatus.LISTING:
            return
        tenant, folder = batch.tenant, Path(batch.source)
    root = state.settings.service.import_root
    try:
        if root is None:
            raise OSError("folder batches are off (SCANRAG_SERVICE__IMPORT_ROOT is not set)")
        if not folder.resolve().is_relative_to(root.resolve()):
            # checked at the request too; the folder may have become a link out since
            raise OSError("the folder is outside the import root")
        files, refused = files_inside(folder)
    except OSError as exc:
        with state.sessions.begin() as session:
            row = session.get(Batch, batch_id)
            if row is not None:
                row.status, row.error_message = BatchStatus.FAILED, f"cannot list the folder: {exc}"
        return
    for path in refused:
        # a link out of the folder is never read; it is listed with the reason, not skipped
        _refuse_file(state, batch_id, path, OutsideFolder())
    for path in files:
        _add_file(state, batch_id, tenant, path, enqueue)
    with state.sessions.begin() as session:
        row = session.get(Batch, batch_id)
        if row is not None:
            row.status, row.files_total = BatchStatus.LISTED, len(files) + len(refused)
    log.info("batch listed", extra={"batch": batch_id, "files": len(files)})


class OutsideFolder(BadInput):
    code = "path_not_allowed"
    default_message = "a link to a file outside the batch's folder: not read"


def _refuse_file(state: Runtime, batch_id: str, path: Path, error: ScanragError) -> None:
    """List a file of the batch that is not read, with the reason (it counts as failed)."""
    with state.sessions.begin() as session:
        jobs.add_batch_item(
            session,
            batch_id=batch_id,
            path=str(path),
            document_id=None,
            error_code=error.code,
            error_message=error.message,
        )


def _add_file(
    state: Runtime, batch_id: str, tenant: str, path: Path, enqueue: Callable[[str], None]
) -> None:
    try:
        sha256, size, head = fingerprint(path)
        if state.blobs.put_file(path) != sha256:
            raise ScanragError("the file changed while it was being read")
    except ScanragError as exc:
        _refuse_file(state, batch_id, path, exc)
        return
    with state.sessions.begin() as session:
        document, created = document_for_file(
            session, path, sha256=sha256, size=size, head=head, tenant=tenant, queue=BATCH
        )
        jobs.add_batch_item(session, batch_id=batch_id, path=str(path), document_id=document.id)
        document_id = document.id
    if created:
        enqueue(document_id)
