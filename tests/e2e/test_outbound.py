"""No traffic leaves the service but the webhook a tenant asked for: the API and a worker run with
HTTP(S)_PROXY pointing at a recorder on loopback, read a document, send its webhook, and idle
long enough for a library's telemetry to fire (onnxruntime's did, within a minute of loading a
model); the recorder must have seen that one webhook and nothing else."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.e2e.conftest import RECEIVER_HOST, Service
from tests.pagegen import text_page

pytestmark = pytest.mark.slow

IDLE_SECONDS = 60  # onnxruntime's telemetry client sent its first batch within ~40 s


class Recorder:
    """A proxy that forwards nothing: it records every request and answers it itself."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                recorder.requests.append((self.command, self.path))
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                self.send_response(403 if self.command == "CONNECT" else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_PUT = do_HEAD = do_CONNECT = _record

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture()
def recorder() -> Iterator[Recorder]:
    r = Recorder()
    yield r
    r.server.shutdown()


def test_nothing_leaves_but_the_webhook(
    make_service: Callable[..., Service], recorder: Recorder
) -> None:
    proxy = {
        name: recorder.url
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY")
    }
    started = time.monotonic()
    service = make_service(
        SCANRAG_SERVICE__WEBHOOK_ALLOW=RECEIVER_HOST, NO_PROXY="", no_proxy="", **proxy
    )
    client = service.client(service.new_key("quiet")[0])
    buffer = io.BytesIO()
    text_page(["A letter that must stay on this machine."]).save(buffer, "PNG")
    hook = f"http://{RECEIVER_HOST}:9/hook"  # through the proxy: the recorder answers it
    created = client.post(
        "/v1/documents",
        files={"files": ("letter.png", buffer.getvalue(), "image/png")},
        data={"callback_url": hook},
    )
    assert created.status_code == 202, created.text
    doc_id = created.json()["documents"][0]["id"]
    assert service.wait_final(client, doc_id)["status"] == "done"
    client.post("/v1/search", json={"query": "letter"})  # the API's embedder loads too
    deadline = started + IDLE_SECONDS + 30
    while not recorder.requests and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(max(0.0, started + IDLE_SECONDS - time.monotonic()))
    webhook = ("POST", f"http://{RECEIVER_HOST}:9/hook")
    assert recorder.requests == [webhook], service.tail()
