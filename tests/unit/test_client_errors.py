"""The Python client tells a service that does not answer as one of its own errors, never as a
raw httpx exception."""

from __future__ import annotations

import httpx
import pytest

from api.client import ScanragClient, Unavailable


def test_a_service_that_does_not_answer_is_unavailable_not_a_raw_httpx_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    client = ScanragClient("http://127.0.0.1:9", api_key="k", transport=httpx.MockTransport(refuse))
    with pytest.raises(Unavailable) as caught:
        list(client.documents())
    assert caught.value.code == "service_unreachable" and caught.value.status == 0
    assert "127.0.0.1:9" in caught.value.message and "scanrag up" in caught.value.message
