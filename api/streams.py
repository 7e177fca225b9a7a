"""Long-lived responses (progress event streams) counted per tenant in this API process, so one
tenant's open streams cannot take the process's time from everyone else's requests."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterable, Callable
from typing import Any

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from api.errors import ApiError


class TenantStreams:
    """How many streams each tenant has open; ``open`` refuses one over the limit."""

    def __init__(self) -> None:
        self._open: Counter[str] = Counter()

    def count(self, tenant: str) -> int:
        """The tenant's open streams."""
        return self._open[tenant]

    def open(
        self, tenant: str, limit: int, content: AsyncIterable[str], **kwargs: Any
    ) -> StreamingResponse:
        """A streaming response of ``content`` that holds one of the tenant's ``limit`` slots
        until it ends, however it ends. Raises ApiError 429 ``too_many_streams`` when all are
        taken."""
        if self._open[tenant] >= limit:
            raise ApiError(
                "too_many_streams",
                f"this key has {limit} event streams open already (the most at once): close one,"
                " or poll GET /v1/documents/{id}",
                429,
            )
        self._open[tenant] += 1

        def release() -> None:
            self._open[tenant] -= 1
            if self._open[tenant] <= 0:
                del self._open[tenant]

        return _SlotResponse(content, release, **kwargs)


class _SlotResponse(StreamingResponse):
    """A streaming response that calls ``release`` once it is done or dropped."""

    def __init__(
        self, content: AsyncIterable[str], release: Callable[[], None], **kwargs: Any
    ) -> None:
        super().__init__(content, **kwargs)
        self._release: Callable[[], None] | None = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            release, self._release = self._release, None
            if release is not None:
                release()
