"""Cores lent between a worker's pool processes.

On a CPU a worker runs one pool process per core, each reading on one thread. A document's last
task (chunks, embeddings) runs in one of them while the others often have nothing to read: its
encoder then ran on one core of an idle machine (a 50-page document: 8.4 s of embedding on an
AVX-512 EPYC, ~37 s on an AVX2 one, all of it after the last page was read).

Each pool process owns one lock file (by its pool index) and holds it while it reads a batch of
pages. An encoder holds its own and takes, without waiting, every sibling's that is free, and
runs on that many more threads; a sibling that starts to read meanwhile waits for the encoder,
whose threads are on its core. Nothing is taken from a busy sibling, so a batch of documents
keeps every process reading. ``flock`` locks go with the process that held them: a pool process
killed mid-read leaves no core taken.
"""

from __future__ import annotations

import fcntl
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO

from pipelines.cores import Cores

# set in the worker's main process before its pool processes fork; they inherit it
_shared: tuple[Path, int] | None = None


def share(count: int) -> None:
    """Before the pool forks: lock files for ``count`` pool processes (a folder of its own)."""
    global _shared
    folder = Path(tempfile.mkdtemp(prefix="scanrag-cores-"))
    for index in range(count):
        (folder / f"core-{index}").touch()
    _shared = (folder, count)


def unshare() -> None:
    """The worker stops: its lock files go."""
    global _shared
    if _shared is not None:
        shutil.rmtree(_shared[0], ignore_errors=True)
        _shared = None


def pool_cores() -> Cores | None:
    """This pool process's core, lent to and borrowing from its siblings; None outside a pool
    of more than one process (a process with cores of its own counts them itself)."""
    if _shared is None:
        return None
    from billiard.process import current_process  # Celery's pool: imported in a worker only

    index = getattr(current_process(), "index", None)
    folder, count = _shared
    if not isinstance(index, int) or not 0 <= index < count:
        return None
    return SiblingCores(folder, index, count)


class SiblingCores(Cores):
    """One core of ``count``, this process's by ``index``, in ``folder``'s lock files.

    The files are opened here, in the process that uses them: an ``flock`` belongs to the open
    file, so files opened before a fork would be one lock shared by every pool process."""

    def __init__(self, folder: Path, index: int, count: int) -> None:
        super().__init__(1)
        self._files: list[IO[bytes]] = [(folder / f"core-{i}").open("rb") for i in range(count)]
        self._own = self._files[index]
        self._siblings = [f for i, f in enumerate(self._files) if i != index]

    def __enter__(self) -> None:
        super().__enter__()
        try:
            fcntl.flock(self._own, fcntl.LOCK_EX)  # waits while a sibling's encoder has it
        except BaseException:
            # a task's soft time limit may strike while it waits: the process reads again later
            super().__exit__(None, None, None)
            raise

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        fcntl.flock(self._own, fcntl.LOCK_UN)
        super().__exit__(kind, exc, tb)

    @contextmanager
    def all(self) -> Iterator[int]:
        """This process's core, and every sibling's that is free (none is waited for); yields
        how many siblings' cores were taken."""
        with super().all(), ExitStack() as held:
            fcntl.flock(self._own, fcntl.LOCK_EX)
            held.callback(fcntl.flock, self._own, fcntl.LOCK_UN)
            lent = 0
            for sibling in self._siblings:
                try:
                    fcntl.flock(sibling, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # reading (or lending to another encoder)
                held.callback(fcntl.flock, sibling, fcntl.LOCK_UN)
                lent += 1
            yield lent

    def close(self) -> None:
        """Close the lock files (a test's; a pool process keeps them to its end)."""
        for f in self._files:
            f.close()
