"""Start-up and latency where a user feels it: cold CLI commands and warm API search.

    python bench/startup.py [--runs 5] [--chunks 10000] [--queries 200] [--skip-api]
                            [--skip-cold] [--only help,usage,...] [--cache DIR] [--baseline DIR]

Cold commands. Each command runs ``--runs`` times as a new process (what the ``scanrag``
script, as a user types it) on a fresh ``SCANRAG_HOME`` holding a small embedded store (SQLite
+ blobs): ``docs/sample-scan.pdf`` and two pages rendered by ``tests/pagegen.py``, ingested once
before the timing. One unmeasured run of each command first fills what a first use builds once
(the int8 detector, the ONNX query encoder, the OS file cache); the table shows the median and
the min and max wall time of the measured runs, stdout and stderr discarded. Each run is
``python -m cli.main ARGS`` (what the ``scanrag`` script runs) from the repository root. With
``--baseline DIR`` (a checkout of the code to compare with, e.g. ``git archive HEAD | tar -x -C
DIR``) each command also runs from there, alternating run by run with this tree's, so load on
a shared machine falls on both alike; ``ratio`` is baseline median / this median.

- ``--help``, ``<cmd> --help`` and a usage error (an unknown command): Typer and its imports only;
- ``ocr PAGE.png``: one 1400x249 px page read (models loaded, layout model run);
- ``search "QUERY"``: one query on the small store (query encoder loaded);
- ``documents``: the stored documents listed.

Warm API search (with ``--baseline``: this tree's API and the baseline's, on the same
store, requests taking turns). ``--chunks`` chunks of real SQuAD text with MiniLM-derived vectors
(``bench/search.py``'s corpus: real MiniLM vectors of real sentences, mixed) are inserted into a
SQLite store, one API process (uvicorn) is started on it, and
``--queries`` real SQuAD questions are sent to ``POST /v1/search`` one after another (k=10) after
20 unmeasured ones; p50/p95/p99 of the round trip as the client sees it (query embedding,
hybrid search, JSON) are printed, and the p50/p95 of the server's own time (its
``Server-Timing: app;dur=`` header: request received to response started), so a slow round
trip can be told from a slow server (the client runs on the same cores). ``--skip-cold`` times
only the API search.

Progress goes to stderr, the tables to stdout.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, SHARED, cpu_class, create_key, percentile, table
from tests.harness import Service, ServiceError, scanrag_env

SCANRAG = Path(sys.executable).parent / "scanrag"
PYTHON = sys.executable
QUERY = "pumping station repairs"


def log(message: str) -> None:
    """A progress line on stderr."""
    print(message, file=sys.stderr, flush=True)


def env_for(home: Path) -> dict[str, str]:
    """This environment without SCANRAG_ settings, plus a home of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCANRAG_")}
    env["SCANRAG_HOME"] = str(home)
    return env


def make_store(home: Path) -> Path:
    """Ingest the sample scan and two rendered pages into ``home``; the path of one page image."""
    from tests.pagegen import scanned, text_page

    pages = home.parent / "pages"
    pages.mkdir(parents=True, exist_ok=True)
    one = pages / "page1.png"
    text_page(
        [
            "Pumping station repairs were delayed by the flood.",
            "The council approved a new budget for roads.",
        ]
    ).save(one)
    scanned(text_page(["Invoice 2291 for water meter replacement", "Total due: 4,200"])).save(
        pages / "page2.png"
    )
    done = subprocess.run(
        [str(SCANRAG), "ingest", str(ROOT / "docs" / "sample-scan.pdf"), str(pages)],
        env=env_for(home),
        capture_output=True,
        text=True,
        cwd=home.parent,
    )
    if done.returncode != 0:
        raise SystemExit(f"ingest failed ({done.returncode}): {done.stderr}")
    return one


