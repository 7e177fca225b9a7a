"""The API runs numpy's BLAS on one thread (api/state.py ``one_blas_thread``, issue 35)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json
import os
import numpy as np
from threadpoolctl import threadpool_info
before = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
from api.state import one_blas_thread
one_blas_thread()
after = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
print(json.dumps([before, after]))
"""


def test_blas_runs_on_one_thread_after_the_api_sets_it() -> None:
    # a fresh process: the limit is process-wide, and the test process's must stay as it is
    env = {"PATH": "/usr/bin:/bin", "OPENBLAS_NUM_THREADS": "2", "HOME": str(Path.home())}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    before, after = json.loads(done.stdout.strip().splitlines()[-1])
    if (os.cpu_count() or 1) >= 2:  # OpenBLAS takes no more threads than there are CPUs
        assert before and all(n == 2 for n in before)
    assert after and all(n == 1 for n in after)
