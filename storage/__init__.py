"""Storage: the only place that knows SQL.

``tables`` (SQLAlchemy models), ``db`` (engines, sessions, migrations), ``repository``
(keyword-only reads and writes), ``search`` (hybrid dense + full-text search, fusing the legs of
one backend: ``search_postgres`` or ``search_sqlite``, behind ``search_backend``; words it never
matches on in ``stop_words``), ``blobs`` (content-addressed files), ``errors`` (storage errors in
the scanrag hierarchy).
"""
