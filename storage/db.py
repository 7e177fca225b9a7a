"""Engines, sessions and migrations for the two supported databases: SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:  # alembic is imported when a migration runs: 0.5 s a process otherwise
    from alembic.config import Config

Backend = Literal["sqlite", "postgresql"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT_MS = 10_000  # a SQLite writer waits this long for the write lock, then "locked"
_LOCK_KEY = 0x5CA17A6  # pg advisory lock id for migrations, any constant of our own


def _strict_json(value: object) -> str:
    """JSON as the databases read it back: NaN and Infinity are refused (ValueError), never
    written where json_extract and JSONB would fail on them later."""
    return json.dumps(value, allow_nan=False)


def _normalise_url(url: str | URL) -> URL:
    parsed = make_url(url)
    # psycopg 3 is the driver installed; plain "postgresql://" would pick psycopg2.
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _on_sqlite_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        # WAL makes NORMAL durable against application crashes, and much faster than FULL.
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def make_sql_engine(url: str | URL) -> Engine:
    """An engine for ``url``: SQLite with foreign keys and WAL on, or PostgreSQL via psycopg 3.

    A SQLite file's folder is created when missing.
    """
    parsed = _normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 10}, json_serializer=_strict_json)
        event.listen(engine, "connect", _on_sqlite_connect)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(parsed, pool_pre_ping=True, json_serializer=_strict_json)
    raise ValueError(
        f"unsupported database {parsed.get_backend_name()!r}: use sqlite or postgresql"
    )


def dialect_insert(session: Session, table: Any) -> Any:
    """An INSERT of ``table`` in the session's database's own dialect (for its ON CONFLICT
    clauses, which both databases have under one name)."""
    if backend(session.get_bind().engine) == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def backend(engine: Engine) -> Backend:
    """Which of the two supported databases ``engine`` talks to."""
    name = engine.dialect.name
    if name == "sqlite":
        return "sqlite"
    if name == "postgresql":
        return "postgresql"
    raise ValueError(f"unsupported database {name!r}")


def alembic_config(engine: Engine) -> Config:
    """An Alembic configuration for ``engine``, built in code (no alembic.ini)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    url = engine.url.render_as_string(hide_password=False)
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # configparser interpolation
    return cfg


# Made by hand in the migrations, per backend, and absent from storage.tables on purpose.
_SEARCH_OBJECTS = {"ix_chunks_embedding_hnsw", "ix_chunks_text_tsv", "text_tsv"}


def include_in_autogenerate(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Alembic autogenerate filter: skip the backend-specific full-text and vector indexes
    (the HNSW index of each encoder is made when the encoder is registered)."""
    if name is None:
        return True
    return (
        name not in _SEARCH_OBJECTS
        and not name.startswith("chunks_fts")
        and "_embedding_hnsw_e" not in name
    )


def migrate(engine_or_url: Engine | str) -> None:
    """Bring the database schema to the newest migration (``alembic upgrade head``).

    A database already at the newest migration is left alone without importing alembic (half
    a second of every command's start; docs/BENCHMARKS.md, issue 35).
    """
    engine = make_sql_engine(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
    try:
        if _at_head(engine):
            return
        from alembic import command

        cfg = alembic_config(engine)
        with engine.begin() as connection:
            if backend(engine) == "postgresql":
                # Processes starting together (API, workers) migrate one at a time.
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
    finally:
        if isinstance(engine_or_url, str):
            engine.dispose()


_REVISION = re.compile(r"^revision\b[^=]*=\s*[\"']([^\"']+)[\"']", re.M)
_DOWN_REVISION = re.compile(r"^down_revision\b[^=]*=(.*)$", re.M)


def head_revision() -> str | None:
    """The newest migration's id, read from the migration files (the one revision no other
    names as its ``down_revision``); None when there is not exactly one."""
    revisions: set[str] = set()
    downs: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        revision, down = _REVISION.search(source), _DOWN_REVISION.search(source)
        if revision is None or down is None:
            return None  # a file this reading does not understand: let alembic decide
        revisions.add(revision.group(1))
        downs.update(re.findall(r"[\"']([^\"']+)[\"']", down.group(1)))
    heads = revisions - downs
    return heads.pop() if len(heads) == 1 else None


def _at_head(engine: Engine) -> bool:
    """Whether the database's ``alembic_version`` names the newest migration, and only it."""
    head = head_revision()
    if head is None:
        return False
    try:
        with engine.connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    except SQLAlchemyError:  # a new database: no version table yet
        return False
    return [row[0] for row in versions] == [head]


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session maker bound to ``engine``; objects stay readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


def write_lock_free(engine: Engine, wait_seconds: float = 1.0) -> bool:
    """Whether a write transaction can start within ``wait_seconds``: False while another
    process holds SQLite's write lock (what writers would wait for, then fail with "database
    is locked"). Takes the lock and gives it back at once; always True on PostgreSQL, whose
    writers lock rows, not the database."""
    if backend(engine) != "sqlite":
        return True
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(wait_seconds * 1000)}")
            try:
                cursor.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    return False
                raise
            cursor.execute("ROLLBACK")
            return True
        finally:
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            cursor.close()
    finally:
        raw.close()
