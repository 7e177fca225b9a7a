"""``scanrag serve``, ``scanrag worker``, ``scanrag up`` and ``scanrag keys``: the service."""

from __future__ import annotations

import os
import signal
import sys
from typing import Annotated, Any

import typer

from cli.errors import exit_on_error
from cli.supervise import Child, supervise, watch_supervisor
from cli.tables import print_table
from core.vocab import Device
from workers.celery.queues import QUEUES

keys_app = typer.Typer(
    help="API keys of the service's tenants.", no_args_is_help=True, rich_markup_mode=None
)

DEFAULT_QUEUES = ",".join(QUEUES)


def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="API processes")] = 1,
) -> None:
    """Run the HTTP API (OpenAPI docs at /docs)."""
    import uvicorn

    from core.config import get_settings
    from workers.runtime import Runtime

    watch_supervisor()
    with exit_on_error():
        Runtime.build(get_settings()).close()  # migrate once, before the processes start
    if workers == 1:
        uvicorn.run(_API, factory=True, host=host, port=port, **_uvicorn_options())
        return
    _serve_processes(host, port, workers)


_API = "api.app:create_app"


def _uvicorn_options() -> dict[str, Any]:
    from api.edge import uvicorn_options
    from core.config import get_settings

    return uvicorn_options(get_settings().service)


def _serve_processes(host: str, port: int, workers: int) -> None:
    """``workers`` API processes, each listening on its own socket bound to the same port
    (SO_REUSEPORT), so the kernel spreads new connections over them evenly. With one shared
    socket (uvicorn's ``--workers``) whichever process wakes first takes a whole burst of
    connections, and keep-alive keeps them there: one process works while the others idle."""
    import multiprocessing

    spawn = multiprocessing.get_context("spawn")
    procs = [spawn.Process(target=_api_process, args=(host, port)) for _ in range(workers)]

    def stop(signum: int, _frame: object) -> None:
        for proc in procs:
            if proc.pid is not None and proc.is_alive():
                os.kill(proc.pid, signal.SIGTERM)  # uvicorn's graceful shutdown

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    if any(proc.exitcode for proc in procs):
        raise typer.Exit(1)


def _api_process(host: str, port: int) -> None:
    """One API process on its own SO_REUSEPORT socket."""
    import socket

    import uvicorn

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent turns Ctrl-C into SIGTERM
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    config = uvicorn.Config(_API, factory=True, **_uvicorn_options())
    uvicorn.Server(config).run(sockets=[sock])


def require_redis(url: str, command: str, timeout: float = 2.0) -> None:
    """Exit 3 with one line when nothing answers PING at the broker ``url``: what ``command``
    needs, where, and how to start it (a worker would otherwise retry the connection forever)."""
    import redis
    from sqlalchemy.engine import make_url

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            client.ping()
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError) as exc:
        shown = make_url(url).render_as_string(hide_password=True) if "@" in url else url
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(
            f"scanrag: {command} needs Redis (the job queue) at {shown}, which does not answer"
            f" ({reason}): start it with `redis-server --daemonize yes` (apt-get install"
            " redis-server), or point SCANRAG_REDIS_URL at one [broker_unavailable]",
            file=sys.stderr,
            flush=True,
        )
        raise typer.Exit(3) from exc


def worker(
    queues: Annotated[
        str, typer.Option("--queues", "-Q", help="comma-separated queues to serve")
    ] = DEFAULT_QUEUES,
    concurrency: Annotated[
        int | None,
        typer.Option("--concurrency", "-c", min=1, help="processes (default: CPU cores; 1 on GPU)"),
    ] = None,
    device: Annotated[
        Device | None,
        typer.Option(help="where models run (one worker per GPU: CUDA_VISIBLE_DEVICES)"),
    ] = None,
    name: Annotated[str, typer.Option(help="worker node name")] = "scanrag@%h",
) -> None:
    """Run a Celery worker: reads, embeds and indexes queued documents."""
    from core.config import get_settings

    watch_supervisor()
    if device is not None:
        os.environ["SCANRAG_OCR__DEVICE"] = device
        os.environ["SCANRAG_EMBED__DEVICE"] = device
        get_settings.cache_clear()
    if concurrency is None:
        # one process per core on CPU; one process per GPU, batching pages, on CUDA
        concurrency = 1 if device == "cuda" else (os.cpu_count() or 1)
    from workers.runtime import Runtime

    require_redis(get_settings().redis_url, "worker")
    with exit_on_error():
        runtime = Runtime.build(get_settings(), stores=False)
        runtime.check_models()
        runtime.open()  # migrate once, before the processes start
        runtime.close()
    from workers import jobs

    jobs.run_worker(
        [
            "worker",
            "--queues",
            queues,
            "--concurrency",
            str(concurrency),
            "--hostname",
            name,
            "--loglevel",
            get_settings().log_level,
            "--without-gossip",
            "--without-mingle",
        ]
    )


