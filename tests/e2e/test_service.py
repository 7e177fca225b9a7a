"""The service over HTTP: upload -> done -> search, re-upload, progress events, webhooks,
tenants, bad input, deletion, folder batches (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from pypdf import PdfReader, PdfWriter

from tests.e2e.conftest import RECEIVER_HOST, Service
from tests.pagegen import scanned, text_page

pytestmark = pytest.mark.slow


def make_pdf(path: Path, pages: list[list[str]]) -> Path:
    """A scanned-looking PDF, one page per list of lines, at 200 dpi."""
    images = [scanned(text_page(lines), seed=i) for i, lines in enumerate(pages)]
    images[0].save(path, "PDF", resolution=200, save_all=True, append_images=images[1:])
    return path


REPORT = [
    ["Quarterly report of the Harbour Trust", "The north quay was dredged in May."],
    ["Minutes of the Harbour Trust", "The lighthouse lamp will be replaced in October."],
]


class Receiver:
    """A webhook receiver on loopback: answers 503 to the first POST, then 200."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append((dict(self.headers), body))
                self.send_response(503 if len(receiver.calls) == 1 else 200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        # on 127.0.0.2: the one loopback address the shared service's allow-list admits
        self.server = ThreadingHTTPServer((RECEIVER_HOST, 0), Handler)
        self.url = f"http://{RECEIVER_HOST}:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


SSRF_URLS = [
    "http://169.254.169.254/latest/meta-data/",
    "http://127.0.0.1:6379/",
    "http://10.0.0.1/hook",
    "http://192.168.1.1/hook",
    "http://localhost/hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[fe80::1]/hook",
    "http://0/",
    "http://0.0.0.0/",
    "http://2130706433/",
    "http://0x7f.1/",
    "http://224.0.0.1/",
    "http://user:pass@example.com/hook",
    "http://intranet/hook",
    "http://example.com/" + "a" * 2100,
]


def test_webhooks_to_internal_addresses_are_refused(service: Service) -> None:
    client = service.client(service.new_key("ssrf")[0])
    page = text_page(["A page sent with a bad callback."]).tobytes("jpeg", "RGB")
    for url in SSRF_URLS:
        r = client.post(
            "/v1/documents",
            files={"files": ("a.jpg", page, "image/jpeg")},
            data={"callback_url": url},
        )
        assert r.status_code == 422, (url, r.text)
        assert r.json()["error"]["code"] == "invalid_callback_url", url
    assert client.get("/v1/documents").json()["documents"] == []


def sse_events(client: httpx.Client, path: str, into: list[tuple[str, dict[str, Any]]]) -> None:
    with client.stream("GET", path, timeout=180) as response:
        event = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event:
                into.append((event, json.loads(line[6:])))


def test_upload_progress_search_webhook(
    service: Service, tmp_path: Path, receiver: Receiver
) -> None:
    key, secret = service.new_key("harbour")
    client = service.client(key)
    pdf = make_pdf(tmp_path / "harbour.pdf", REPORT)
    started = time.perf_counter()
    response = client.post(
        "/v1/documents",
        files={"files": ("harbour.pdf", pdf.read_bytes(), "application/pdf")},
        data={"metadata": json.dumps({"dept": "ports"}), "callback_url": receiver.url},
    )
    accept_seconds = time.perf_counter() - started
    assert response.status_code == 202, response.text
    (doc,) = response.json()["documents"]
    assert doc["status"] == "queued" and doc["created"] and doc["filename"] == "harbour.pdf"
    assert response.headers["Location"] == f"/v1/documents/{doc['id']}"
    assert accept_seconds < 5  # accepted, not processed, during the request

    events: list[tuple[str, dict[str, Any]]] = []
    sse_events(client, f"/v1/documents/{doc['id']}/events", events)
    names = [name for name, _ in events]
    assert names[-1] == "done", events
    pages_seen = [data["pages_done"] for _, data in events]
    assert pages_seen == sorted(pages_seen) and pages_seen[-1] == 2

    status = client.get(f"/v1/documents/{doc['id']}").json()
    assert (status["status"], status["page_count"], status["pages_done"]) == ("done", 2, 2)
    assert status["processing_seconds"] > 0 and status["metadata"] == {"dept": "ports"}

    text = client.get(f"/v1/documents/{doc['id']}/text").text
    assert "lighthouse lamp" in text.lower() and "\f" in text
    page = client.get(f"/v1/documents/{doc['id']}/pages/2").json()
    assert {"width", "height", "dpi", "rotation", "text", "blocks", "lines", "words"} <= set(page)
    assert "lighthouse" in page["text"].lower()
    image = client.get(f"/v1/documents/{doc['id']}/pages/2/image")
    assert image.status_code == 200 and image.content[:3] == b"\xff\xd8\xff"
    hocr = client.get(f"/v1/documents/{doc['id']}/hocr").text
    assert "ocr_page" in hocr and "lighthouse" in hocr.lower()

    hits = client.post(
        "/v1/search", json={"query": "when will the lighthouse lamp be replaced", "k": 3}
    ).json()["hits"]
    assert hits[0]["document"] == {"id": doc["id"], "filename": "harbour.pdf"}
    assert hits[0]["page"] == 2 and "lighthouse" in hits[0]["text"].lower()
    top = hits[0]
    marked = {top["snippet"][a:b].lower() for a, b in top["highlights"]}
    assert "lighthouse" in marked and top["snippet"].strip("…").lower() in top[
        "text"
    ].lower().replace("\n", " ")
    crop = client.get(hits[0]["crop_url"])
    assert crop.status_code == 200 and crop.content[:4] == b"\x89PNG"
    crop_path = f"/v1/documents/{doc['id']}/pages/2/crop"
    for box in ("5000,5000,6000,6000", "10,10,10,10", "0,0,inf,inf", "0,0,1e400,9", "nan,0,1,1"):
        # outside the page, no area, not finite: 422 with a code, never a 500
        r = client.get(crop_path, params={"bbox": box})
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_bbox", (box, r.text)
    filtered = client.post(
        "/v1/search", json={"query": "lighthouse", "filters": {"metadata": {"dept": "roads"}}}
    ).json()["hits"]
    assert filtered == []

    # the webhook: refused once (503), then delivered, signed with the tenant's secret
    deadline = time.monotonic() + 60
    while len(receiver.calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(receiver.calls) == 2, service.tail()
    headers, body = receiver.calls[-1]
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Scanrag-Signature"], expected)
    payload = json.loads(body)
    assert payload["event"] == "document.done" and payload["document"]["id"] == doc["id"]
    with closing(sqlite3.connect(service.home / "scanrag.db")) as db:
        attempts = db.execute(
            "SELECT attempt, status_code FROM webhook_deliveries WHERE document_id = ? ORDER BY id",
            (doc["id"],),
        ).fetchall()
    assert attempts == [(1, 503), (2, 200)]


def test_same_content_again_is_the_same_document(service: Service, tmp_path: Path) -> None:
    key, _ = service.new_key("again")
    client = service.client(key)
    pdf = make_pdf(tmp_path / "once.pdf", [["A single page about the ferry timetable."]])
    files = {"files": ("once.pdf", pdf.read_bytes(), "application/pdf")}
    first = client.post("/v1/documents", files=files, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 202
    doc_id = first.json()["documents"][0]["id"]
    replay = client.post("/v1/documents", files=files, headers={"Idempotency-Key": "k-1"})
    assert replay.status_code == 202 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    service.wait_final(client, doc_id)
    again = client.post(
        "/v1/documents", files={"files": ("renamed.pdf", pdf.read_bytes(), "application/pdf")}
    )
    assert again.status_code == 200
    (doc,) = again.json()["documents"]
    assert doc["id"] == doc_id and not doc["created"] and doc["status"] == "done"
    listing = client.get("/v1/documents").json()
    assert listing["total"] == 1 and listing["documents"][0]["id"] == doc_id


def test_tenants_never_see_each_other(service: Service, tmp_path: Path) -> None:
    key_a, _ = service.new_key("tenant-a")
    key_b, _ = service.new_key("tenant-b")
    a, b = service.client(key_a), service.client(key_b)
    pdf = make_pdf(tmp_path / "secret.pdf", [["The vault combination is kept by the treasurer."]])
    doc_id = a.post(
        "/v1/documents", files={"files": ("secret.pdf", pdf.read_bytes(), "application/pdf")}
    ).json()["documents"][0]["id"]
    assert service.wait_final(a, doc_id)["status"] == "done"
    assert a.post("/v1/search", json={"query": "vault combination"}).json()["hits"]
    for path in ("", "/text", "/pages/1", "/pages/1/image", "/hocr", "/events"):
        response = b.get(f"/v1/documents/{doc_id}{path}")
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "document_not_found"
    assert b.delete(f"/v1/documents/{doc_id}").status_code == 404
    assert b.get("/v1/documents").json()["total"] == 0
    assert b.post("/v1/search", json={"query": "vault combination"}).json()["hits"] == []
    # the same file uploaded by B is B's own new document
    mine = b.post(
        "/v1/documents", files={"files": ("secret.pdf", pdf.read_bytes(), "application/pdf")}
    ).json()["documents"][0]
    assert mine["created"] and mine["id"] != doc_id


def _encrypted_pdf(path: Path, source: Path) -> Path:
    writer = PdfWriter()
    for page in PdfReader(source).pages:
        writer.add_page(page)
    writer.encrypt("secret")
    with path.open("wb") as f:
        writer.write(f)
    return path


def _blob_files(service: Service) -> set[Path]:
    return {p for p in (service.home / "blobs").rglob("*") if p.is_file()}


def test_bad_input_is_refused_and_leaves_nothing(service: Service, tmp_path: Path) -> None:
    key, _ = service.new_key("careless")
    client = service.client(key)
    good = make_pdf(tmp_path / "good.pdf", [["This page is fine."]])
    corrupt = good.read_bytes()[: len(good.read_bytes()) // 3]
    encrypted = _encrypted_pdf(tmp_path / "locked.pdf", good).read_bytes()
    huge = b"%PDF-1.4\n" + b"0" * 3_500_000
    before = _blob_files(service)

    def post(**kwargs: Any) -> httpx.Response:
        return client.post("/v1/documents", **kwargs)

    cases: list[tuple[str, Callable[[], httpx.Response], int, str]] = [
        ("no key", lambda: service.client(None).get("/v1/documents"), 401, "unauthorized"),
        ("bad key", lambda: service.client("sk_nope").get("/v1/documents"), 401, "unauthorized"),
        (
            "empty",
            lambda: post(files={"files": ("e.pdf", b"", "application/pdf")}),
            400,
            "empty_file",
        ),
        (
            "not a document",
            lambda: post(files={"files": ("a.pdf", b"hello " * 50, "text/plain")}),
            415,
            "unsupported_type",
        ),
        (
            "too large",
            lambda: post(files={"files": ("h.pdf", huge, "application/pdf")}),
            413,
            "file_too_large",
        ),
        (
            "truncated",
            lambda: post(files={"files": ("t.pdf", corrupt, "application/pdf")}),
            422,
            "corrupt_document",
        ),
        (
            "encrypted",
            lambda: post(files={"files": ("l.pdf", encrypted, "application/pdf")}),
            422,
            "encrypted_document",
        ),
        (
            "bad metadata",
            lambda: post(
                files={"files": ("g.pdf", good.read_bytes(), "x/y")}, data={"metadata": "{not json"}
            ),
            422,
            "invalid_metadata",
        ),
        (
            "bad callback",
            lambda: post(
                files={"files": ("g.pdf", good.read_bytes(), "x/y")},
                data={"callback_url": "ftp://x"},
            ),
            422,
            "invalid_callback_url",
        ),
        (
            "one bad of two",
            lambda: post(
                files=[
                    ("files", ("g.pdf", good.read_bytes(), "x/y")),
                    ("files", ("e.pdf", b"", "x/y")),
                ]
            ),
            400,
            "empty_file",
        ),
        (
            "no files",
            lambda: post(files={"other": ("g.pdf", good.read_bytes(), "x/y")}),
            400,
            "bad_request",
        ),
        ("not multipart", lambda: post(json={"files": []}), 415, "not_multipart"),
        ("bad search", lambda: client.post("/v1/search", json={"k": 3}), 422, "invalid_request"),
        ("no such document", lambda: client.get("/v1/documents/0123"), 404, "document_not_found"),
        (
            "no such page",
            lambda: client.get("/v1/documents/0123/pages/9"),
            404,
            "document_not_found",
        ),
    ]
    for name, call, status, code in cases:
        response = call()
        assert response.status_code == status, (name, response.text)
        body = response.json()
        assert body["error"]["code"] == code, (name, body)
        assert body["error"]["message"] and "Traceback" not in response.text, name
    assert client.get("/v1/documents").json()["total"] == 0
    assert _blob_files(service) == before  # no original, no temp file left behind
    assert service.client(None).get("/healthz").status_code == 200


def test_delete_removes_rows_and_blobs(service: Service, tmp_path: Path) -> None:
    key, _ = service.new_key("tidy")
    client = service.client(key)
    pdf = make_pdf(tmp_path / "gone.pdf", [["The old pier will be demolished next spring."]])
    before = _blob_files(service)
    doc_id = client.post(
        "/v1/documents", files={"files": ("gone.pdf", pdf.read_bytes(), "application/pdf")}
    ).json()["documents"][0]["id"]
    assert service.wait_final(client, doc_id)["status"] == "done"
    assert _blob_files(service) > before  # the original and the page image
    assert client.delete(f"/v1/documents/{doc_id}").status_code == 204
    assert client.get(f"/v1/documents/{doc_id}").status_code == 404
    assert client.post("/v1/search", json={"query": "old pier demolished"}).json()["hits"] == []
    assert _blob_files(service) == before


def test_delete_while_pages_are_read_leaves_no_page_images(
    service: Service, tmp_path: Path
) -> None:
    key, _ = service.new_key("hasty")
    client = service.client(key)
    pdf = make_pdf(
        tmp_path / "long.pdf", [[f"Page {n} of the minutes, item {n}."] for n in range(1, 25)]
    )
    before = _blob_files(service)
    doc_id = client.post(
        "/v1/documents", files={"files": ("long.pdf", pdf.read_bytes(), "application/pdf")}
    ).json()["documents"][0]["id"]
    deadline = time.monotonic() + 120
    while client.get(f"/v1/documents/{doc_id}").json()["pages_done"] < 1:
        assert time.monotonic() < deadline, "no page was read"
        time.sleep(0.05)
    assert client.delete(f"/v1/documents/{doc_id}").status_code == 204
    # the workers still reading its pages store nothing more, and remove what they wrote:
    # once the blob files have settled (no change for 3 s) they are as before the upload
    files, settled, deadline = _blob_files(service), time.monotonic(), time.monotonic() + 90
    while time.monotonic() - settled < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
        now = _blob_files(service)
        if now != files:
            files, settled = now, time.monotonic()
    assert files == before
    assert client.get(f"/v1/documents/{doc_id}").status_code == 404


def test_folder_batch(service: Service, import_root: Path, tmp_path: Path) -> None:
    key, _ = service.new_key("archive")
    client = service.client(key)
    folder = import_root / "archive" / "box-7"  # the tenant's import folder is <root>/archive
    (folder / "sub").mkdir(parents=True)
    make_pdf(folder / "one.pdf", [["Letter about the canal lock keeper."]])
    make_pdf(folder / "sub" / "two.pdf", [["Invoice for twelve oak beams."]])
    (folder / "notes.txt").write_text("not a scan")
    # links out of the batch's folder: to a system file, to a neighbour's scan, a folder link
    neighbour = import_root / "box-8-other-tenant"
    neighbour.mkdir()
    make_pdf(neighbour / "secret.pdf", [["Salary review of the harbour master."]])
    (folder / "hostname.pdf").symlink_to("/etc/hostname")
    (folder / "peek.pdf").symlink_to(neighbour / "secret.pdf")
    (folder / "sub" / "dir-link").symlink_to(neighbour, target_is_directory=True)
    response = client.post("/v1/batches", json={"path": "box-7"})
    assert response.status_code == 202, response.text
    batch_id = response.json()["id"]
    deadline = time.monotonic() + 180
    while True:
        batch = client.get(f"/v1/batches/{batch_id}").json()
        counts = batch["counts"]
        if batch["status"] == "listed" and counts["done"] + counts["failed"] == 5:
            break
        assert time.monotonic() < deadline, (batch, service.tail())
        time.sleep(0.5)
    # two scans read, notes.txt failed, the two file links refused (counted failed, not read)
    assert batch["files_total"] == 5 and counts["done"] == 2 and counts["failed"] == 3
    failed = client.get("/v1/documents", params={"status": "failed"}).json()["documents"]
    assert [(d["filename"], d["error"]["code"]) for d in failed] == [
        ("notes.txt", "unsupported_type")
    ]
    names = {d["filename"] for d in client.get("/v1/documents").json()["documents"]}
    assert names == {"one.pdf", "two.pdf", "notes.txt"}
    hits = client.post("/v1/search", json={"query": "salary of the harbour master"}).json()
    assert all("Salary" not in h["text"] for h in hits["hits"])
    for path in ("../..", "box-7/../..", "/etc", "../box-8-other-tenant"):
        outside = client.post("/v1/batches", json={"path": path})
        assert outside.status_code == 403, (path, outside.text)
        assert outside.json()["error"]["code"] == "path_not_allowed"
    nul = client.post("/v1/batches", json={"path": "box-7\u0000/x"})
    assert nul.status_code == 422 and nul.json()["error"]["code"] == "invalid_path"
    other = service.client(service.new_key("nosy")[0])
    assert other.get(f"/v1/batches/{batch_id}").status_code == 404


def test_readiness_and_metrics(service: Service) -> None:
    key, _ = service.new_key("ops")
    client = service.client(key)
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["workers"] >= 1
    assert service.client(None).get("/metrics").status_code == 401
    # the operator's key reads them (tests/e2e/test_edge.py); a tenant's never does
    assert client.get("/metrics").json()["error"]["code"] == "metrics_forbidden"
    assert client.get("/docs").status_code == 200


def test_non_ascii_file_names_are_kept_as_sent(service: Service) -> None:
    client = service.client(service.new_key("names")[0])
    buffer = io.BytesIO()
    text_page(["A curriculum vitae."]).save(buffer, "PNG")
    image = buffer.getvalue()
    # raw UTF-8 in filename= (what browsers and httpx send)
    r = client.post("/v1/documents", files={"files": ("résumé_中文.png", image, "image/png")})
    assert r.status_code == 202, r.text
    assert r.json()["documents"][0]["filename"] == "résumé_中文.png"
    # RFC 5987 filename* beside an ASCII fallback, and a Latin-1 name from an old client
    boundary = "b0undary"
    for disposition, want in (
        (b"filename=\"cv.png\"; filename*=UTF-8''%E5%B1%A5%E6%AD%B4%E6%9B%B8.png", "履歴書.png"),
        ('filename="ma\u00eetre.png"'.encode("latin-1"), "ma\u00eetre.png"),
    ):
        image += b"\0"  # other content: a new document, not the first one again
        body = (
            f"--{boundary}\r\n".encode()
            + b'Content-Disposition: form-data; name="files"; '
            + disposition
            + b"\r\nContent-Type: image/png\r\n\r\n"
            + image
            + f"\r\n--{boundary}--\r\n".encode()
        )
        r = client.post(
            "/v1/documents",
            content=body,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        assert r.status_code == 202, r.text
        assert r.json()["documents"][0]["filename"] == want


def test_one_idempotency_key_makes_one_document_under_concurrency(service: Service) -> None:
    idempotency_race(service, "racing")


def idempotency_race(service: Service, tenant: str) -> None:
    """20 uploads at once under one Idempotency-Key, each with another body: one document."""
    key, _ = service.new_key(tenant)
    bodies = []
    for n in range(20):
        buffer = io.BytesIO()
        text_page([f"Racing upload number {n}."]).save(buffer, "PNG")
        bodies.append(buffer.getvalue())

    def send(body: bytes) -> httpx.Response:
        with service.client(key) as client:
            return client.post(
                "/v1/documents",
                files={"files": ("race.png", body, "image/png")},
                headers={"Idempotency-Key": "same-key"},
            )

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(send, bodies))
    codes = sorted(r.status_code for r in answers)
    assert codes.count(202) == 1, codes
    assert set(codes) <= {202, 409, 422}, [r.text for r in answers if r.status_code >= 500]
    for r in answers:
        if r.status_code != 202:
            assert r.json()["error"]["code"] in (
                "idempotency_key_reused",
                "idempotency_key_in_progress",
            )
    client = service.client(key)
    assert client.get("/v1/documents").json()["total"] == 1
    winner = next(i for i, r in enumerate(answers) if r.status_code == 202)
    again = send(bodies[winner])
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == answers[winner].json()
    other = send(bodies[(winner + 1) % 20])
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
