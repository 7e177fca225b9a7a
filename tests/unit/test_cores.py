"""Cores lent between a worker's pool processes (workers/celery/sibling_cores.py): an encoder
takes the cores of idle siblings, never a reading one's, and a sibling that starts to read waits
for it."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from core.config import Settings
from models.embedder import more_threads
from workers.celery import sibling_cores
from workers.celery.sibling_cores import SiblingCores
from workers.runtime import Runtime


@pytest.fixture
def pool(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """Lock files for three pool processes, as a worker's main process makes them."""
    sibling_cores.share(3)
    assert sibling_cores._shared is not None
    yield sibling_cores._shared
    sibling_cores.unshare()


def test_an_encoder_takes_the_idle_siblings_cores_only(pool: tuple[Path, int]) -> None:
    folder, count = pool
    a, b, c = (SiblingCores(folder, i, count) for i in range(count))
    try:
        with b, a.all() as lent:  # b reads a batch meanwhile
            assert lent == 1  # c's core; not b's
        with a.all() as lent:
            assert lent == 2  # both idle
    finally:
        for x in (a, b, c):
            x.close()


def test_a_sibling_that_starts_to_read_waits_for_the_encoder(pool: tuple[Path, int]) -> None:
    folder, count = pool
    a, b = SiblingCores(folder, 0, count), SiblingCores(folder, 1, count)
    entered = threading.Event()

    def read() -> None:
        with b:
            entered.set()

    try:
        with a.all() as lent:
            assert lent == 2
            reader = threading.Thread(target=read)
            reader.start()
            assert not entered.wait(0.3)  # its core runs a's encoder threads
        assert entered.wait(5)  # given back when the encoder is done
        reader.join()
        with a.all() as lent:
            assert lent == 2  # b has given its core back after reading
    finally:
        a.close()
        b.close()


def _hold_and_hang(folder: Path, index: int, count: int, ready: object) -> None:
    own = SiblingCores(folder, index, count)
    own.__enter__()
    ready.set()  # type: ignore[attr-defined]
    signal.pause()


def test_a_killed_reader_leaves_no_core_taken(pool: tuple[Path, int]) -> None:
    folder, count = pool
    fork = multiprocessing.get_context("fork")
    ready = fork.Event()
    child = fork.Process(target=_hold_and_hang, args=(folder, 1, count, ready))
    child.start()
    a = SiblingCores(folder, 0, count)
    try:
        assert ready.wait(10)
        with a.all() as lent:
            assert lent == 1  # the child reads on core 1
        os.kill(child.pid or 0, signal.SIGKILL)
        child.join(10)
        with a.all() as lent:
            assert lent == 2  # the kernel let go of its lock with it
    finally:
        a.close()
        if child.is_alive():
            child.kill()


def test_outside_a_pool_process_there_are_no_shared_cores(pool: tuple[Path, int]) -> None:
    assert sibling_cores.pool_cores() is None  # this is no billiard pool process: it has no index


def test_lent_cores_are_torch_threads_while_encoding() -> None:
    before = torch.get_num_threads()
    with more_threads(2):
        assert torch.get_num_threads() == before + 2
    assert torch.get_num_threads() == before
    with more_threads(0):
        assert torch.get_num_threads() == before


def test_a_pool_process_runtime_encodes_on_its_idle_siblings_cores(
    pool: tuple[Path, int], tmp_path: Path
) -> None:
    folder, count = pool
    runtime = Runtime.build(Settings(home=tmp_path), cores=SiblingCores(folder, 0, count))
    reading = SiblingCores(folder, 2, count)
    before = torch.get_num_threads()
    try:
        with reading, runtime.encoding() as lent:
            assert lent == 1  # core 1 is idle, core 2 reads
            assert torch.get_num_threads() == before + 1
        assert torch.get_num_threads() == before
    finally:
        reading.close()
        runtime.close()


def test_a_reader_interrupted_while_waiting_keeps_its_core(pool: tuple[Path, int]) -> None:
    # a task's soft time limit is an exception raised wherever the task is, here in the wait
    folder, count = pool
    a, b = SiblingCores(folder, 0, count), SiblingCores(folder, 1, count)

    def interrupt(signum: int, frame: object) -> None:
        raise TimeoutError("soft time limit")

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        with a.all():  # b's core is lent
            signal.setitimer(signal.ITIMER_REAL, 0.2)
            with pytest.raises(TimeoutError), b:
                pass
        assert b._free.acquire(timeout=1)  # its core was not lost: it may read again
        b._free.release()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        a.close()
        b.close()
