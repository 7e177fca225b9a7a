"""ruff, mypy and the import contracts run as part of the suite, so CI enforces them."""

from __future__ import annotations

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
