"""The ``scanrag`` command."""

from __future__ import annotations

import json
import logging
import os
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO

import typer

# Only what --help needs is imported here: each command imports its own heavy parts (the
# database, the pipelines, the models) when it runs, so `scanrag --help` and a usage error
# answer in a fraction of a second (bench/startup.py).
from cli import documents_cmd, encode_cmd, ingest_cmd, reindex_cmd, search_cmd, service_cmd
from cli.errors import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_OK, fail_line
from core.errors import BadInput, ScanragError, as_error
from core.logging import configure_logging, get_logger
from core.vocab import Device

if TYPE_CHECKING:
    from cli.pdf_out import PdfOutFile
    from pipelines.types import PageResult

log = get_logger("cli")

app = typer.Typer(
    name="scanrag",
    help="Turn scanned documents into searchable knowledge.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # plain Click help: Rich markup read `[mcp]` in "pip install 'scanrag[mcp]'" as a style and
    # dropped it, and drawing the panels cost 0.15 s of every --help and usage error
    rich_markup_mode=None,
)


class Format(str, Enum):
    jsonl = "jsonl"
    text = "text"
    hocr = "hocr"
    markdown = "markdown"
    pdf = "pdf"


@app.callback()
def main(ctx: typer.Context) -> None:
    """scanrag: OCR, layout and retrieval for scanned documents."""
    # (Click has taken the command's arguments out of ctx by now: sys.argv still has them)
    if any(arg in ctx.help_option_names for arg in sys.argv[1:]):
        return  # a command's --help: no settings to read (0.2 s), nothing will log
    from core.config import get_settings

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)


@app.command()
def ocr(
    paths: Annotated[
        list[Path], typer.Argument(metavar="PATH", help="PDF or image files (or folders)")
    ],
    fmt: Annotated[Format, typer.Option("--format", help="output format")] = Format.jsonl,
    dpi: Annotated[int | None, typer.Option(min=50, max=600, help="PDF render dpi")] = None,
    device: Annotated[Device | None, typer.Option(help="where models run")] = None,
    out: Annotated[
        Path | None, typer.Option(help="write one file per input here instead of stdout")
    ] = None,
    reread_text_pages: Annotated[
        bool, typer.Option(help="pdf: lay our text over pages that already hold text too")
    ] = False,
    pdfa: Annotated[
        bool,
        typer.Option(
            "--pdfa", help="pdf: write PDF/A-2b (an input PDF that cannot be one is refused)"
        ),
    ] = False,
) -> None:
    """Read scanned documents: one JSON object per page (jsonl), plain text, hOCR files,
    Markdown (one document after another) or searchable PDFs (the input with an invisible
    text layer; pages already holding text are left alone unless --reread-text-pages;
    --pdfa makes them PDF/A-2b)."""
    from cli.inputs import readable_inputs
    from cli.progress import PageBar
    from core.config import get_settings
    from pipelines.load import expand_inputs
    from pipelines.markdown import document_markdown
    from workers.runtime import Runtime

    if pdfa and fmt is not Format.pdf:
        raise typer.BadParameter("--pdfa goes with --format pdf", param_hint="--pdfa")
    settings = get_settings()
    chosen = {"dpi": dpi, "device": device}
    overrides = {name: value for name, value in chosen.items() if value is not None}
    if overrides:  # the options win over the settings
        settings = settings.model_copy(update={"ocr": settings.ocr.model_copy(update=overrides)})
    # nothing is stored: no database is opened, no folder made
    runtime = Runtime.build(settings, stores=False)
    params = runtime.load
    # a missing, empty or unreadable file is reported before the models load (seconds)
    paths, refused = readable_inputs(paths, params)
    if not paths:
        raise typer.Exit(EXIT_BAD_INPUT)
    try:
        engine = runtime.ocr
        engine.models()
    except ScanragError as exc:
        print(f"scanrag: {exc.message} [{exc.code}]", file=sys.stderr)
        raise typer.Exit(EXIT_INTERNAL) from exc
    if fmt in (Format.hocr, Format.pdf) and out is None:
        out = Path(".")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    failed = internal = 0
    skipped: str | None = None  # a document refused when its output was opened
    writer: _OutFile | PdfOutFile | None = None
    pages: list[PageResult] = []  # Markdown is written a whole document at a time
    with PageBar(enabled=sys.stderr.isatty()) as bar:
        for event in engine.read_paths(expand_inputs(paths), params, progress=bar):
            if event.kind != "opened" and skipped is not None and event.source == skipped:
                continue  # its pages are read all the same; their output has no file
            if event.kind == "opened":
                bar.add_total(event.total or 0)
                pages = []
                skipped = None
                if out is not None and fmt is Format.pdf:
                    from cli.pdf_out import PdfOutFile

                    try:
                        writer = PdfOutFile(out, Path(event.source), reread_text_pages, pdfa)
                    except ScanragError as exc:  # e.g. --pdfa of a PDF that cannot be one
                        writer, skipped = None, event.source
                        failed += 1
                        internal += not isinstance(exc, BadInput)
                        fail_line(Path(event.source), exc)
                elif out is not None:
                    writer = _OutFile(out, Path(event.source), fmt)
            elif event.kind == "page" and event.page is not None:
                if writer is not None:
                    writer.add(event.page)
                elif fmt is Format.markdown:
                    pages.append(event.page)
                else:
                    _emit(event.page.to_dict(), fmt, sys.stdout)
            elif event.kind == "done" and writer is not None:
                writer.commit()
                writer = None
            elif event.kind == "done" and fmt is Format.markdown:
                sys.stdout.write(document_markdown(pages) + "\n")
                sys.stdout.flush()
            elif event.kind == "failed":
                if writer is not None:
                    writer.discard()
                    writer = None
                failed += 1
                if not isinstance(event.error, ScanragError):  # a bug: the other files go on
                    log.error("ocr failed", extra={"document": event.source}, exc_info=event.error)
                error = as_error(event.error or RuntimeError("unknown failure"))
                if not isinstance(error, BadInput):
                    internal += 1
                fail_line(Path(event.source), error)
    if internal:
        raise typer.Exit(EXIT_INTERNAL)
    raise typer.Exit(EXIT_BAD_INPUT if failed or refused else EXIT_OK)


