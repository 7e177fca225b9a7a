"""``scanrag ingest``: store documents (OCR, chunks, embeddings) so they can be searched."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.errors import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_OK, exit_on_error, refusal_line
from cli.tables import print_table
from core.errors import Category

if TYPE_CHECKING:  # the database and the models are imported when the command runs
    from workers.ingest import IngestOutcome


def _metadata(text: str | None) -> dict[str, Any]:
    from workers.views import InvalidMetadata, parse_metadata

    try:
        return parse_metadata(text)
    except InvalidMetadata as exc:
        raise typer.BadParameter(exc.message, param_hint="--metadata") from exc


def _report_failure(outcome: IngestOutcome) -> None:
    if outcome.status == "failed":
        refusal_line(outcome.path, outcome.error_message or "", outcome.error_code or "internal")


def ingest(
    paths: Annotated[
        list[Path], typer.Argument(metavar="PATH", help="PDF or image files (or folders)")
    ],
    tenant: Annotated[str, typer.Option(help="whose documents these are")] = "default",
    metadata: Annotated[
        str | None, typer.Option(help="a JSON object stored with each document, e.g. '{\"a\": 1}'")
    ] = None,
) -> None:
    """Store documents for search: read, chunk, embed and index them; known files are skipped."""
    from cli.inputs import readable_inputs
    from cli.progress import PageBar
    from core.config import get_settings
    from workers.ingest import IngestOutcome, ingest_paths
    from workers.runtime import Runtime

    settings = get_settings()
    meta = _metadata(metadata)
    # the stores are opened once the models are found
    runtime = Runtime.build(settings, stores=False)
    # a missing, empty, text or damaged file is refused here: never stored as a failed document
    paths, refusals = readable_inputs(paths, runtime.load)
    refused = [
        IngestOutcome(
            path, None, "failed", 0, exc.code, exc.message, error_category=Category.BAD_INPUT
        )
        for path, exc in refusals
    ]
    if not paths:
        print_summary(refused)
        raise typer.Exit(EXIT_BAD_INPUT)
    with exit_on_error():
        runtime.ocr.models()  # a missing model file is reported before anything is stored
        runtime.open()
        runtime.preload()
    with PageBar(enabled=sys.stderr.isatty()) as bar:
        outcomes = ingest_paths(
            paths,
            runtime=runtime,
            tenant=tenant,
            meta=meta,
            progress=bar,
            on_outcome=_report_failure,
        )
    runtime.close()
    outcomes = refused + outcomes
    print_summary(outcomes)
    failed = [o for o in outcomes if o.status == "failed"]
    if any(o.error_category is not Category.BAD_INPUT for o in failed):
        raise typer.Exit(EXIT_INTERNAL)
    raise typer.Exit(EXIT_BAD_INPUT if failed else EXIT_OK)


def print_summary(outcomes: list[IngestOutcome]) -> None:
    """One line per file (status, pages, seconds, document id, file, reason), then the counts."""
    rows = [
        (
            o.status,
            o.pages,
            f"{o.seconds:.1f}",
            o.document_id or "-",
            o.path if o.status != "failed" else f"{o.path}  {o.error_message} [{o.error_code}]",
        )
        for o in outcomes
    ]
    print_table(("status", "pages", "seconds", "document", "file"), rows)
    counts = ", ".join(
        f"{sum(o.status == s for o in outcomes)} {s}" for s in ("done", "duplicate", "failed")
    )
    files = f"{len(outcomes)} file" + ("" if len(outcomes) == 1 else "s")
    print(f"{files}: {counts}", flush=True)
