"""Hostile-input probes against the running API: its resident memory while it refuses them.

    python bench/probes.py [--image-model DIR] [--redis-url URL] [--keep]

What it measures: the API process's RSS (psutil, sampled every 10 ms) idle, then while each
probe is sent and answered: RSS before, the peak, and the peak less idle (delta), with the status
the probe got. The target (issue 32): every probe within 100 MB of idle.

Probes:
  encode 64 bombs (image)   one /v1/encode body of 64 PNGs of 8944 x 8944 1-bit pixels
                            (~10 KB each, ~290 MB each decoded): 413 from their headers;
  encode 63 bombs (text)    63 of them and a text for the text model: 422, nothing decoded;
  search bomb               /v1/search with one of them as its image: 413;
  encode/search 200 MB      a 200 MB JSON text labelled multipart/form-data, with its
                            Content-Length and streamed without one: 413;
  deep JSON                 5000 nested arrays to /v1/encode, /v1/batches, /v1/search: 4xx;
  encode at the limit       last, for reference: one 2048 x 2048 1-bit PNG (the default pixel
                            limit) encoded, 200: the most one request's images may cost.

How: a fresh SCANRAG_HOME (SQLite), a redis-server of its own (or ``--redis-url``), the API in
one uvicorn process (tests/harness.py Service; no worker: nothing is queued), the image model
a tiny CLIP with random weights (tests/tiny_encoders.py; ``--image-model`` for a real folder),
the text model the built-in MiniLM. Warm-up before idle: one text encode, one small image
encode and one search, so model loading is not counted.
"""

from __future__ import annotations

import argparse
import base64
import io
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import broker, cpu_class, table
from tests.harness import Service, scanrag_env

BOMB_SIDE = 8944
BIG_BODY = 200 * 1024 * 1024
CHUNK = 1024 * 1024


def png_item(image: Image.Image) -> dict[str, str]:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return {"data": base64.b64encode(buffer.getvalue()).decode(), "format": "png"}


