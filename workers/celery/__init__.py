"""The Celery side of the workers: the app, the tasks, the queues, and what a worker process does
at start, at exit and while it waits (lifecycle, liveness, recovery, sibling cores).

Everything a document goes through lives one level up, in ``workers/`` (the application), and
runs the same whoever drives it: a Celery task, the CLI or a test. The API and the CLI import
only the queue and task names from here (``workers.celery.queues``); they send tasks and ask
which workers are alive through ``workers.jobs``.
"""
