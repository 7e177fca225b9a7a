"""The guards every document task runs under: poison messages, bad input, passing faults.

A real SQLite database; the Celery task is a stand-in carrying only the request fields the
guard reads, and sending the webhook task is recorded instead of going to a broker."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from core.config import Settings
from core.errors import CorruptDocument
from storage.tables import Document
from tests.stored_documents import stored_document
from workers import documents
from workers.celery import tasks
from workers.runtime import Runtime


class Retry(Exception):
    pass


def fake_task(task_id: str, retries: int = 0) -> Any:
    """A stand-in for a bound ScanragTask: its request fields, and its retry policy's methods
    (celery's ``retry`` returns the exception to raise; here it carries the countdown)."""

    def retry(exc: BaseException, countdown: float) -> Retry:
        return Retry(countdown)

    task = SimpleNamespace(
        request=SimpleNamespace(id=task_id, retries=retries),
        name="scanrag.test",
        retry=retry,
        max_retries=tasks.ScanragTask.max_retries,
        backoff_cap=tasks.ScanragTask.backoff_cap,
    )
    task.retry_later = partial(tasks.ScanragTask.retry_later, task)
    task.retry_if_passing = partial(tasks.ScanragTask.retry_if_passing, task)
    return task


@pytest.fixture()
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    settings = Settings(home=tmp_path, service={"max_deliveries": 2})  # type: ignore[arg-type]
    built = Runtime.build(settings)
    monkeypatch.setattr(tasks, "process_runtime", lambda: built)
    sent: list[tuple[Any, ...]] = []
    monkeypatch.setattr(tasks.deliver_webhook, "apply_async", lambda *a, **k: sent.append(a))
    built.sent = sent  # type: ignore[attr-defined]
    return built


def new_document(runtime: Runtime) -> str:
    with runtime.sessions.begin() as session:
        return stored_document(session, tenant="t", filename="f.pdf").id


def status(runtime: Runtime, document_id: str) -> tuple[str, str | None]:
    with runtime.sessions() as session:
        document = session.get(Document, document_id)
        assert document is not None
        return document.status, document.error_code


def test_a_message_delivered_too_often_is_poison(runtime: Runtime) -> None:
    document_id = new_document(runtime)
    ran: list[int] = []
    for _ in range(2):  # delivered, the worker died, delivered again: still run
        tasks._run(fake_task("t-1"), document_id, lambda s, d: ran.append(1))
    assert len(ran) == 2 and status(runtime, document_id) == ("queued", None)
    tasks._run(fake_task("t-1"), document_id, lambda s, d: ran.append(1))
    assert len(ran) == 2  # the third delivery does not run
    assert status(runtime, document_id) == ("failed", "poison")
    assert runtime.sent == [((document_id,),)]  # type: ignore[attr-defined]
    # a retry is a new message: counted on its own
    tasks._run(fake_task("t-2", retries=1), document_id, lambda s, d: ran.append(1))
    assert len(ran) == 2  # the document is failed: nothing left to do


def test_bad_input_fails_at_once_without_retry(runtime: Runtime) -> None:
    document_id = new_document(runtime)

    def body(s: Runtime, d: Document) -> None:
        raise CorruptDocument("the PDF is truncated")

    tasks._run(fake_task("t-3"), document_id, body)
    assert status(runtime, document_id) == ("failed", "corrupt_document")


def test_a_passing_fault_is_retried_with_backoff(runtime: Runtime) -> None:
    document_id = new_document(runtime)

    def body(s: Runtime, d: Document) -> None:
        raise OperationalError("SELECT 1", {}, Exception("database is locked"))

    with pytest.raises(Retry) as raised:
        tasks._run(fake_task("t-4", retries=2), document_id, body)
    assert 8 <= raised.value.args[0] < 9  # 2 ** (retries + 1), and under a second of jitter
    assert status(runtime, document_id) == ("queued", None)
    # out of retries: the document fails with the fault, instead of hanging
    tasks._run(fake_task("t-5", retries=tasks.MAX_RETRIES), document_id, body)
    assert status(runtime, document_id)[0] == "failed"


def test_page_ranges_cover_the_document() -> None:
    assert documents.page_ranges(1, 4) == [(1, 1)]
    assert documents.page_ranges(9, 4) == [(1, 4), (5, 8), (9, 9)]
