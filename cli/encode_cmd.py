"""``scanrag encode``: vectors from the index's encoders, the same request and response JSON as
``POST /v1/encode``, without a service."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from cli.errors import EXIT_OK, exit_on_error


def encode_command(
    request: Annotated[
        Path | None,
        typer.Argument(help="a JSON request file; none or '-': the request on stdin"),
    ] = None,
) -> None:
    """Encode texts or images: {"model": "text"|"image", "items": [{"text": ...} |
    {"image": {"data": <base64>, "format": "jpeg"|"png"}}]} in (file or stdin),
    {"model", "name", "dim", "vectors"} out on stdout."""
    from core.config import get_settings
    from pipelines.encode import InvalidRequest, encode, parse_request
    from workers.runtime import Runtime

    settings = get_settings()
    runtime = Runtime.build(settings, stores=False)  # nothing is stored: no database opened
    with exit_on_error():
        try:
            raw = (
                sys.stdin.read()
                if request is None or str(request) == "-"
                else request.read_text(encoding="utf-8")
            )
            body = json.loads(raw)
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidRequest(f"cannot read {request}: {exc}") from exc
        except ValueError as exc:
            raise InvalidRequest(f"the request is not JSON ({exc})") from exc
        parsed = parse_request(body, runtime.images, settings.embed.max_encode_items)
        image = runtime.image_encoder if parsed.model == "image" else None
        text = runtime.embedder if parsed.model == "text" else None
        response = encode(parsed, text, image)
    json.dump(response, sys.stdout)
    sys.stdout.write("\n")
    raise typer.Exit(EXIT_OK)