def time_command(
    args: list[str], env: dict[str, str], trees: list[Path], runs: int
) -> list[list[float]]:
    """Wall seconds of ``runs`` cold runs of ``python -m cli.main ARGS`` from each tree (after
    one unmeasured run each), the trees taking turns run by run."""
    seconds: list[list[float]] = [[] for _ in trees]
    for i in range(runs + 1):
        for tree, times in zip(trees, seconds, strict=True):
            t = time.perf_counter()
            subprocess.run(
                [PYTHON, "-m", "cli.main", *args],
                env=env,
                cwd=tree,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
            if i:
                times.append(time.perf_counter() - t)
    return seconds


def cold_commands(
    runs: int, only: set[str] | None, baseline: Path | None
) -> list[dict[str, object]]:
    """The cold-command table's rows."""
    work = Path(tempfile.mkdtemp(prefix="scanrag-startup-"))
    home = work / "home"
    log(f"building the small store in {home}")
    page = make_store(home)
    env = env_for(home)
    commands = {
        "help": ["--help"],
        "usage": ["nosuchcommand"],
        "search-help": ["search", "--help"],
        "ocr": ["ocr", str(page)],
        "search": ["search", QUERY],
        "documents": ["documents"],
    }
    rows = []
    for name, args in commands.items():
        if only and name not in only:
            continue
        log(f"timing scanrag {' '.join(args)}")
        trees = [ROOT] if baseline is None else [ROOT, baseline]
        seconds, *before = time_command(args, env, trees, runs)
        row: dict[str, object] = {
            "command": "scanrag " + " ".join(a if "/" not in a else Path(a).name for a in args),
            "runs": runs,
            "median s": statistics.median(seconds),
            "min s": min(seconds),
            "max s": max(seconds),
        }
        if before:
            row["baseline median s"] = statistics.median(before[0])
            row["ratio"] = statistics.median(before[0]) / statistics.median(seconds)
        rows.append(row)
    return rows


def start_api(tree: Path, home: Path, logs: Path) -> Service:
    """One uvicorn API process of the code in ``tree`` on the store in ``home`` (its log under
    ``logs``), once /healthz answers."""
    logs.mkdir(parents=True, exist_ok=True)
    service = Service(logs, scanrag_env(home), root=tree)
    service.start_api()
    try:
        service.wait_healthy(timeout=120)
    except ServiceError as exc:
        service.stop()
        raise SystemExit(f"the API of {tree} did not come up: {exc}") from None
    return service


def server_ms(header: str) -> float:
    """The ``app;dur=<ms>`` of a Server-Timing header (api/app.py); NaN without one."""
    for metric in header.split(","):
        name, _, params = metric.strip().partition(";")
        if name == "app" and params.startswith("dur="):
            return float(params[4:])
    return float("nan")


def api_search(
    chunks: int, queries: int, cache: Path, baseline: Path | None
) -> list[dict[str, object]]:
    """The warm API search rows: p50/p95/p99 ms of ``queries`` searches at ``chunks``, for this
    tree's API and (with ``baseline``) the baseline's, their requests taking turns."""
    import httpx

    from bench import search as sb
    from models.embedder import get_embedder

    work = Path(tempfile.mkdtemp(prefix="scanrag-startup-api-"))
    corpus = sb.build_corpus(
        chunks=chunks, base_count=2000, seed=0, cache=cache, embedder=get_embedder
    )
    questions = sb.load_queries(count=queries + 20, seed=0, cache=cache, embedder=get_embedder)
    engine, _, _ = sb.build_sqlite(work, corpus, pages_per_doc=10)
    engine.dispose()
    home = work / "sqlite"  # build_sqlite's file is <work>/sqlite/scanrag.db: the default name
    headers = {"Authorization": f"Bearer {create_key(scanrag_env(home), 'default')}"}
    trees = {"this tree": ROOT} if baseline is None else {"this tree": ROOT, "baseline": baseline}
    servers = {
        name: start_api(tree, home, work / f"logs-{i}")
        for i, (name, tree) in enumerate(trees.items())
    }
    times: dict[str, list[float]] = {name: [] for name in trees}
    own: dict[str, list[float]] = {name: [] for name in trees}
    try:
        clients = {
            name: httpx.Client(base_url=server.url, headers=headers, timeout=120)
            for name, server in servers.items()
        }
        for i, question in enumerate(questions.texts):
            for name, client in clients.items():
                t = time.perf_counter()
                answer = client.post("/v1/search", json={"query": question, "k": 10})
                elapsed = time.perf_counter() - t
                if answer.status_code != 200:
                    raise SystemExit(f"{name}: search answered {answer.status_code}: {answer.text}")
                if i >= 20:  # the first ones load the encoder and warm the caches
                    times[name].append(elapsed * 1000)
                    own[name].append(server_ms(answer.headers.get("server-timing", "")))
        for client in clients.values():
            client.close()
    finally:
        for service in servers.values():
            service.stop()
    rows: list[dict[str, object]] = []
    for name, measured in times.items():
        rows.append(
            {
                "API": name,
                "chunks": chunks,
                "queries": len(measured),
                "p50 ms": percentile(measured, 50),
                "p95 ms": percentile(measured, 95),
                "p99 ms": percentile(measured, 99),
                "max ms": max(measured),
                "server p50 ms": percentile(own[name], 50),
                "server p95 ms": percentile(own[name], 95),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--skip-api", action="store_true")
    parser.add_argument("--skip-cold", action="store_true", help="time only the API search")
    parser.add_argument("--only", default="", help="comma-separated cold commands to time")
    parser.add_argument("--baseline", type=Path, help="a checkout of the code to compare with")
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "scanrag-bench-search"
    )
    args = parser.parse_args()
    only = set(filter(None, args.only.split(","))) or None
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    header = (
        f"CPU: {cpu_class()}; {len(os.sched_getaffinity(0))} cores; load average {load}; "
        f"python {sys.version.split()[0]}"
    )
    print(header + "\n")
    columns = ["command", "runs", "median s", "min s", "max s"]
    if args.baseline is not None:
        columns += ["baseline median s", "ratio"]
    if not args.skip_cold:
        print(table(cold_commands(args.runs, only, args.baseline), columns))
    if not args.skip_api:
        if not (SHARED / "data" / "rag" / "squad").is_dir():
            print("\n(warm API search skipped: shared/data/rag/squad is absent)")
            return
        rows = api_search(args.chunks, args.queries, args.cache, args.baseline)
        load = " ".join(f"{v:.2f}" for v in os.getloadavg())
        print(f"\nCPU: {cpu_class()}; {len(os.sched_getaffinity(0))} cores; load average {load}\n")
        columns = ["API", "chunks", "queries", "p50 ms", "p95 ms", "p99 ms", "max ms"]
        columns += ["server p50 ms", "server p95 ms"]
        print(table(rows, columns))


if __name__ == "__main__":
    main()