class RssPeak:
    """The peak RSS of a process while the block runs, sampled every 10 ms in a thread."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.before = self.peak = self.rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def rss(self) -> float:
        return float(self.proc.memory_info().rss) / 2**20

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(0.01)

    def __enter__(self) -> RssPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.3)  # the answer is sent before the memory it used is freed
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())


def big_body(opening: bytes) -> Iterator[bytes]:
    """``{... "x...x"}``: a JSON text of BIG_BODY bytes, a megabyte at a time."""
    yield opening
    for _ in range(BIG_BODY // CHUNK):
        yield b"x" * CHUNK
    yield b'"}]}'


def send(client: httpx.Client, path: str, **kwargs: Any) -> str:
    """The status of POST ``path`` (or how the connection ended when there was none)."""
    try:
        r = client.post(path, **kwargs)
    except httpx.HTTPError as exc:  # the server answered early and closed mid-body
        return f"closed ({type(exc).__name__})"
    code = r.json().get("error", {}).get("code", "") if r.status_code >= 400 else ""
    return f"{r.status_code} {code}".strip()


Probe = tuple[str, str, Callable[[], dict[str, Any]]]  # name, path, the request's arguments


def probes() -> list[Probe]:
    """Every probe, in order: its name, path and (made when sent) request arguments."""
    bomb = png_item(Image.new("1", (BOMB_SIDE, BOMB_SIDE)))
    at_limit = png_item(Image.new("1", (2048, 2048)))
    bombs = [{"image": bomb}] * 64
    multipart = {"Content-Type": "multipart/form-data; boundary=x"}
    as_json = {"Content-Type": "application/json"}
    deep = "[" * 5000 + "]" * 5000
    encode_text, query = b'{"model": "text", "items": [{"text": "', b'{"query": "'

    def big(opening: bytes, with_length: bool) -> Callable[[], dict[str, Any]]:
        size = {"Content-Length": str(len(opening) + BIG_BODY + 4)} if with_length else {}
        return lambda: {"content": big_body(opening), "headers": {**multipart, **size}}

    def deep_json(text: str) -> Callable[[], dict[str, Any]]:
        return lambda: {"content": text, "headers": as_json}

    return [
        ("encode 64 bombs (image)", "/v1/encode",
         lambda: {"json": {"model": "image", "items": bombs}}),
        ("encode 63 bombs (text)", "/v1/encode",
         lambda: {"json": {"model": "text", "items": [{"text": "a"}, *bombs[1:]]}}),
        ("search bomb", "/v1/search", lambda: {"json": {"image": bomb}}),
        ("encode 200 MB multipart-labelled, length", "/v1/encode", big(encode_text, True)),
        ("encode 200 MB multipart-labelled, streamed", "/v1/encode", big(encode_text, False)),
        ("search 200 MB multipart-labelled, length", "/v1/search", big(query, True)),
        ("search 200 MB multipart-labelled, streamed", "/v1/search", big(query, False)),
        ("encode deep JSON (5000)", "/v1/encode", deep_json(deep)),
        ("batches deep JSON (5000)", "/v1/batches", deep_json(deep)),
        ("search deep JSON (5000)", "/v1/search", deep_json('{"k": ' + deep + "}")),
        # last: what it leaves allocated is not charged to the probes above
        ("encode at the limit (2048^2)", "/v1/encode",
         lambda: {"json": {"model": "image", "items": [{"image": at_limit}]}}),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--image-model", type=Path, help="an image model folder (default: a tiny CLIP)"
    )
    parser.add_argument("--redis-url", help="default: a redis-server of the run's own")
    parser.add_argument("--keep", action="store_true", help="keep the service's home folder")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="scanrag-probes-"))
    image_model = args.image_model
    if image_model is None:
        from tests.tiny_encoders import build

        image_model = build(work / "clip", "clip")
    try:
        with broker(args.redis_url, work) as redis_url:
            env = scanrag_env(
                work / "home",
                SCANRAG_REDIS_URL=redis_url,
                SCANRAG_EMBED__IMAGE_MODEL=str(image_model),
                SCANRAG_EMBED__DEVICE="cpu",
            )
            (work / "home").mkdir()
            service = Service(work / "home", env)
            key, _ = service.new_key("probe")
            service.start_api()
            try:
                service.wait_healthy(120)
                rows = run_probes(service, key)
            finally:
                service.stop()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"CPU: {cpu_class()}")
    print(table(rows, ["probe", "status", "RSS before MB", "peak MB", "delta MB"]))
    worst = max(float(row["delta MB"]) for row in rows if not row["probe"].startswith("encode at"))
    print(f"largest delta of a hostile probe: {worst:.1f} MB (target: under 100 MB)")


def run_probes(service: Service, key: str) -> list[dict[str, Any]]:
    """Warm the API up, then each probe with its memory; one row each."""
    assert service.api is not None
    headers = {"Authorization": f"Bearer {key}"}
    rows: list[dict[str, Any]] = []
    with httpx.Client(base_url=service.url, headers=headers, timeout=600) as client:
        small = png_item(Image.new("RGB", (64, 48), "white"))
        for body, path in (
            ({"model": "text", "items": [{"text": "warm up"}]}, "/v1/encode"),
            ({"model": "image", "items": [{"image": small}]}, "/v1/encode"),
            ({"query": "warm up", "image": small}, "/v1/search"),
        ):
            r = client.post(path, json=body)
            if r.status_code != 200:
                raise SystemExit(f"warm-up {path} answered {r.status_code}: {r.text[:300]}")
        idle = RssPeak(service.api.pid).rss()
        print(f"idle API RSS: {idle:.1f} MB", flush=True)
        for name, path, request in probes():
            with RssPeak(service.api.pid) as rss:
                status = send(client, path, **request())
            rows.append(
                {
                    "probe": name,
                    "status": status,
                    "RSS before MB": f"{rss.before:.1f}",
                    "peak MB": f"{rss.peak:.1f}",
                    "delta MB": f"{rss.peak - idle:.1f}",
                }
            )
            print(rows[-1], flush=True)
    return rows


if __name__ == "__main__":
    main()
