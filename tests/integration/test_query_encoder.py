"""The ONNX query encoder (models/query_encoder.py) against torch's MiniLM: the same vectors,
the same token counts, the same search results; its cached export checked by checksum."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.config import Settings
from models.embedder import EmbedParams, get_embedder
from models.query_encoder import OnnxQueryEncoder, get_query_encoder, onnx_model
from tests.pagegen import text_page
from workers.runtime import Runtime
from workers.searching import search

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
FP32 = EmbedParams(device="cpu", precision="fp32")  # torch's MiniLM, as the index is built

TEXTS = [
    "pumping station repairs",
    "Which NFL team represented the AFC at Super Bowl 50?",
    "Invoices from the harbour arrive every Tuesday.",
    "naïve café — 東京 in the rain",
    "a",
    "",
    "The walrus keeps a careful ledger of herring sales. " * 40,  # past 256 word pieces
    "What is the Grotto at Notre Dame?",
    "Total due: 4,200 dollars",
]


@pytest.fixture(scope="module")
def onnx_encoder(tmp_path_factory: pytest.TempPathFactory) -> OnnxQueryEncoder:
    return get_query_encoder(tmp_path_factory.mktemp("model-cache"))


def test_vectors_and_token_counts_match_torch(onnx_encoder: OnnxQueryEncoder) -> None:
    torch_encoder = get_embedder(params=FP32)
    assert onnx_encoder.identity == torch_encoder.identity
    ours, theirs = onnx_encoder.embed(TEXTS), torch_encoder.embed(TEXTS)
    assert ours.shape == theirs.shape == (len(TEXTS), 384)
    cosine = (ours * theirs).sum(axis=1)
    assert cosine.min() > 1 - 1e-5, cosine
    assert np.allclose(np.linalg.norm(ours, axis=1), 1, atol=1e-5)
    assert [onnx_encoder.count_tokens(t) for t in TEXTS] == [
        torch_encoder.count_tokens(t) for t in TEXTS
    ]


def test_one_thread_by_default_and_the_same_vectors_on_two(
    onnx_encoder: OnnxQueryEncoder, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # a query is a few dozen tokens: one thread, no spinning, unless told otherwise (issue 35)
    options = onnx_encoder.session.get_session_options()
    assert options.intra_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    model = onnx_model(tmp_path_factory.mktemp("model-cache-2"))
    two = OnnxQueryEncoder(model, threads=2)
    assert two.session.get_session_options().intra_op_num_threads == 2
    assert np.array_equal(two.embed(TEXTS), onnx_encoder.embed(TEXTS))


def test_a_damaged_export_is_made_again(tmp_path: Path) -> None:
    path = onnx_model(tmp_path)
    good = path.read_bytes()
    path.write_bytes(good[:1000])  # truncated: its sha256 no longer matches
    assert onnx_model(tmp_path) == path and path.read_bytes() == good


def test_search_results_are_the_same_as_with_torch(
    tmp_path: Path, onnx_encoder: OnnxQueryEncoder
) -> None:
    home = tmp_path / "home"
    pages = tmp_path / "pages"
    pages.mkdir()
    lines = [
        ["Pumping station repairs were delayed by the flood.", "The council met on Monday."],
        ["Invoice 2291 for water meter replacement.", "Total due: 4,200 dollars."],
        ["The lighthouse keeper counts seventeen gulls at dawn.", "Fog rolled over the pier."],
    ]
    for n, text in enumerate(lines):
        text_page(text).save(pages / f"p{n}.png")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCANRAG_")}
    env["SCANRAG_HOME"] = str(home)
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "ingest", str(pages)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    settings = Settings(home=home)
    queries = ["flood repairs", "how much is due for the meter", "birds at dawn", "council"]
    found = []
    for embedder in (get_embedder(params=FP32), onnx_encoder):
        runtime = Runtime.build(settings, embedder=embedder)
        with runtime.sessions() as session:
            found.append(
                [
                    [
                        (h.document_id, h.page_number, h.chunk_id)
                        for h in search(runtime, session, query=q)
                    ]
                    for q in queries
                ]
            )
        runtime.close()
    assert found[0] == found[1] and all(found[0])
