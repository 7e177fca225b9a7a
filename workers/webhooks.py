"""Webhooks: a document's outcome POSTed to its ``callback_url``, signed with the tenant's secret.

The receiver checks ``X-Scanrag-Signature: sha256=<hex>``, the HMAC-SHA256 of the raw body under
the tenant's webhook secret (``scanrag keys create`` prints it), e.g. in Python::

    hmac.compare_digest(header, "sha256=" + hmac.new(secret, body, "sha256").hexdigest())
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncGenerator
from contextlib import aclosing
from functools import partial
from typing import Any, cast
from urllib.parse import urljoin

import anyio
import anyio.to_thread
import httpx

from core.logging import get_logger
from core.netguard import Allow, UrlRefused, check_url, resolve
from storage import accounts, jobs
from storage import repository as repo
from storage.tables import Document
from workers.runtime import Runtime
from workers.views import document_view

log = get_logger("webhooks")

SIGNATURE_HEADER = "X-Scanrag-Signature"
MAX_REDIRECTS = 3
# a receiver's reply is read this far and dropped: an answer of hundreds of megabytes costs
# the worker one read of it, not its size in memory (issue 32)
MAX_REPLY_BYTES = 64 * 1024


def sign(secret: str, body: bytes) -> str:
    """The signature header value of ``body``: ``sha256=`` and the hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def outcome_body(document: Document) -> dict[str, Any]:
    """What a webhook says about a finished document: the event and part of its public view."""
    view = document_view(document)
    fields = ("id", "status", "filename", "page_count", "metadata", "error")
    return {
        "event": f"document.{document.status}",
        "document": {key: view[key] for key in fields},
    }


def post_checked(
    url: str, body: bytes, headers: dict[str, str], *, timeout: float, allow: Allow
) -> httpx.Response:
    """POST ``body`` to ``url`` at an address that was checked just before: the host is
    resolved here, every address must be public (or allowed), and the connection goes to that
    address (the name still in ``Host`` and TLS SNI), so a rebinding name cannot slip in between.
    307/308 redirects are followed, at most 3, each checked the same way. Raises UrlRefused.

    The whole attempt (resolving, connecting, sending, the reply's headers and the first
    ``MAX_REPLY_BYTES`` of its body, read and thrown away) ends within ``timeout`` seconds
    however slowly the receiver answers: TimeoutError otherwise. The answer comes back closed:
    its status and headers, no body."""
    return anyio.run(partial(_post_checked, url, body, headers, timeout=timeout, allow=allow))


async def _post_checked(
    url: str, body: bytes, headers: dict[str, str], *, timeout: float, allow: Allow
) -> httpx.Response:
    # httpx's timeouts bound each read, not the reply: a receiver dripping a byte a second
    # never trips them. A cancel scope bounds the whole attempt (every read is a checkpoint).
    with anyio.fail_after(timeout):
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            for _ in range(MAX_REDIRECTS + 1):
                parts = check_url(url, allow)
                # getaddrinfo cannot be interrupted: past the deadline its thread is left behind
                ip = await anyio.to_thread.run_sync(resolve, parts, allow, abandon_on_cancel=True)
                port = parts.port or (443 if parts.scheme == "https" else 80)
                address = f"[{ip}]" if ip.version == 6 else str(ip)
                target = parts._replace(netloc=f"{address}:{port}").geturl()
                extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
                request = client.build_request(
                    "POST",
                    target,
                    content=body,
                    headers={**headers, "Host": parts.netloc},
                    extensions=extensions,
                )
                response = await client.send(request, stream=True)
                try:
                    await _discard_reply(response, MAX_REPLY_BYTES)
                finally:
                    await response.aclose()
                location = response.headers.get("location")
                if response.status_code not in (307, 308) or not location:
                    return response
                url = urljoin(url, location)
    return response


async def _discard_reply(response: httpx.Response, limit: int) -> int:
    """Read and drop the reply's body, up to ``limit`` bytes (and one read more at most), as
    sent (compressed bodies are not inflated); returns the bytes read. Closing the response
    after that hangs up on the rest."""
    read = 0
    # an async generator, typed as an iterator: closed at once, not when collected
    raw = cast(AsyncGenerator[bytes, None], response.aiter_raw())
    async with aclosing(raw) as chunks:
        async for chunk in chunks:
            read += len(chunk)
            if read >= limit:
                break
    return read


def deliver(runtime: Runtime, document_id: str, *, attempt: int, delivery_id: str) -> bool:
    """POST one attempt; records it and returns whether the receiver took it (2xx).

    A document without a callback URL, or deleted meanwhile, counts as delivered.
    """
    with runtime.sessions.begin() as session:
        document = repo.get_document(session, document_id=document_id)
        if document is None or not document.callback_url:
            return True
        secret = accounts.webhook_secret(session, tenant=document.tenant)
        url = document.callback_url
        body = json.dumps(outcome_body(document), sort_keys=True).encode("utf-8")
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(secret, body),
        "X-Scanrag-Delivery": delivery_id,
        "User-Agent": "scanrag-webhooks",
    }
    status_code: int | None = None
    error: str | None = None
    service = runtime.settings.service
    try:
        response = post_checked(
            url, body, headers, timeout=service.webhook_timeout, allow=service.webhook_allowed
        )
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"the receiver answered {status_code}"
            if response.is_redirect:
                error += " (only 307/308 redirects are followed, at most 3)"
    except UrlRefused as exc:
        error = f"refused: {exc.message}"[:500]
    except TimeoutError:
        error = f"no complete answer within {service.webhook_timeout:g} s"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    with runtime.sessions.begin() as session:
        jobs.record_webhook_attempt(
            session,
            document_id=document_id,
            url=url,
            attempt=attempt,
            status_code=status_code,
            error=error,
        )
    if error:
        log.warning("webhook not delivered", extra={"document": document_id, "error": error})
    return error is None
