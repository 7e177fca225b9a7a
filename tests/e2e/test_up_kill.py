"""`scanrag up` killed with kill -9 takes its children with it: the API and the worker (with its
pool processes) exit within seconds, and the next `scanrag up` gets the port."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import PYTHON, Service, free_port, service_env
from tests.harness import RedisServer, terminate

pytestmark = pytest.mark.slow


def alive_in_groups(groups: set[int]) -> list[int]:
    """Processes (not zombies) whose process group is one of ``groups``."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state, ppid, pgrp ...
        if fields[0] != "Z" and int(fields[2]) in groups:
            out.append(int(entry.name))
    return out


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_kill_9_of_up_takes_its_children_and_frees_the_port(
    tmp_path: Path, private_redis: RedisServer
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    service = Service(home, service_env(home, f"{private_redis.url}/0", None), port=free_port())
    command = [PYTHON, "-m", "cli.main", "up", "--port", str(service.port), "-c", "1"]
    up = service.spawn(command, "up")
    service.api = up
    groups: set[int] = set()
    try:
        service.wait_ready(120, request_timeout=5)
        log = service.logs[-1].read_text()
        started = dict(re.findall(r"(api|worker) started \(pid (\d+)\)", log))
        assert set(started) == {"api", "worker"}, service.tail()
        groups = {int(pid) for pid in started.values()}  # each child leads its own group
        assert len(alive_in_groups(groups)) >= 3, service.tail()  # the worker has a pool process

        os.kill(up.pid, signal.SIGKILL)  # `up` alone, as `kill -9 <pid>` would
        up.wait(10)
        start = time.monotonic()
        while alive_in_groups(groups) or not port_free(service.port):
            assert time.monotonic() - start < 15, (alive_in_groups(groups), service.tail())
            time.sleep(0.1)
        print(f"kill -9 of up: children gone and port free after {time.monotonic() - start:.2f} s")

        again = service.spawn(command, "up")  # the next `up` binds the same port
        service.api = again
        service.wait_healthy(120)
        terminate(again, signal.SIGTERM, grace=60)
    finally:
        terminate(up, signal.SIGKILL)
        for group in groups:  # a failed test leaves no process behind
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
        if service.api is not None:
            terminate(service.api, signal.SIGTERM, grace=60)
