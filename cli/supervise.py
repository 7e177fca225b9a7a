"""``scanrag up``'s supervisor: starts the API and the worker as child processes, restarts one
that dies (with backoff), and stops all of them on Ctrl-C or SIGTERM.

Children die with the supervisor even when it is killed with SIGKILL (no handler runs then):
each gets SIGTERM from the kernel when its parent dies (Linux's parent-death signal, set
between fork and exec), and each also watches its parent itself (``watch_supervisor``, for
other systems, and to SIGKILL its process group when the graceful stop hangs). So the next
``scanrag up`` finds the port free.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from core.logging import get_logger

log = get_logger("up")

STABLE_AFTER = 60.0  # a child that ran this long had no start-up problem: backoff starts over
MAX_BACKOFF = 30.0
EXIT_CONFIG = 3  # the CLI's exit code for a configuration or model error: a restart cannot help
SUPERVISOR_ENV = "SCANRAG_SUPERVISOR_PID"  # a child's supervisor, for watch_supervisor
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@dataclass
class Child:
    """One supervised command and its current process."""

    name: str
    command: list[str]
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    failures: int = 0
    next_start: float = 0.0
    starts: int = field(default=0)


def _kill_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    # the child leads its own process group: a worker's pool processes go with it
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _die_with_parent() -> Callable[[], None]:
    """A ``preexec_fn``: the child is sent SIGTERM when this process dies (also if it died
    before the signal was set, between fork and prctl)."""
    parent = os.getpid()
    # looked up before the fork: the child only calls it
    prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None

    def preexec() -> None:
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def watch_supervisor(interval: float = 0.5, grace: float = 30.0) -> None:
    """In a child of ``supervise``: once the supervisor is gone, SIGTERM this process (a graceful
    stop), and SIGKILL its process group ``grace`` seconds later if it is still there. Does
    nothing in a process ``supervise`` did not start."""
    value = os.environ.pop(SUPERVISOR_ENV, "")
    if not value.isdigit():
        return
    parent = int(value)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        log.warning("supervisor gone: stopping", extra={"supervisor": parent})
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(grace)
        os.killpg(os.getpgrp(), signal.SIGKILL)  # a child of up leads its own group

    threading.Thread(target=watch, name="supervisor-watch", daemon=True).start()


def supervise(
    children: list[Child],
    *,
    on_start: Callable[[Child], None] = lambda child: None,
    poll: float = 0.5,
) -> int:
    """Run ``children`` until a signal stops the supervisor (exit 0) or one of them exits with
    a configuration error (its code); a child that exits otherwise (crash, ``kill -9``, out of
    memory) is restarted after 1, 2, 4 ... ``MAX_BACKOFF`` seconds."""
    stopping = False
    code = 0

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    old = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        while not stopping:
            now = time.monotonic()
            for child in children:
                if child.proc is not None and (rc := child.proc.poll()) is not None:
                    _kill_group(child.proc, signal.SIGKILL)  # its orphans, if it left any
                    child.proc = None
                    if rc == EXIT_CONFIG:
                        log.error("stopped: configuration error", extra={"child": child.name})
                        stopping, code = True, rc
                        break
                    ran = now - child.started
                    child.failures = 1 if ran >= STABLE_AFTER else child.failures + 1
                    delay = min(MAX_BACKOFF, 2.0 ** (child.failures - 1))
                    child.next_start = now + delay
                    log.warning(
                        "child exited: restarting",
                        extra={
                            "child": child.name,
                            "exit": rc,
                            "ran_s": round(ran, 1),
                            "restart_in_s": delay,
                        },
                    )
                if not stopping and child.proc is None and now >= child.next_start:
                    child.proc = subprocess.Popen(
                        child.command,
                        start_new_session=True,
                        preexec_fn=_die_with_parent(),
                        env={**os.environ, SUPERVISOR_ENV: str(os.getpid())},
                    )
                    child.started, child.starts = now, child.starts + 1
                    log.info("child started", extra={"child": child.name, "pid": child.proc.pid})
                    on_start(child)
            time.sleep(poll)
    finally:
        for child in children:
            if child.proc is not None and child.proc.poll() is None:
                _kill_group(child.proc, signal.SIGTERM)  # warm shutdown: running tasks finish
        deadline = time.monotonic() + 30
        for child in children:
            if child.proc is None:
                continue
            try:
                child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _kill_group(child.proc, signal.SIGKILL)
                child.proc.wait()
        for s, handler in old.items():
            signal.signal(s, handler)
    return code
