"""Files of one ingest run that share content take turns in listing order."""

from __future__ import annotations

import threading
import time

from workers.ingest import _ContentTurns


def test_the_first_listed_copy_goes_first_whoever_hashes_first() -> None:
    turns = _ContentTurns()
    order: list[int] = []

    def file(position: int, sha256: str | None, delay: float) -> None:
        time.sleep(delay)
        try:
            if sha256 is not None:
                with turns.turn(position, sha256):
                    order.append(position)
                    time.sleep(0.05)
        finally:
            turns.finished(position)

    threads = [
        threading.Thread(target=file, args=args)
        for args in [
            (0, None, 0.15),  # fails before hashing, last of all: it must not block the others
            (1, "same", 0.10),  # the first copy, hashed after its later copy
            (2, "same", 0.0),
            (3, "other", 0.0),
        ]
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=5)
    assert not any(t.is_alive() for t in threads)
    assert order.index(1) < order.index(2)
    assert sorted(order) == [1, 2, 3]
