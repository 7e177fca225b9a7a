"""Batch ingestion: every file under a folder becomes a document on the batch queue."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PurePosixPath

from core.errors import CorruptDocument, PathNotAllowed, ScanragError
from core.logging import get_logger
from core.status import BatchStatus
from core.vocab import BATCH
from pipelines.import_files import files_inside, folder_inside, open_inside, tenant_folder
from storage import jobs
from storage.tables import Batch
from workers.ingest import document_for_file, fingerprint
from workers.runtime import Runtime

log = get_logger("batches")


def list_batch_files(runtime: Runtime, batch_id: str, *, enqueue: Callable[[str], None]) -> None:
    """Create (or find) a document per file of the batch's folder and queue the new ones.

    The folder is the batch's ``source``, relative to the tenant's import folder
    (``<import root>/<tenant>``), and every file is read inside that one (see
    pipelines/import_files.py). Safe to run again: files already listed are skipped, content
    already stored is not queued.
    """
    with runtime.sessions.begin() as session:
        batch = session.get(Batch, batch_id)
        if batch is None or batch.status != BatchStatus.LISTING:
            return
        tenant, source = batch.tenant, batch.source
    root = runtime.settings.service.import_root
    try:
        if root is None:
            raise OSError("folder batches are off (SCANRAG_SERVICE__IMPORT_ROOT is not set)")
        base = tenant_folder(root, tenant)
        # checked at the request too; the folder may have become a link out since
        folder = folder_inside(base, source)
        files, refused = files_inside(base / folder)
    except (OSError, PathNotAllowed) as exc:
        reason = exc.message if isinstance(exc, PathNotAllowed) else str(exc)
        with runtime.sessions.begin() as session:
            row = session.get(Batch, batch_id)
            if row is not None:
                row.status = BatchStatus.FAILED
                row.error_message = f"cannot list the folder: {reason}"
        return
    for path in refused:
        # a link out of the folder is never read; it is listed with the reason, not skipped
        _refuse_file(runtime, batch_id, folder / path, OutsideFolder())
    for path in files:
        _add_file(runtime, batch_id, tenant, base, folder / path, enqueue)
    with runtime.sessions.begin() as session:
        row = session.get(Batch, batch_id)
        if row is not None:
            row.status, row.files_total = BatchStatus.LISTED, len(files) + len(refused)
    log.info("batch listed", extra={"batch": batch_id, "files": len(files)})


class OutsideFolder(PathNotAllowed):
    default_message = "a link to a file outside the batch's folder: not read"


def _refuse_file(runtime: Runtime, batch_id: str, path: PurePosixPath, error: ScanragError) -> None:
    """List a file of the batch that is not read, with the reason (it counts as failed)."""
    with runtime.sessions.begin() as session:
        jobs.add_batch_item(
            session,
            batch_id=batch_id,
            path=str(path),
            document_id=None,
            error_code=error.code,
            error_message=error.message,
        )


def _add_file(
    runtime: Runtime,
    batch_id: str,
    tenant: str,
    base: Path,
    path: PurePosixPath,
    enqueue: Callable[[str], None],
) -> None:
    """Read the file ``path`` (relative to the tenant's folder ``base``) into the blob store
    and make it the tenant's document; or list it as refused, with the reason."""
    try:
        # one descriptor: the hash, size and head, then the copy stored, all come from it
        with open_inside(base, path) as f:
            sha256, size, head = fingerprint(f)
            f.seek(0)
            if runtime.blobs.put_file(f) != sha256:
                raise CorruptDocument("the file changed while it was being read; send it again")
    except ScanragError as exc:
        _refuse_file(runtime, batch_id, path, exc)
        return
    with runtime.sessions.begin() as session:
        document, created = document_for_file(
            session, path, sha256=sha256, size=size, head=head, tenant=tenant, queue=BATCH
        )
        jobs.add_batch_item(session, batch_id=batch_id, path=str(path), document_id=document.id)
        document_id = document.id
    if created:
        enqueue(document_id)
