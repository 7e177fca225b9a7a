"""Inputs checked before any model loads or anything is stored: a missing file, an empty file,
a text file (whatever its extension) or a damaged document is refused at once, one line each."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from cli.errors import fail_line
from core.errors import BadInput

if TYPE_CHECKING:
    from pipelines.load import LoadParams


def readable_inputs(
    paths: Iterable[Path], params: LoadParams
) -> tuple[list[Path], list[tuple[Path, BadInput]]]:
    """(the files, folders expanded, that can be read; those refused, with why). Each refused
    file gets ``scanrag: PATH: reason [code]`` on stderr: what ``scanrag ocr`` and ``ingest``
    would have found after loading the models, found in milliseconds (the API's upload checks
    the same, api/intake.py)."""
    from pipelines.load import expand_inputs, open_document

    good: list[Path] = []
    refused: list[tuple[Path, BadInput]] = []
    for path in expand_inputs(paths):
        try:
            open_document(path, params)
        except BadInput as exc:
            fail_line(path, exc)
            refused.append((path, exc))
        else:
            good.append(path)
    return good, refused
