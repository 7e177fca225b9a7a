"""``scanrag search``: the passages that best match a query, with their page, box and score."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.errors import exit_on_error
from cli.tables import emphasised, print_table
from cli.tenants import ALL_TENANTS_HELP, DEFAULT_TENANT, chosen_tenant

if TYPE_CHECKING:  # the database and the models are imported when a search runs
    from sqlalchemy.orm import Session

    from storage.blobs import BlobStore
    from storage.search import SearchHit


def _read_queries(path: Path) -> list[dict[str, Any]]:
    """The requests of a JSONL file, one ``{"query": ...}`` object a line (blank lines skipped)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc}", param_hint="--queries") from exc
    requests = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            item = None
        if not isinstance(item, dict) or not isinstance(item.get("query"), str):
            raise typer.BadParameter(
                f'{path} line {number} is not a JSON object with a "query" string',
                param_hint="--queries",
            )
        requests.append(item)
    return requests


def write_crop(
    session: Session, blobs: BlobStore, hit: SearchHit, target: Path, bbox: list[float]
) -> Path | None:
    """Save ``bbox`` (the hit's region, or the table cells it cites) of its page image (plus a
    margin) as a PNG at ``target``.

    Returns ``target``, or None when the page has no stored image or the box is empty.
    """
    from storage.image_crops import crop_png

    png = crop_png(session, blobs, document_id=hit.document_id, page=hit.page_number, bbox=bbox)
    if png is None:
        return None
    target.write_bytes(png)
    return target


def search(
    query: Annotated[str | None, typer.Argument(help="what to look for")] = None,
    k: Annotated[int, typer.Option("-k", "--top", min=1, max=1000, help="hits per query")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
    document: Annotated[
        list[str] | None,
        typer.Option("--document", metavar="ID", help="search only this document id (repeat)"),
    ] = None,
    tenant: Annotated[
        str, typer.Option(help="search this tenant's documents (ingest's default too)")
    ] = DEFAULT_TENANT,
    all_tenants: Annotated[bool, typer.Option("--all-tenants", help=ALL_TENANTS_HELP)] = False,
    crops: Annotated[
        Path | None, typer.Option(help="write a PNG of each hit's region of its page here")
    ] = None,
    queries: Annotated[
        Path | None,
        typer.Option(help='a JSONL file of {"query": ...} lines; one result line per query'),
    ] = None,
    image: Annotated[
        Path | None,
        typer.Option(help="a JPEG or PNG: find pages and figures that look like it (image model)"),
    ] = None,
) -> None:
    """Find the passages (and, with an image model, pages and figures) that best match a
    query by its words and meaning, or an image by its look."""
    if query is not None and queries is not None:
        raise typer.BadParameter("give a QUERY or --queries FILE, not both")
    if query is None and queries is None and image is None:
        raise typer.BadParameter("give a QUERY, --queries FILE or --image FILE")
    requests = _read_queries(queries) if queries is not None else [{"query": query}]
    from core.config import get_settings
    from pipelines.encode import open_image
    from workers.runtime import Runtime
    from workers.searching import search as run_search
    from workers.views import crop_bbox, hit_view

    settings = get_settings()
    with exit_on_error():
        # the query side on onnxruntime: a cold search does not wait for torch
        runtime = Runtime.build(settings, stores=False, queries=True)
        picture = None
        if image is not None:
            try:
                raw = image.read_bytes()
            except OSError as exc:
                raise typer.BadParameter(
                    f"cannot read {image}: {exc}", param_hint="--image"
                ) from exc
            picture = open_image(raw, image.suffix.lstrip("."), runtime.images, str(image))
        if any(r["query"] for r in requests):
            _ = runtime.embedder  # a missing model is reported before the database opens
        runtime.open()
        if crops is not None:
            crops.mkdir(parents=True, exist_ok=True)
        with runtime.sessions() as session:
            for number, request in enumerate(requests):
                text = request["query"]
                hits = run_search(
                    runtime,
                    session,
                    query=text,
                    image=picture,
                    k=k,
                    document_ids=document or None,
                    tenant=chosen_tenant(tenant, all_tenants),
                )
                found = [hit_view(hit, text) for hit in hits]
                if crops is not None:
                    prefix = f"q{number:04d}-" if queries is not None else ""
                    for rank, (hit, out) in enumerate(zip(hits, found, strict=True), start=1):
                        name = f"{prefix}{rank:02d}-{hit.document_id[:8]}-p{hit.page_number}.png"
                        target = crops.resolve() / name
                        crop = write_crop(session, runtime.blobs, hit, target, crop_bbox(out))
                        out["crop"] = None if crop is None else str(crop)
                hint = None
                if not found and not as_json:
                    hint = _empty_hint(session, chosen_tenant(tenant, all_tenants))
                _print_hits(request, found, as_json=as_json, many=queries is not None, hint=hint)
    runtime.close()


def _empty_hint(session: Session, tenant: str | None) -> str | None:
    """What to do when nothing is stored (for ``tenant``, or at all): ingest first, or look
    at every tenant's documents; None when documents are there and simply did not match."""
    from storage import repository as repo

    if repo.list_documents(session, tenant=tenant, limit=1):
        return None
    if tenant is not None and repo.list_documents(session, tenant=None, limit=1):
        return f"tenant {tenant!r} has no documents: --tenant NAME or --all-tenants"
    return "nothing is stored yet: `scanrag ingest FILE` first"


def _print_hits(
    request: dict[str, Any],
    hits: list[dict[str, Any]],
    *,
    as_json: bool,
    many: bool,
    hint: str | None = None,
) -> None:
    if as_json:
        # one line per query in --queries mode (extra input fields, like an id, are kept)
        value: Any = {**request, "hits": hits} if many else hits
        print(json.dumps(value, ensure_ascii=False), flush=True)
        return
    if many:
        print(f"query: {request['query']}")
    if not hits:
        print("no results" + ("" if hint is None else f": {hint}"), flush=True)
        return
    rows = [
        (
            rank,
            f"{hit['score']:.4f}",
            hit["document"]["id"],
            hit["page"],
            hit["document"]["filename"],
            # the sentence(s) that matched, the query's words in bold on a terminal; in a
            # table, the cell it cites first
            _cell_prefix(hit)
            + emphasised(hit["snippet"], hit["highlights"], 100, bold=sys.stdout.isatty()),
        )
        for rank, hit in enumerate(hits, start=1)
    ]
    print_table(("rank", "score", "document", "page", "file", "snippet"), rows)


def _cell_prefix(hit: dict[str, Any]) -> str:
    """``[table 2 row 3 col 1: 200 000] `` for a hit citing one table cell, else nothing."""
    cells = hit.get("cells")
    if not cells or len(cells) != 1:
        return ""
    cell = cells[0]
    return f"[table {hit['table']} row {cell['row']} col {cell['col']}: {cell['text']}] "
