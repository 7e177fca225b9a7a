"""Storage: the only place that knows SQL.

``tables`` (SQLAlchemy models), ``db`` (engines, sessions, migrations), ``repository``
(keyword-only reads and writes), ``search`` (hybrid dense + full-text search), ``blobs``
(content-addressed files), ``errors`` (storage errors in the scanrag hierarchy).
"""
