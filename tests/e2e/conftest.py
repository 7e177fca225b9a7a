"""The whole service, for real: an API (uvicorn) and Celery workers in subprocesses, on real
Redis and a real database, talked to over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
# webhook receivers listen here; the shared service allows this address alone, so every other
# loopback form stays refused in the same service
RECEIVER_HOST = "127.0.0.2"
REDIS_URL = os.environ.get("SCANRAG_TEST_REDIS", "redis://127.0.0.1:6379")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Service:
    """One scanrag deployment: settings (env), an API process, worker processes."""

    home: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    api: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self, args: list[str], name: str) -> subprocess.Popen[bytes]:
        log = self.home / f"{name}-{len(self.logs)}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            # own process group: a test can SIGKILL a worker with all its children at once
            return subprocess.Popen(
                args,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start_api(self) -> None:
        self.api = self._spawn(
            [
                PYTHON,
                "-m",
                "uvicorn",
                "--factory",
                "api.app:create_app",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            "api",
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert self.api.poll() is None, self.tail()
            time.sleep(0.2)
        raise AssertionError("the API did not start\n" + self.tail())

    def start_worker(self, queues: str = "interactive,batch,webhooks") -> subprocess.Popen[bytes]:
        worker = self._spawn(
            [
                PYTHON,
                "-m",
                "celery",
                "-A",
                "workers.app",
                "worker",
                "-Q",
                queues,
                "-c",
                "1",
                "--without-gossip",
                "--without-mingle",
                "-n",
                f"w{len(self.logs)}@%h",
                "--loglevel",
                "INFO",
            ],
            "worker",
        )
        self.workers.append(worker)
        return worker

    def wait_ready(self, timeout: float = 90) -> None:
        """Until /readyz says the database, Redis and a worker answer."""
        deadline = time.monotonic() + timeout
        while httpx.get(self.url + "/readyz", timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "not ready\n" + self.tail()
            time.sleep(0.5)

    def kill_workers(self, sig: int = signal.SIGKILL) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                os.killpg(worker.pid, sig)
                worker.wait(timeout=60)
        self.workers.clear()

    def stop(self) -> None:
        self.kill_workers(signal.SIGTERM)
        if self.api is not None and self.api.poll() is None:
            os.killpg(self.api.pid, signal.SIGTERM)
            self.api.wait(timeout=30)

    def tail(self, lines: int = 40) -> str:
        out = []
        for log in self.logs:
            if log.exists():
                text = log.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"--- {log.name}\n" + "\n".join(text))
        return "\n".join(out)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PYTHON, "-m", "cli.main", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def new_key(self, tenant: str) -> tuple[str, str]:
        """(API key, webhook secret) of a new key for ``tenant``."""
        done = self.cli("keys", "create", "--tenant", tenant)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.strip().splitlines()
        secret = next(line.split(": ", 1)[1] for line in lines if line.startswith("webhook secret"))
        return lines[-1], secret

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
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCANRAG_")}
    env.update(
        {
            "SCANRAG_HOME": str(home),
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
            "PYTHONUNBUFFERED": "1",
            **extra,
        }
    )
    if database_url is not None:
        env["SCANRAG_DATABASE_URL"] = database_url
    return env


@pytest.fixture(scope="session")
def make_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Service]]:
    """Start services; all are stopped at the end of the session."""
    started: list[Service] = []
    db_numbers = iter(range(11, 16))

    def make(
        *,
        redis_url: str | None = None,
        database_url: str | None = None,
        workers: int = 1,
        **extra: str,
    ) -> Service:
        home = tmp_path_factory.mktemp("service")
        if redis_url is None:
            redis_url = f"{REDIS_URL}/{next(db_numbers)}"
            redis.Redis.from_url(redis_url).flushdb()
        service = Service(home, service_env(home, redis_url, database_url, **extra))
        started.append(service)
        service.start_api()
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
