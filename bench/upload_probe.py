"""Upload-only probe: accept latency and throughput of the API alone (no workers running).

    python bench/upload_probe.py [--clients 20] [--api-workers 2] [--docs 100]

Starts ``scanrag serve`` on a fresh SCANRAG_HOME (tasks go to a scratch Redis database that is
flushed after), then uploads ``--docs`` one-page PDFs from ``--clients`` concurrent clients,
once with httpx and once with the raw HTTP/1.1 client of bench/service.py, and prints latency
percentiles, the API's own time (Server-Timing) and uploads per second. With clients that send
back to back, latency = clients / throughput (Little's law), so this shows the floor the
service benchmark's accept latency cannot go under on this machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import broker, create_key, table
from bench.service import PYTHON, ROOT, build_documents, free_port, scanrag_env, upload_all


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--api-workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--docs", type=int, default=100, help="uploads per client kind")
    ap.add_argument("--redis-url", help="a Redis database (default: a redis-server of its own)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="scanrag-upload-probe-"))
    stack = ExitStack()  # closed last: the Redis outlives the API
    env = scanrag_env(
        work / "home", SCANRAG_REDIS_URL=stack.enter_context(broker(args.redis_url, work))
    )
    key = create_key(env, "probe")
    port = free_port()
    serve = [PYTHON, "-m", "cli.main", "serve", "--port", str(port)]
    api = subprocess.Popen(
        [*serve, "--workers", str(args.api_workers)], env=env, cwd=ROOT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        pdfs = build_documents(work / "docs", [1] * (2 * args.docs + args.clients), "probe")
        upload_all(url, key, pdfs[: args.clients], args.clients)  # warm connections and caches
        rows = []
        for n, client in enumerate(("httpx", "raw")):
            batch = pdfs[args.clients + n * args.docs : args.clients + (n + 1) * args.docs]
            t = time.perf_counter()
            up = upload_all(url, key, batch, args.clients, client)
            wall = time.perf_counter() - t
            lat, own = np.array(up.latencies_ms), np.array(up.server_ms)
            rows.append(
                {
                    "client": client,
                    "clients": args.clients,
                    "API processes": args.api_workers,
                    "uploads": len(lat),
                    "p50 ms": float(np.percentile(lat, 50)),
                    "p99 ms": float(np.percentile(lat, 99)),
                    "API own p50 ms": float(np.percentile(own, 50)),
                    "uploads/s": len(lat) / wall,
                    "errors": len(up.errors),
                }
            )
        print(table(rows, list(rows[0])))
    finally:
        os.killpg(api.pid, 15)
        api.wait(timeout=30)
        stack.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
