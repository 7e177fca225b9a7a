"""ruff, mypy and the import contracts run as part of the suite, so CI enforces them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    "cmd",
    [
        ["ruff", "check", "."],
        ["ruff", "format", "--check", "."],
        ["mypy"],
        ["lint-imports"],
        ["docker-compose", "-f", "docker-compose.yml", "config", "--quiet"],
    ],
    ids=["ruff", "ruff-format", "mypy", "import-linter", "docker-compose"],
)
def test_tool_is_clean(cmd: list[str]) -> None:
    res = subprocess.run([str(BIN / cmd[0]), *cmd[1:]], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_tests_and_benchmarks_never_flush_a_redis() -> None:
    """Tests and benchmarks run on a redis-server they start themselves (tests.harness.
    RedisServer): nothing in them empties a Redis, so a developer's data on 6379 is safe."""
    flushing = [
        f"{path.relative_to(ROOT)}:{n}"
        for folder in ("tests", "bench")
        for path in (ROOT / folder).rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"flush(db|all)\b", line, re.IGNORECASE) and path != Path(__file__)
    ]
    assert flushing == []
