"""The worker queues and the tasks, by name: importing them builds nothing (workers/celery/app.py
builds the app), so the API and the CLI send tasks by name without importing the tasks.

- ``interactive``: documents uploaded through the API, one at a time;
- ``batch``: documents of batch ingestions (a worker serving both queues alternates between
  them, so a running batch never starves uploads; a dedicated ``-Q interactive`` worker gives
  uploads a reserved lane);
- ``webhooks``: outcome notifications (short, network-bound tasks).
"""

from __future__ import annotations

from typing import Final

# the queue names are a vocabulary of the whole product (a document records its queue)
from core.vocab import BATCH, INTERACTIVE, QUEUES, WEBHOOKS, Queue

__all__ = ["BATCH", "INTERACTIVE", "QUEUES", "WEBHOOKS", "Queue"]

# the tasks' names (workers/celery/tasks.py registers them under these)
PREPARE: Final = "scanrag.prepare"
READ_PAGES: Final = "scanrag.read_pages"
FINALIZE: Final = "scanrag.finalize"
LIST_BATCH: Final = "scanrag.list_batch"
DELIVER_WEBHOOK: Final = "scanrag.deliver_webhook"
