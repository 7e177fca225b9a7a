"""The web app's first search: what a user waits for after the service has (re)started.

    python bench/web_first_search.py [--runs 3] [--waits 0,5] [--baseline TREE] [--redis-url URL]

One service (SQLite home, one Celery worker) holds the sample scan (``docs/sample-scan.pdf``)
and a page rendered by ``tests/pagegen.py``, ingested through the API before timing. Then, run
after run, its API process is restarted (a deploy, a reboot), and once ``/healthz`` answers and
``--waits`` seconds have passed (0: at once; 5: about what signing in takes a person), Debian's
Chromium (Playwright) opens the web app, signs in and searches twice, two different queries:

  first search s   from clicking Search to the first hit shown, the API process's first search;
  warm search s    the same for the second query right after: the baseline of the same run;
  first / warm     how much longer the first search takes.

With ``--baseline TREE`` (another checkout, e.g. ``git archive HEAD | tar -x -C TREE``) every
run restarts the API from TREE as well, on the same store, the two taking turns: what the
change bought, measured in the same run. Medians over ``--runs``, min and max beside them.
Progress goes to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from bench.common import ROOT, broker, cpu_class, create_key, table
from tests import harness
from tests.pagegen import text_page

CHROMIUM = "/usr/bin/chromium"
QUERIES = ("pumping station repairs", "water meter invoice")


def log(message: str) -> None:
    """A progress line on stderr."""
    print(message, file=sys.stderr, flush=True)


def fill(service: harness.Service, key: str, work: Path) -> None:
    """Upload the sample scan and one rendered page through the API; wait until both are done."""
    page = work / "notice.png"
    text_page(["Invoice 2291 for water meter replacement", "Pumping station repairs"]).save(page)
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=service.url, headers=headers, timeout=60) as http:
        files = [
            ("files", ("sample-scan.pdf", (ROOT / "docs" / "sample-scan.pdf").read_bytes())),
            ("files", ("notice.png", page.read_bytes())),
        ]
        created = http.post("/v1/documents", files=files)
        created.raise_for_status()
        ids = [d["id"] for d in created.json()["documents"]]
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            states = [http.get(f"/v1/documents/{i}").json()["status"] for i in ids]
            if all(s in ("done", "failed") for s in states):
                if set(states) != {"done"}:
                    raise SystemExit(f"ingest failed: {states}\n{service.tail()}")
                return
            time.sleep(0.5)
    raise SystemExit(f"ingest took over 600 s\n{service.tail()}")


def searches(browser: Any, url: str, key: str) -> tuple[float, float]:
    """Seconds from clicking Search to the first hit shown, for the first and second query."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(url + "/")
    page.fill("#key", key)
    page.click("#signin button[type=submit]")
    page.wait_for_selector("#app:not([hidden])")
    seconds = []
    for query in QUERIES:
        page.fill("#query", query)
        start = time.perf_counter()
        page.click("#search button[type=submit]")
        page.wait_for_selector("#hits li", timeout=120_000)
        seconds.append(time.perf_counter() - start)
    context.close()
    return seconds[0], seconds[1]


def restart_api(service: harness.Service, tree: Path) -> None:
    """Stop the API process and start it again from ``tree``; until /healthz answers."""
    if service.api is not None:
        harness.terminate(service.api)
    service.root = tree
    service.start_api()
    service.wait_healthy(timeout=120)


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--waits", default="0,5", help="seconds after /healthz, comma-separated")
    parser.add_argument("--baseline", type=Path, help="another checkout to compare with")
    parser.add_argument("--redis-url", help="a Redis to use (default: one of the run's own)")
    args = parser.parse_args()
    waits = [float(w) for w in args.waits.split(",")]
    trees = [("this tree", ROOT)] + ([("baseline", args.baseline)] if args.baseline else [])

    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="scanrag-webfirst-"))
    with broker(args.redis_url, work) as redis_url:
        home = work / "home"
        home.mkdir()
        env = harness.scanrag_env(home, SCANRAG_REDIS_URL=redis_url)
        service = harness.Service(home, env)
        try:
            service.start_api()
            service.wait_healthy(timeout=120)
            service.start_worker()
            service.wait_ready(timeout=180)
            key = create_key(env, "bench")
            log("ingesting the sample scan and a page")
            fill(service, key, work)
            results: dict[tuple[str, float], list[tuple[float, float]]] = {}
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                for run in range(args.runs):
                    for wait in waits:
                        for name, tree in trees:
                            restart_api(service, tree)
                            time.sleep(wait)
                            first, warm = searches(browser, service.url, key)
                            log(f"run {run + 1} {name} wait {wait:g} s: {first:.2f} / {warm:.2f}")
                            results.setdefault((name, wait), []).append((first, warm))
                browser.close()
        finally:
            service.stop()

    rows = []
    for (name, wait), pairs in results.items():
        firsts, warms = [f for f, _ in pairs], [w for _, w in pairs]
        rows.append(
            {
                "API from": name,
                "wait after start s": f"{wait:g}",
                "first search s": spread(firsts),
                "warm search s": spread(warms),
                "first / warm": statistics.median(firsts) / statistics.median(warms),
            }
        )
    print(f"Web app first search (CPU class {cpu_class()}, {args.runs} runs, median (min–max))\n")
    columns = ["API from", "wait after start s", "first search s", "warm search s", "first / warm"]
    print(table(rows, columns))


if __name__ == "__main__":
    main()
