"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any, cast

import redis
from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text

from api.deps import StateDep, TenantDep
from api.errors import error_response
from api.schemas import errors
from api.state import ApiState
from core.errors import ModelError
from core.status import DocumentStatus
from storage.tables import Document
from workers.context import check_models
from workers.liveness import live_workers
from workers.queues import QUEUES

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
            workers = live_workers(client)
        finally:
            client.close()
    except redis.RedisError as exc:
        return {"status": "degraded", "reason": f"Redis does not answer: {exc}"[:200]}
    if not workers:
        return {"status": "degraded", "workers": 0, "reason": "no worker is alive"}
    return {"status": "ok", "workers": workers}


def _readiness(state: ApiState) -> dict[str, Any]:
    checks: dict[str, Any] = {}
    try:
        check_models(state.settings)
        checks["models"] = "ok"
    except ModelError as exc:
        checks["models"] = f"error: {exc.message}"
    try:
        with state.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
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
        replies = state.celery.control.ping(timeout=1.0) if checks["redis"] == "ok" else []
        checks["workers"] = len(replies or [])
    except Exception as exc:
        checks["workers"] = 0
        checks["workers_error"] = str(exc)[:200]
    return checks


@router.get(
    "/readyz",
    responses=errors(503),
    summary="Database, Redis and at least one worker answer",
)
async def readyz(state: StateDep) -> JSONResponse:
    """200 with the checks when ready, 503 with the failing check otherwise."""
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


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}, **errors(401)},
    summary="Prometheus metrics",
)
def metrics(state: StateDep, tenant: TenantDep) -> Response:
    """Queue depth, documents and pages by outcome, processing time, failures by code."""
    registry = CollectorRegistry()
    registry.register(ServiceCollector(state))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
