"""The service harness shared by the e2e tests and the benchmarks: a scanrag deployment (API and
Celery worker processes) on a fresh SCANRAG_HOME, started, waited for, stopped, with every
process's output captured in a log file under that home.

What it runs is the tests' or the benchmark's choice (settings in the environment, how many API
processes, the worker's concurrency); this module only manages the processes.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
QUEUES = "interactive,batch,webhooks"


# an AssertionError: in a test, a service that does not come up is a failed check
class ServiceError(AssertionError):
    """The service did not start, did not answer in time, or one of its processes exited."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scanrag_env(home: Path, **extra: str) -> dict[str, str]:
    """This environment without any SCANRAG_ setting, plus SCANRAG_HOME and ``extra``."""
    # settings of the calling shell must not leak into a deployment that should be fresh
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCANRAG_")}
    env.update({"SCANRAG_HOME": str(home), "PYTHONUNBUFFERED": "1", **extra})
    return env


def terminate(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, grace: float = 30) -> None:
    """Send ``sig`` to the process's group; SIGKILL the group if still there after ``grace`` s."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    except ProcessLookupError:  # the group went away between poll() and killpg()
        pass


class RedisServer:
    """A Redis of our own on a free port, keeping nothing on disk: tests and benchmarks flush and
    fill its databases freely, and never touch a Redis they did not start (a developer's data on
    6379 stays as it was)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's URL without a database number."""
        return f"redis://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10) -> RedisServer:
        """Start the server and wait until it answers PING."""
        if shutil.which("redis-server") is None:
            raise ServiceError("redis-server is not installed (apt-get install redis-server)")
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.workdir)]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:  # not listening yet
                pass
            time.sleep(0.05)
        raise ServiceError(f"redis-server did not answer on port {self.port}")

    def stop(self) -> None:
        """Stop the server (its data goes with it)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)

    def restart(self) -> None:
        """Stop and start again on the same port, empty (an outage of the broker)."""
        self.stop()
        time.sleep(1.0)
        self.start()


@dataclass
class Service:
    """One scanrag deployment: its settings (``env``), an API process, worker processes.

    Each process runs in its own process group (so a stop takes a worker's pool children too)
    and writes its output to ``home/NAME-N.log``, listed in ``logs`` in start order. Processes
    run the code in ``root``: this checkout, or (a benchmark's baseline) another one.
    """

    home: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    api: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)
    root: Path = ROOT

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def spawn(self, args: list[str], name: str) -> subprocess.Popen[bytes]:
        """Start ``args`` in ``root`` with the service's environment, output to a new log file
        named after ``name``."""
        log = self.home / f"{name}-{len(self.logs)}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            # own process group: a test can SIGKILL a worker with all its children at once
            return subprocess.Popen(
                args,
                cwd=self.root,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start_api(self, api_workers: int | None = None) -> subprocess.Popen[bytes]:
        """Start the API without waiting for it.

        ``api_workers`` None: the app in one uvicorn process (what the tests run); a number:
        ``scanrag serve --workers N`` (migrations first, then N processes on one port).
        """
        if api_workers is None:
            args = ["-m", "uvicorn", "--factory", "api.app:create_app", "--port", str(self.port)]
            args += ["--log-level", "warning"]
        else:
            args = ["-m", "cli.main", "serve", "--port", str(self.port)]
            args += ["--workers", str(api_workers)]
        self.api = self.spawn([PYTHON, *args], "api")
        return self.api

    def start_worker(
        self, concurrency: int = 1, name: str | None = None, queues: str = QUEUES
    ) -> subprocess.Popen[bytes]:
        """Start a Celery worker of ``concurrency`` pool processes on ``queues``, named ``name``
        (default: w<number of the log>@%h, unique in this service)."""
        if name is None:
            name = f"w{len(self.logs)}@%h"
        worker = self.spawn(
            [
                PYTHON,
                "-m",
                "celery",
                "-A",
                "workers.celery.app",
                "worker",
                "-Q",
                queues,
                "-c",
                str(concurrency),
                "--without-gossip",
                "--without-mingle",
                "-n",
                name,
                "--loglevel",
                "INFO",
            ],
            "worker",
        )
        self.workers.append(worker)
        return worker

    def wait_ok(self, path: str, timeout: float, interval: float, request_timeout: float) -> None:
        """Poll GET ``path`` until it answers 200; ServiceError once ``timeout`` seconds have
        passed or as soon as a process of the service has exited."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc in [self.api, *self.workers]:
                if proc is not None and proc.poll() is not None:
                    raise ServiceError(f"a service process exited ({proc.args!r})\n{self.tail()}")
            try:
                if httpx.get(self.url + path, timeout=request_timeout).status_code == 200:
                    return
            except httpx.HTTPError:  # not listening yet
                pass
            time.sleep(interval)
        raise ServiceError(f"{path} did not answer 200 within {timeout:g} s\n{self.tail()}")

    def wait_healthy(self, timeout: float = 60) -> None:
        """Until /healthz answers 200: the API is up."""
        self.wait_ok("/healthz", timeout, interval=0.2, request_timeout=1)

    def wait_ready(self, timeout: float = 90, request_timeout: float = 10) -> None:
        """Until /readyz answers 200: the database, Redis and a worker answer."""
        self.wait_ok("/readyz", timeout, interval=0.5, request_timeout=request_timeout)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``scanrag ARGS`` with the service's settings."""
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
        if done.returncode != 0:
            raise ServiceError(f"keys create failed: {done.stderr}")
        lines = done.stdout.strip().splitlines()
        secret = next(line.split(": ", 1)[1] for line in lines if line.startswith("webhook secret"))
        return lines[-1], secret

    def kill_workers(self, sig: int = signal.SIGKILL, grace: float = 60) -> None:
        """Send ``sig`` to every worker's process group (SIGKILL after ``grace`` s); forget them."""
        for worker in self.workers:
            terminate(worker, sig, grace)
        self.workers.clear()

    def stop(self, worker_grace: float = 60, api_grace: float = 30) -> None:
        """SIGTERM the workers, then the API (SIGKILL what outlives its grace); idempotent."""
        # workers first (warm shutdown), then the API
        self.kill_workers(signal.SIGTERM, worker_grace)
        if self.api is not None:
            terminate(self.api, signal.SIGTERM, api_grace)

    def tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of every log, for failure messages."""
        out = []
        for log in self.logs:
            if log.exists():
                text = log.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"--- {log.name}\n" + "\n".join(text))
        return "\n".join(out)
