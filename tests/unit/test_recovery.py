"""What a restarted broker forgot is sent again: unfinished documents and undelivered webhooks.

A real SQLite database; the broker's ``run_id`` comes from a stand-in Redis client and the
tasks sent (by name) are recorded instead of going to a broker."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from core.config import Settings
from storage import jobs
from storage.tables import utcnow
from tests.stored_documents import stored_document
from workers.celery import recovery
from workers.runtime import Runtime


@pytest.fixture()
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    settings = Settings(home=tmp_path, service={"webhook_retries": 2})  # type: ignore[arg-type]
    built = Runtime.build(settings)
    monkeypatch.setattr(recovery, "process_runtime", lambda: built)
    sent: list[tuple[str, Any]] = []
    monkeypatch.setattr(
        recovery.app,
        "send_task",
        lambda name, args, queue: sent.append((name.removeprefix("scanrag."), args[0])),
    )
    built.sent = sent  # type: ignore[attr-defined]
    return built


def broker(monkeypatch: pytest.MonkeyPatch, run_id: str) -> None:
    client = SimpleNamespace(info=lambda section: {"run_id": run_id}, close=lambda: None)
    monkeypatch.setattr(recovery.redis.Redis, "from_url", lambda *a, **k: client)


def document(
    runtime: Runtime,
    name: str,
    *,
    status: str = "done",
    callback: bool = True,
    attempts: tuple[str | None, ...] = (),
    age: timedelta = timedelta(minutes=5),
) -> str:
    """A document finished ``age`` ago with these webhook attempts (their errors)."""
    with runtime.sessions.begin() as session:
        doc = stored_document(session, tenant="t", filename=f"{name}.pdf")
        doc.status = status
        doc.callback_url = "http://127.0.0.1:9/hook" if callback else None
        doc.finished_at = utcnow() - age if status in ("done", "failed") else None
        for k, error in enumerate(attempts, start=1):
            jobs.record_webhook_attempt(
                session,
                document_id=doc.id,
                url="http://127.0.0.1:9/hook",
                attempt=k,
                status_code=None if error else 200,
                error=error,
            )
        return doc.id


def test_undelivered_webhooks_are_sent_again_when_the_broker_restarted(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    never = document(runtime, "never")  # its webhook task was lost before any attempt
    failing = document(runtime, "failing", status="failed", attempts=("refused",))
    document(runtime, "delivered", attempts=("refused", None))
    document(runtime, "no-callback", callback=False)
    document(runtime, "gave-up", attempts=("refused",) * 3)  # 1 + webhook_retries attempts
    document(runtime, "old", age=timedelta(days=2))
    unfinished = document(runtime, "unfinished", status="processing")
    sent: list[tuple[str, Any]] = runtime.sent  # type: ignore[attr-defined]

    broker(monkeypatch, "run-1")
    assert recovery.check_broker(runtime.settings) == 3  # the first check ever
    assert sorted(sent) == sorted(
        [("prepare", unfinished), ("deliver_webhook", never), ("deliver_webhook", failing)]
    )
    sent.clear()
    assert recovery.check_broker(runtime.settings) == 0  # same broker: nothing was lost
    assert sent == []
    broker(monkeypatch, "run-2")  # restarted
    assert recovery.check_broker(runtime.settings) == 3
    assert ("deliver_webhook", never) in sent and ("deliver_webhook", failing) in sent
