"""The ``scanrag`` command."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, TextIO

import typer

from cli import documents_cmd, ingest_cmd, reindex_cmd, search_cmd, service_cmd
from cli.errors import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_OK, fail_line
from cli.progress import PageBar
from core.config import get_settings
from core.errors import BadInput, ScanragError
from core.logging import configure_logging, get_logger
from pipelines.hocr import write_hocr
from pipelines.load import expand_inputs, open_document
from workers.context import build_engine, load_params

log = get_logger("cli")

app = typer.Typer(
    name="scanrag",
    help="Turn scanned documents into searchable knowledge.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class Format(str, Enum):
    jsonl = "jsonl"
    text = "text"
    hocr = "hocr"


class DeviceChoice(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


@app.callback()
def main() -> None:
    """scanrag: OCR, layout and retrieval for scanned documents."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)


@app.command()
def ocr(
    paths: Annotated[list[Path], typer.Argument(help="PDF or image files (or folders)")],
    fmt: Annotated[Format, typer.Option("--format", help="output format")] = Format.jsonl,
    dpi: Annotated[int | None, typer.Option(min=50, max=600, help="PDF render dpi")] = None,
    device: Annotated[DeviceChoice | None, typer.Option(help="where models run")] = None,
    out: Annotated[
        Path | None, typer.Option(help="write one file per input here instead of stdout")
    ] = None,
) -> None:
    """Read scanned documents: one JSON object per page (jsonl), plain text, or hOCR files."""
    settings = get_settings()
    params = load_params(settings, dpi)
    try:
        engine = build_engine(settings, device.value if device else None)
        engine.models()
    except ScanragError as exc:
        print(f"scanrag: {exc.message} [{exc.code}]", file=sys.stderr)
        raise typer.Exit(EXIT_INTERNAL) from exc
    if fmt is Format.hocr and out is None:
        out = Path(".")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    failed = internal = 0
    files = expand_inputs(paths)
    with PageBar(enabled=sys.stderr.isatty()) as bar:
        for path in files:
            try:
                document = open_document(path, params)
                bar.add_total(document.page_count)
                pages = engine.read(document, source=str(path), progress=bar)
                if out is None:
                    for page in pages:
                        _emit(page.to_dict(), fmt, sys.stdout)
                    continue
                suffix = {"jsonl": ".jsonl", "text": ".txt", "hocr": ".hocr"}[fmt.value]
                target = out / (path.name + suffix)
                partial = target.with_name(target.name + ".part")
                with partial.open("w", encoding="utf-8") as f:
                    if fmt is Format.hocr:
                        write_hocr(pages, f, title=path.name)
                    else:
                        for page in pages:
                            _emit(page.to_dict(), fmt, f)
                partial.replace(target)  # a file in --out is always complete
            except ScanragError as exc:
                if not isinstance(exc, BadInput):
                    internal += 1
                failed += 1
                fail_line(path, exc)
            except Exception as exc:  # a bug must not stop the other files
                internal += 1
                failed += 1
                log.exception("ocr failed", extra={"document": str(path)})
                fail_line(path, ScanragError(f"internal error: {exc}"))
    if internal:
        raise typer.Exit(EXIT_INTERNAL)
    raise typer.Exit(EXIT_BAD_INPUT if failed else EXIT_OK)


def _emit(page: dict[str, object], fmt: Format, stream: TextIO) -> None:
    if fmt is Format.text:
        stream.write(str(page["text"]) + "\n\f\n")  # a form feed ends each page
    else:
        stream.write(json.dumps(page, ensure_ascii=False) + "\n")
    stream.flush()


app.command()(ingest_cmd.ingest)
app.command()(search_cmd.search)
app.command()(documents_cmd.documents)
app.command()(documents_cmd.show)
app.command()(reindex_cmd.reindex)
app.command()(service_cmd.serve)
app.command()(service_cmd.worker)
app.command()(service_cmd.up)
app.add_typer(service_cmd.keys_app, name="keys")

if __name__ == "__main__":  # pragma: no cover
    app()