class _OutFile:
    """One input's output file in ``--out``: written as ``.part``, renamed when complete."""

    def __init__(self, out: Path, source: Path, fmt: Format) -> None:
        suffix = {"jsonl": ".jsonl", "text": ".txt", "hocr": ".hocr", "markdown": ".md"}[fmt.value]
        self.target = out / (source.name + suffix)
        self.partial = self.target.with_name(self.target.name + ".part")
        self.fmt = fmt
        self.pages: list[PageResult] = []
        self.file = self.partial.open("w", encoding="utf-8")
        if fmt is Format.hocr:
            from pipelines.hocr import hocr_head

            self.file.write(hocr_head(source.name))

    def add(self, page: PageResult) -> None:
        if self.fmt is Format.hocr:
            from pipelines.hocr import page_hocr

            self.file.write(page_hocr(page))
        elif self.fmt is Format.markdown:
            self.pages.append(page)
        else:
            _emit(page.to_dict(), self.fmt, self.file)

    def commit(self) -> None:
        if self.fmt is Format.hocr:
            from pipelines.hocr import hocr_tail

            self.file.write(hocr_tail())
        elif self.fmt is Format.markdown:
            from pipelines.markdown import document_markdown

            self.file.write(document_markdown(self.pages))
        self.file.close()
        self.partial.replace(self.target)  # a file in --out is always complete

    def discard(self) -> None:
        self.file.close()
        self.partial.unlink(missing_ok=True)


def _emit(page: dict[str, object], fmt: Format, stream: TextIO) -> None:
    if fmt is Format.text:
        stream.write(str(page["text"]) + "\n\f\n")  # a form feed ends each page
    else:
        stream.write(json.dumps(page, ensure_ascii=False) + "\n")
    stream.flush()


app.command()(ingest_cmd.ingest)
app.command()(search_cmd.search)
app.command(name="encode")(encode_cmd.encode_command)
app.add_typer(documents_cmd.documents_app, name="documents")
app.command()(documents_cmd.show)
app.command()(reindex_cmd.reindex)
app.command()(service_cmd.serve)
app.command()(service_cmd.worker)
app.command()(service_cmd.up)
app.add_typer(service_cmd.keys_app, name="keys")


@app.command()
def mcp(
    url: Annotated[
        str, typer.Option(envvar="SCANRAG_API_URL", help="the scanrag service's base URL")
    ] = "http://127.0.0.1:8000",
) -> None:
    """Serve the index to agent clients over MCP (stdio): search, list documents, page text
    or Markdown, and a hit's crop. The API key is read from SCANRAG_API_KEY. Needs the
    mcp extra (pip install 'scanrag[mcp]')."""
    try:
        from api.integrations.mcp_server import serve
    except ImportError as exc:
        print(
            f"scanrag: mcp needs the mcp package: pip install 'scanrag[mcp]' ({exc})"
            " [missing_extra]",
            file=sys.stderr,
        )
        raise typer.Exit(EXIT_INTERNAL) from exc
    # the client's every request at INFO would bury what the server itself logs
    logging.getLogger("httpx").setLevel(logging.WARNING)
    serve(url, os.environ.get("SCANRAG_API_KEY"))


if __name__ == "__main__":  # pragma: no cover
    app()
