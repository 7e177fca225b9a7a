"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import hmac
import time
from typing import Annotated, Any, cast

import redis
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text

from api.deps import StateDep
from api.errors import ApiError, error_response
from api.schemas import errors
from api.state import ApiState
from core.errors import DatabaseBusy, ModelError
from core.status import DocumentStatus
from storage import jobs
from storage.db import write_lock_free
from storage.tables import Document
from workers import jobs as job_queue
from workers.blob_sweep import ORPHANS_SWEPT, TEMP_SWEPT
from workers.celery.queues import QUEUES
from workers.context import check_models

router = APIRouter(tags=["health"])

PRIORITY_SEPARATOR = "\x06\x16"  # kombu's Redis transport keeps priorities in extra lists


@router.get("/healthz", summary="The process is up; degraded while no worker is alive")
def healthz(state: StateDep) -> dict[str, Any]:
    """200 while the API process answers (restarting it would not help otherwise); the body
    says ``degraded`` while no worker beat its heartbeat lately or Redis does not answer, when
    uploads are accepted but nothing reads them. Needs no key."""
    try:
        client = redis.Redis.from_url(state.settings.redis_url, socket_timeout=1)
        try:
            workers = job_queue.live_workers(client)
        finally:
            client.close()
    except redis.RedisError as exc:
        return {"status": "degraded", "reason": f"Redis does not answer: {exc}"[:200]}
    if not workers:
        return {"status": "degraded", "workers": 0, "reason": "no worker is alive"}
    return {"status": "ok", "workers": workers}


BUSY_MEMORY_SECONDS = 5.0  # /readyz stays not ready this long after a request met a locked DB


def _writable(state: ApiState) -> bool:
    """False while the database's write lock is held elsewhere (probed, SQLite), or a request
    met a locked database in the last ``BUSY_MEMORY_SECONDS`` (any database)."""
    busy_at = state.database_busy_at
    if busy_at is not None and time.monotonic() - busy_at < BUSY_MEMORY_SECONDS:
        return False
    return write_lock_free(state.sql_engine, wait_seconds=1.0)


def _readiness(state: ApiState) -> dict[str, Any]:
    checks: dict[str, Any] = {}
    try:
        check_models(state.settings)
        checks["models"] = "ok"
    except ModelError as exc:
        checks["models"] = f"error: {exc.message}"
    try:
        with state.sql_engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok" if _writable(state) else f"error: {DatabaseBusy.default_message}"
    except Exception as exc:
        checks["database"] = f"error: {str(exc).splitlines()[0][:200]}"
    try:
        client = redis.Redis.from_url(state.settings.redis_url, socket_timeout=2)
        client.ping()
        client.close()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {exc}"
    try:
        checks["workers"] = job_queue.answering_workers(1.0) if checks["redis"] == "ok" else 0
    except Exception as exc:
        checks["workers"] = 0
        checks["workers_error"] = str(exc)[:200]
    return checks


@router.get(
    "/readyz",
    responses=errors(503),
    summary="Database (writable), Redis and at least one worker answer",
)
async def readyz(state: StateDep) -> JSONResponse:
    """200 with the checks when ready, 503 with the failing check otherwise (the database
    fails while another process holds its write lock, when uploads would answer 503)."""
    checks = await run_in_threadpool(_readiness, state)
    failing = [k for k in ("models", "database", "redis") if checks[k] != "ok"]
    if not checks["workers"]:
        failing.append("workers")
    if failing:
        details = ", ".join(f"{k}: {checks[k] if k != 'workers' else 'none'}" for k in failing)
        return error_response(503, "not_ready", f"not ready: {details}")
    return JSONResponse({"status": "ready", **checks})


class ServiceCollector(Collector):
    """Metrics read at scrape time from Redis (queues) and the database (outcomes), so they
    hold for the whole service, not one API process."""

    def __init__(self, state: ApiState) -> None:
        self.state = state

    def collect(self) -> Any:
        depth = GaugeMetricFamily(
            "scanrag_queue_depth", "Tasks waiting in each queue", labels=["queue"]
        )
        try:
            client = redis.Redis.from_url(self.state.settings.redis_url, socket_timeout=2)
            for queue in QUEUES:
                keys = [queue] + [f"{queue}{PRIORITY_SEPARATOR}{p}" for p in (3, 6, 9)]
                depth.add_metric([queue], float(sum(cast(int, client.llen(k)) for k in keys)))
            client.close()
        except redis.RedisError:
            pass
        yield depth
        documents = GaugeMetricFamily("scanrag_documents", "Documents by status", labels=["status"])
        pages = CounterMetricFamily(
            "scanrag_pages", "Pages read, by the outcome of their document", labels=["outcome"]
        )
        failures = CounterMetricFamily(
            "scanrag_document_failures", "Failed documents by error code", labels=["code"]
        )
        durations = SummaryMetricFamily(
            "scanrag_document_processing_seconds", "Time from pick-up to done or failed"
        )
        with self.state.sessions() as session:
            for status, count, pages_done in session.execute(
                select(
                    Document.status, func.count(), func.coalesce(func.sum(Document.pages_done), 0)
                ).group_by(Document.status)
            ):
                documents.add_metric([status], float(count))
                pages.add_metric([status], float(pages_done))
            for code, count in session.execute(
                select(Document.error_code, func.count())
                .where(Document.status == DocumentStatus.FAILED)
                .group_by(Document.error_code)
            ):
                failures.add_metric([code or "unknown"], float(count))
            spans = session.execute(
                select(Document.started_at, Document.finished_at).where(
                    Document.finished_at.is_not(None), Document.started_at.is_not(None)
                )
            ).all()
        seconds = [(end - start).total_seconds() for start, end in spans if start and end]
        durations.add_metric([], count_value=len(seconds), sum_value=sum(seconds))
        yield from (documents, pages, failures, durations)
        yield _swept(self.state)


def _swept(state: ApiState) -> CounterMetricFamily:
    """Temp files and orphan blobs swept so far, by every process (workers.blob_sweep)."""
    swept = CounterMetricFamily(
        "scanrag_blobs_swept", "Stale temp files and orphan blobs deleted", labels=["kind"]
    )
    with state.sessions() as session:
        for kind, name in (("temp", TEMP_SWEPT), ("orphan", ORPHANS_SWEPT)):
            swept.add_metric([kind], float(jobs.get_count(session, name=name)))
    return swept


def _operator(request: Request, state: StateDep) -> None:
    """Passes the operator's metrics key; 401 without a key, 403 for any other (a tenant's
    key included: the counts are every tenant's) or when no metrics key is set."""
    service = state.settings.service
    if service.auth_disabled:
        return
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError("unauthorized", "send the metrics key: 'Authorization: Bearer <key>'", 401)
    expected = service.metrics_key.encode()
    if not expected or not hmac.compare_digest(key.strip().encode(), expected):
        raise ApiError(
            "metrics_forbidden",
            "/metrics takes the operator's key (SCANRAG_SERVICE__METRICS_KEY), not a tenant's",
            403,
        )


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}, **errors(401, 403)},
    summary="Prometheus metrics (the operator's key)",
)
def metrics(state: StateDep, operator: Annotated[None, Depends(_operator)]) -> Response:
    """Queue depth, documents and pages by outcome, processing time, failures by code: the
    whole service's, so only for the operator's key (``service.metrics_key``)."""
    registry = CollectorRegistry()
    registry.register(ServiceCollector(state))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
