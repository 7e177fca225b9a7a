"""What a newcomer meets first (issue 35): help that says what it means, fast; bad inputs
refused in one line before anything loads or is stored; one default tenant; empty states that
say what to do; `documents delete`; `up` without Redis failing fast with the way out."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

from cli.main import app
from tests.harness import free_port
from tests.pagegen import text_page

SCANRAG = [sys.executable, "-m", "cli.main"]
ROOT = Path(__file__).resolve().parents[2]


def run(home: Path, args: list[str], **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCANRAG_")}
    env.update({"SCANRAG_HOME": str(home), "SCANRAG_EMBED__DEVICE": "cpu", **extra})
    return subprocess.run(
        [*SCANRAG, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def all_help() -> dict[str, str]:
    """``--help`` of the app and of every command and subcommand, by command path."""
    runner = CliRunner()
    out: dict[str, str] = {}

    def walk(path: list[str], command: object) -> None:
        res = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "100"})
        assert res.exit_code == 0, (path, res.output)
        out[" ".join(path) or "scanrag"] = res.output
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk([*path, name], sub)

    walk([], get_command(app))
    return out


def test_help_says_what_it_means() -> None:
    helps = all_help()
    assert {"scanrag", "ocr", "search", "documents", "documents delete", "up", "mcp"} <= set(helps)
    for path, text in helps.items():
        assert "``" not in text, path  # reST literals are not for a terminal
        assert "<bool>" not in text, path
        assert "╭" not in text, path  # plain Click help: no Rich panels eating [brackets]
    # Rich markup used to eat "[mcp]"
    assert "pip install 'scanrag[mcp]'" in " ".join(helps["mcp"].split())
    # a paragraph is wrapped as one, never broken after a word mid-sentence
    assert "Ctrl-C stops all of it." in " ".join(helps["up"].split())
    assert "--concurrency" in helps["up"] and "the worker's processes" in helps["up"]


def test_every_option_has_help() -> None:
    def walk(command: typer.core.TyperGroup | typer.core.TyperCommand, path: str) -> None:
        for param in command.params:
            if getattr(param, "param_type_name", "") == "option":
                assert getattr(param, "help", None), f"{path} {param.opts} has no help"
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(get_command(app), "scanrag")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "args", [["--help"], ["search", "--help"], ["nosuchcommand"], ["documents", "delete"]]
)
def test_help_and_usage_errors_are_fast(tmp_path: Path, args: list[str]) -> None:
    # issue 35: under 0.5 s (bench/startup.py has the medians). On a shared machine a fixed
    # bound would fail with the load, so the command is held to three quarters of what merely
    # importing what --help used to import takes, best of three each, taking turns: a command
    # that imports any of it again takes at least as long as the reference. (Half was too
    # tight across CPUs: on an Intel Xeon a subcommand's usage error, which reads the settings
    # and builds Typer's pydantic adapters, took 0.55 of the reference, 0.30 s against 0.65 s;
    # on a Zen 4 EPYC it stayed under half.)
    reference = "import sqlalchemy, numpy, onnxruntime, alembic, pydantic_settings"
    took = [_timed(tmp_path, args) for _ in range(3)]
    base = [_timed_python(reference) for _ in range(3)]
    assert min(took) < 0.75 * min(base), f"scanrag {' '.join(args)}: {took} s against {base} s"
    # nothing but Typer and our CLI modules may be imported for these
    res = _imports(args, ("sqlalchemy", "numpy", "torch", "onnxruntime", "onnx"))
    assert res.stderr.strip().splitlines()[-1] == "[]", res.stderr


def test_ocr_opens_no_database_and_imports_none(tmp_path: Path) -> None:
    # `scanrag ocr` stores nothing: sqlalchemy (0.3 s of a cold start) stays unimported
    env = {**os.environ, "SCANRAG_HOME": str(tmp_path / "home")}
    res = _imports(["ocr", str(tmp_path / "nope.png")], ("sqlalchemy", "alembic"), env)
    assert "nope.png" in res.stderr, res.stderr  # it ran as far as the input check
    assert res.stderr.strip().splitlines()[-1] == "[]", res.stderr
    assert not (tmp_path / "home").exists()


def _imports(
    args: list[str], packages: tuple[str, ...], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``scanrag ARGS`` in-process in a fresh interpreter; its stderr ends with the sorted
    list of ``packages`` (top-level names) that the command imported."""
    probe = (
        "import sys; wanted = set(sys.argv[1].split(','))\n"
        "sys.argv = ['scanrag', *sys.argv[2:]]\n"
        "from cli.main import app\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & wanted), file=sys.stderr)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", probe, ",".join(packages), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
    )


