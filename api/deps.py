"""Dependencies of the routes: the state, a database session, and the caller's tenant."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from api.errors import ApiError
from api.state import ApiState
from storage import accounts

DEV_TENANT = "default"


def get_state(request: Request) -> ApiState:
    """The ApiState of the running app."""
    state: ApiState = request.app.state.scanrag
    return state


StateDep = Annotated[ApiState, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    """A session for one request (committed by the route where it writes)."""
    with state.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_tenant(request: Request, state: StateDep) -> str:
    """The tenant of the request's API key (``Authorization: Bearer <key>``); 401 without one."""
    if state.settings.service.auth_disabled:
        return DEV_TENANT
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(
            "unauthorized", "send an API key: 'Authorization: Bearer <key>' (scanrag keys create)"
        )
    with state.sessions() as session:
        tenant = accounts.tenant_of_key(session, key=key.strip())
    if tenant is None:
        raise ApiError("unauthorized", "the API key is not valid (unknown or revoked)")
    return tenant


TenantDep = Annotated[str, Depends(get_tenant)]