def up(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency", "-c", min=1, help="the worker's processes (default: CPU cores)"
        ),
    ] = None,
) -> None:
    """API and a worker on this machine with the embedded store, supervised: one that dies is
    started again (backoff 1 s to 30 s, logged); Ctrl-C stops all of it."""
    from core.config import get_settings
    from workers.runtime import Runtime

    require_redis(get_settings().redis_url, "up")
    with exit_on_error():
        runtime = Runtime.build(get_settings(), stores=False)
        runtime.check_models()
        runtime.open()  # migrate once, before the processes start
        runtime.close()
    cli = [sys.executable, "-m", "cli.main"]
    worker = [*cli, "worker"] + ([] if concurrency is None else ["--concurrency", str(concurrency)])
    children = [
        Child("api", [*cli, "serve", "--host", host, "--port", str(port)]),
        Child("worker", worker),
    ]
    typer.echo(f"scanrag: API on http://{host}:{port} (docs at /docs)")

    def started(child: Child) -> None:
        assert child.proc is not None
        again = " again" if child.starts > 1 else ""
        typer.echo(f"scanrag: {child.name} started{again} (pid {child.proc.pid})")

    code = supervise(children, on_start=started)
    if code:
        raise typer.Exit(code)


@keys_app.command("create")
def create_key(
    tenant: Annotated[str, typer.Option(help="the tenant the key acts for")],
) -> None:
    """Make an API key; it is printed once, alone on the last line."""
    from core.config import get_settings

    if not tenant.strip() or len(tenant) > 64:
        raise typer.BadParameter("1 to 64 characters", param_hint="--tenant")
    from storage import accounts
    from workers.runtime import Runtime

    with exit_on_error():
        runtime = Runtime.build(get_settings())
        with runtime.sessions.begin() as session:
            made = accounts.create_key(session, tenant=tenant)
        runtime.close()
    typer.echo(f"tenant: {made.tenant}")
    typer.echo(f"key id: {made.key_id}")
    typer.echo(f"webhook secret: {made.webhook_secret}")
    typer.echo(made.key)


@keys_app.command("list")
def list_keys() -> None:
    """Every key: id, tenant, prefix, created, revoked."""
    from core.config import get_settings
    from storage import accounts
    from workers.runtime import Runtime

    with exit_on_error():
        runtime = Runtime.build(get_settings())
        with runtime.sessions() as session:
            rows = [
                (
                    k.id,
                    k.tenant,
                    k.prefix + "…",
                    k.created_at.isoformat(timespec="seconds"),
                    k.revoked_at.isoformat(timespec="seconds") if k.revoked_at else "",
                )
                for k in accounts.list_keys(session)
            ]
        runtime.close()
    print_table(("id", "tenant", "key", "created", "revoked"), rows)


@keys_app.command("revoke")
def revoke_key(key_id: Annotated[str, typer.Argument(help="the key id (keys list)")]) -> None:
    """Revoke a key: requests with it get 401 from now on."""
    from core.config import get_settings
    from storage import accounts
    from workers.runtime import Runtime

    with exit_on_error():
        runtime = Runtime.build(get_settings())
        with runtime.sessions.begin() as session:
            revoked = accounts.revoke_key(session, key_id=key_id)
        runtime.close()
    if not revoked:
        print(f"scanrag: {key_id}: no live key has this id [key_not_found]", file=sys.stderr)
        raise typer.Exit(1)
    typer.echo(f"revoked {key_id}")