def _timed_python(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
    return time.perf_counter() - start


def _timed(home: Path, args: list[str]) -> float:
    start = time.perf_counter()
    run(home, args)
    return time.perf_counter() - start


def test_bad_files_are_refused_before_anything_is_stored(tmp_path: Path) -> None:
    home = tmp_path / "home"
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    text_pdf = tmp_path / "notes.pdf"
    text_pdf.write_text("just some text, not a document")
    text_file = tmp_path / "readme.txt"
    text_file.write_text("hello")
    missing = tmp_path / "nope.png"
    expected = {
        missing: "file_not_found",
        empty: "empty_file",
        text_pdf: "unsupported_type",
        text_file: "unsupported_type",
    }
    start = time.perf_counter()
    res = run(home, ["ingest", *map(str, expected)])
    seconds = time.perf_counter() - start
    assert res.returncode == 1 and "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == len(expected), lines
    for path, code in expected.items():
        (line,) = [ln for ln in lines if ln.startswith(f"scanrag: {path}: ")]
        assert line.endswith(f"[{code}]"), line
    assert "no such file" in next(ln for ln in lines if str(missing) in ln)
    assert res.stdout.strip().splitlines()[-1] == "4 files: 0 done, 0 duplicate, 4 failed"
    assert not (home / "scanrag.db").exists()  # not even a database was opened
    assert seconds < 15  # no model was loaded for them (a model load is most of a cold run)
    # ocr: the missing file is named as missing, not as a corrupt document, and no model loads
    res = run(home, ["ocr", str(missing)])
    assert res.returncode == 1
    assert (
        res.stderr.strip() == f"scanrag: {missing}: no such file: check the path [file_not_found]"
    )


def test_tenants_empty_states_and_delete(tmp_path: Path) -> None:
    home = tmp_path / "home"
    # before any ingest: hints, not bare headers
    res = run(home, ["documents"])
    assert res.returncode == 0
    assert res.stdout.strip() == (
        "no documents for tenant 'default' yet: store some with `scanrag ingest FILE`"
        " (--all-tenants lists every tenant's)"
    )
    res = run(home, ["search", "harbour invoices"])
    assert res.returncode == 0
    assert res.stdout.strip() == "no results: nothing is stored yet: `scanrag ingest FILE` first"
    assert json.loads(run(home, ["search", "harbour invoices", "--json"]).stdout) == []

    page = tmp_path / "page.png"
    text_page(["Invoices from the harbour arrive every Tuesday."]).save(page)
    other = tmp_path / "other.png"
    text_page(["The lighthouse keeper counts seventeen gulls at dawn."]).save(other)
    assert run(home, ["ingest", str(page)]).returncode == 0
    assert run(home, ["ingest", str(other), "--tenant", "acme"]).returncode == 0

    # without --tenant, documents and search show what ingest stored without --tenant
    listed = json.loads(run(home, ["documents", "--json"]).stdout)
    assert [(d["filename"], d["tenant"]) for d in listed] == [("page.png", "default")]
    everyone = json.loads(run(home, ["documents", "--json", "--all-tenants"]).stdout)
    assert sorted(d["tenant"] for d in everyone) == ["acme", "default"]
    hits = json.loads(run(home, ["search", "lighthouse gulls", "--json"]).stdout)
    assert "other.png" not in {h["document"]["filename"] for h in hits}  # acme's
    hits = json.loads(run(home, ["search", "harbour invoices", "--json"]).stdout)
    assert hits[0]["document"]["filename"] == "page.png"
    hits = json.loads(run(home, ["search", "lighthouse gulls", "--json", "--all-tenants"]).stdout)
    assert hits[0]["document"]["filename"] == "other.png"
    res = run(home, ["search", "lighthouse", "--tenant", "nobody"])
    assert res.stdout.strip() == (
        "no results: tenant 'nobody' has no documents: --tenant NAME or --all-tenants"
    )

    # documents delete: rows, vectors and the blobs nothing else uses
    (doc,) = listed
    blobs_before = {p for p in (home / "blobs").rglob("*") if p.is_file()}
    res = run(home, ["documents", "delete", doc["id"]])
    assert res.returncode == 0 and res.stdout.strip() == f"deleted {doc['id']}", res.stderr
    with closing(sqlite3.connect(home / "scanrag.db")) as db:
        assert (
            db.execute("SELECT COUNT(*) FROM documents WHERE id = ?", (doc["id"],)).fetchone()[0]
            == 0
        )
        assert db.execute(
            "SELECT COUNT(*) FROM chunks WHERE document_id = ?", (doc["id"],)
        ).fetchone() == (0,)
    blobs_after = {p for p in (home / "blobs").rglob("*") if p.is_file()}
    assert blobs_after < blobs_before and doc["sha256"] not in {p.name for p in blobs_after}
    res = run(home, ["documents", "delete", doc["id"]])
    assert res.returncode == 1
    assert res.stderr.strip().startswith(f"scanrag: {doc['id']}: ")
    assert res.stderr.strip().endswith("[document_not_found]")


def test_up_without_redis_says_so_and_exits(tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    start = time.perf_counter()
    res = run(tmp_path / "home", ["up", "--port", str(free_port())], SCANRAG_REDIS_URL=url)
    assert time.perf_counter() - start < 30  # not retrying forever
    assert res.returncode == 3 and res.stdout == ""
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith(f"scanrag: up needs Redis (the job queue) at {url}")
    assert "redis-server" in line and line.endswith("[broker_unavailable]")
