"""The whole service, for real: an API (uvicorn) and Celery workers in subprocesses, on real
Redis and a real database, talked to over HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import harness

# re-exported: the e2e test modules import these from here
from tests.harness import PYTHON as PYTHON
from tests.harness import ROOT as ROOT
from tests.harness import free_port as free_port
from tests.harness import scanrag_env

# webhook receivers listen here; the shared service allows this address alone, so every other
# loopback form stays refused in the same service
RECEIVER_HOST = "127.0.0.2"


class Service(harness.Service):
    """One scanrag deployment (see tests.harness.Service), with the tests' HTTP helpers."""

    def client(self, key: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def wait_for(
        self,
        client: httpx.Client,
        document_id: str,
        done: Callable[[dict[str, Any]], bool],
        timeout: float = 180,
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            body = client.get(f"/v1/documents/{document_id}").json()
            if done(body):
                return body
            if time.monotonic() > deadline:
                raise AssertionError(f"document stuck at {body}\n{self.tail()}")
            time.sleep(0.3)

    def wait_final(self, client: httpx.Client, document_id: str, timeout: float = 180) -> Any:
        return self.wait_for(
            client, document_id, lambda d: d["status"] in ("done", "failed"), timeout
        )


def service_env(
    home: Path, redis_url: str, database_url: str | None, **extra: str
) -> dict[str, str]:
    """The tests' settings: one thread per model, short time limits, a small upload limit."""
    settings = {
        "SCANRAG_REDIS_URL": redis_url,
        "SCANRAG_OCR__THREADS": "1",
        "SCANRAG_EMBED__THREADS": "1",
        "SCANRAG_SERVICE__PAGE_RANGE": "1",
        # short limits so a killed worker's task comes back within the test
        "SCANRAG_SERVICE__SOFT_TIME_LIMIT": "40",
        "SCANRAG_SERVICE__TIME_LIMIT": "45",
        "SCANRAG_SERVICE__VISIBILITY_TIMEOUT": "50",
        "SCANRAG_SERVICE__SWEEP_INTERVAL": "2",
        "SCANRAG_LIMITS__MAX_BYTES": str(3_000_000),
    }
    env = scanrag_env(home, **{**settings, **extra})
    if database_url is not None:
        env["SCANRAG_DATABASE_URL"] = database_url
    return env


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL (no database number) of a Redis this test session started on a free port, so no
    test ever flushes or fills a Redis it did not start; each service gets its own database."""
    server = harness.RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server.url
    server.stop()


@pytest.fixture()
def private_redis(tmp_path: Path) -> Iterator[harness.RedisServer]:
    """A Redis for one test, which the test may restart (a broker outage)."""
    server = harness.RedisServer(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def make_service(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> Iterator[Callable[..., Service]]:
    """Start services, each on its own database of the session's Redis; all are stopped at the
    end of the session."""
    started: list[Service] = []
    db_numbers = iter(range(1, 16))  # 0 is left to tests that take a database themselves

    def make(
        *,
        own_redis: str | None = None,
        database_url: str | None = None,
        workers: int = 1,
        **extra: str,
    ) -> Service:
        home = tmp_path_factory.mktemp("service")
        url = own_redis or f"{redis_url}/{next(db_numbers)}"
        service = Service(home, service_env(home, url, database_url, **extra))
        started.append(service)
        service.start_api()
        service.wait_healthy()
        for _ in range(workers):
            service.start_worker()
        if workers:
            service.wait_ready()
        return service

    yield make
    for service in started:
        service.stop()


@pytest.fixture(scope="session")
def import_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("imports")


@pytest.fixture(scope="session")
def service(make_service: Callable[..., Service], import_root: Path) -> Service:
    """The shared SQLite deployment most tests use."""
    return make_service(
        SCANRAG_SERVICE__IMPORT_ROOT=str(import_root), SCANRAG_SERVICE__WEBHOOK_ALLOW=RECEIVER_HOST
    )


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Each phase's report on the test item (``rep_setup``, ``rep_call``...), so a fixture can
    tell in its teardown that the test failed (the browser tests then save a screenshot)."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)
