"""Dependencies of the routes: the state, a database session, and the caller's tenant."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from api.errors import ApiError
from api.state import ApiState
from storage import accounts

DEV_TENANT = "default"


async def get_state(request: Request) -> ApiState:
    """The ApiState of the running app."""
    state: ApiState = request.app.state.scanrag
    return state


StateDep = Annotated[ApiState, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    """A session for one request (committed by the route where it writes)."""
    with state.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


KEY_CACHE_SECONDS = 10.0  # a revoked key stops working within this long


class _KeyCache:
    """Recently checked keys (by hash) and their tenant, so a burst of requests with one key
    asks the database once."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    def get(self, key_hash: str) -> tuple[bool, str | None]:
        with self._lock:
            entry = self._entries.get(key_hash)
        if entry is None or time.monotonic() - entry[0] > KEY_CACHE_SECONDS:
            return False, None
        return True, entry[1]

    def put(self, key_hash: str, tenant: str | None) -> None:
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[key_hash] = (time.monotonic(), tenant)


_keys = _KeyCache()


async def get_tenant(request: Request, state: StateDep) -> str:
    """The tenant of the request's API key (``Authorization: Bearer <key>``); 401 without one."""
    if state.settings.service.auth_disabled:
        return DEV_TENANT
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(
            "unauthorized",
            "send an API key: 'Authorization: Bearer <key>' (scanrag keys create)",
            401,
        )
    key_hash = accounts.hash_key(key.strip())
    known, tenant = _keys.get(key_hash)
    if not known:

        def lookup() -> str | None:
            with state.sessions() as session:
                return accounts.tenant_of_key_hash(session, key_hash=key_hash)

        tenant = await run_in_threadpool(lookup)
        _keys.put(key_hash, tenant)
    if tenant is None:
        raise ApiError("unauthorized", "the API key is not valid (unknown or revoked)", 401)
    return tenant


TenantDep = Annotated[str, Depends(get_tenant)]
