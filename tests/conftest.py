"""Shared fixtures: the real OCR engine (loaded once per test session), page makers, and one
PostgreSQL 16 + pgvector server per session (from the pgserver wheel)."""

from __future__ import annotations

import shutil
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pipelines.engine import EngineParams, OcrEngine


@pytest.fixture(scope="session")
def engine() -> OcrEngine:
    eng = OcrEngine(EngineParams(device="cpu"))
    eng.models()
    return eng


@pytest.fixture()
def workdir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Any]:
    # Not under pytest's tmp_path: the server runs as another user when tests run as root, and
    # every new pytest session resets pytest's temp root to mode 0700, locking the server out.
    pgdata = Path(tempfile.mkdtemp(prefix="scanrag-pg-"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR unset in containers
        import pgserver

        server = pgserver.get_server(pgdata, cleanup_mode="stop")
    yield server
    server.cleanup()
    shutil.rmtree(pgdata, ignore_errors=True)


@pytest.fixture()
def pg_database(pg_server: Any) -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL database, dropped after the test."""
    name = f"scanrag_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield pg_server.get_uri(name)
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
