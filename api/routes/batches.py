"""Batches: ingest a folder of the tenant's import folder (``<import root>/<tenant>``), or many
uploaded files, on the batch queue."""

from __future__ import annotations

from pathlib import PurePosixPath

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from api.deps import SessionDep, StateDep, TenantDep
from api.errors import ApiError, not_found
from api.intake import BrokerUnavailable, upload_files
from api.schemas import MULTIPART_FILES, BatchPublic, BatchRequest, errors, request_body
from api.state import ApiState
from core import strict_json
from core.errors import InvalidRequest, PathNotAllowed
from core.status import BatchStatus
from pipelines.import_files import folder_inside, tenant_folder
from storage import jobs
from storage.tables import Batch
from workers.celery.queues import BATCH, LIST_BATCH

router = APIRouter(prefix="/v1/batches", tags=["batches"], responses=errors(401, 422))


def _public(state: ApiState, batch: Batch) -> BatchPublic:
    with state.sessions() as session:
        counts = jobs.batch_counts(session, batch_id=batch.id)
    return BatchPublic(
        id=batch.id,
        status=BatchStatus(batch.status),
        source=_shown(batch.source),
        files_total=batch.files_total,
        counts=counts,
        error=batch.error_message,
        created_at=batch.created_at,
        links={"self": f"/v1/batches/{batch.id}"},
    )


def _shown(source: str) -> str:
    """A batch's source as answered: "upload", or its folder relative to the tenant's import
    folder (a batch made before import folders were per tenant stored the server's absolute
    path: only its last name is shown)."""
    return PurePosixPath(source).name if source.startswith("/") else source


def _folder(state: ApiState, tenant: str, requested: str) -> str:
    """The requested folder, relative to the tenant's import folder (``<import root>/<tenant>``),
    when it lies inside it and exists."""
    root = state.settings.service.import_root
    if root is None:
        raise PathNotAllowed("folder batches are off: set SCANRAG_SERVICE__IMPORT_ROOT")
    if "\x00" in requested or len(requested) > 4096:
        raise ApiError("invalid_path", "the path holds a NUL character or is too long", 422)
    try:
        # PathNotAllowed (403) for "..", an absolute path or a link out, whether the target
        # exists or not; a name that is not in the tenant's folder is simply not found there
        base = tenant_folder(root, tenant)
        folder = folder_inside(base, requested)
        if not (base / folder).is_dir():
            raise ApiError("folder_not_found", "no such folder in your import folder", 404)
    except OSError as exc:  # a name too long for the file system, a loop of links
        raise ApiError("invalid_path", f"the path cannot be used: {exc.strerror}", 422) from exc
    return folder.as_posix()


@router.post(
    "",
    status_code=202,
    response_model=BatchPublic,
    responses=errors(400, 403, 404, 409, 413, 415, 503, 507),
    openapi_extra=request_body(
        ("application/json", BatchRequest.model_json_schema()), MULTIPART_FILES
    ),
    summary="Start a batch",
)
async def create_batch(request: Request, state: StateDep, tenant: TenantDep) -> JSONResponse:
    """JSON ``{"path": folder}`` ingests every file under a folder of the tenant's import folder;
    multipart (field ``files``) ingests the uploaded files. Both go on the batch queue."""
    if request.headers.get("content-type", "").startswith("multipart/"):
        _, body, form, _ = await upload_files(request, state, tenant, None, BATCH)
        with state.sessions.begin() as session:
            batch = jobs.create_batch(session, tenant=tenant, source="upload")
            for upload, document in zip(form.files, body["documents"], strict=True):
                jobs.add_batch_item(
                    session, batch_id=batch.id, path=upload.filename, document_id=document["id"]
                )
            batch.status, batch.files_total = BatchStatus.LISTED, len(form.files)
    else:
        try:
            request_body = BatchRequest.model_validate(strict_json.loads(await request.body()))
        except ValueError as exc:  # strict_json.JsonRefused too: deep, 1e999, a lone surrogate
            message = 'send JSON {"path": "..."} or multipart files'
            raise InvalidRequest(message) from exc
        folder = _folder(state, tenant, request_body.path)
        with state.sessions.begin() as session:
            batch = jobs.create_batch(session, tenant=tenant, source=folder)
        try:
            await run_in_threadpool(state.send, LIST_BATCH, (batch.id,), BATCH)
        except Exception as exc:
            with state.sessions.begin() as session:
                row = session.get(Batch, batch.id)
                if row is not None:
                    session.delete(row)
            raise BrokerUnavailable() from exc
    public = _public(state, batch)
    return JSONResponse(
        public.model_dump(mode="json"), status_code=202, headers={"Location": public.links["self"]}
    )


@router.get(
    "/{batch_id}", response_model=BatchPublic, responses=errors(404), summary="A batch's progress"
)
def get_batch(
    batch_id: str, session: SessionDep, state: StateDep, tenant: TenantDep
) -> BatchPublic:
    """Counts of the batch's documents by status."""
    batch = jobs.get_batch(session, batch_id=batch_id, tenant=tenant)
    if batch is None:
        raise not_found("batch")
    return _public(state, batch)
