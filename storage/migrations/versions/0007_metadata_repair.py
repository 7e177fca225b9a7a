"""Document metadata that PostgreSQL and SQLite cannot both store and give back is repaired: a
number that is not finite (1e999 read as infinity, NaN), a string holding a lone surrogate
(``"\\ud800"``) or a NUL, and anything nested deeper than 16 levels become null; a key holding
a lone surrogate or a NUL is dropped; a value that is not a JSON object at all becomes ``{}``.
Uploads accepted them before they were refused (422 ``invalid_metadata``); stored, each made
the tenant's document list and the document answer 500. Rows already fine are not written, so
running it again changes nothing.

The rules are spelled out here, not imported: a migration must do what it did when written.

Revision ID: 0007
Revises: 0006
Create Date: 2027-01-20
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

MAX_DEPTH = 16  # the metadata depth uploads accept (workers.views.MAX_METADATA_DEPTH)
BATCH = 500  # rows read at a time
_BAD_TEXT = re.compile("[\ud800-\udfff\x00]")


def repaired(value: Any, levels: int = MAX_DEPTH) -> Any:
    """``value`` with every value the rules above refuse replaced by None (bad keys dropped)."""
    if isinstance(value, dict | list):
        if levels <= 0:
            return None
        if isinstance(value, list):
            return [repaired(v, levels - 1) for v in value]
        return {
            k: repaired(v, levels - 1)
            for k, v in value.items()
            if isinstance(k, str) and not _BAD_TEXT.search(k)
        }
    if isinstance(value, str):
        return None if _BAD_TEXT.search(value) else value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def repair_text(text: str | None) -> str | None:
    """The JSON text to store instead of ``text``, or None when ``text`` is fine."""
    unreadable: list[str] = []

    def integer(digits: str) -> int | None:
        try:
            return int(digits)
        except ValueError:  # PostgreSQL's numeric holds more digits than Python reads
            unreadable.append(digits)
            return None

    try:
        value = json.loads(text, parse_int=integer) if text is not None else None
    except (ValueError, RecursionError):  # not JSON (or not for Python): nothing usable
        value = None
    fixed = repaired(value) if isinstance(value, dict) else {}
    if isinstance(value, dict) and fixed == value and not unreadable:
        return None  # NaN never equals itself: a row holding one is always rewritten
    return json.dumps(fixed, allow_nan=False)


def upgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    read = sa.text(
        "SELECT id, CAST(metadata AS TEXT) FROM documents WHERE id > :after ORDER BY id LIMIT :n"
    )
    write = sa.text(
        "UPDATE documents SET metadata = CAST(:m AS JSONB) WHERE id = :id"
        if postgres
        else "UPDATE documents SET metadata = :m WHERE id = :id"
    )
    after = ""
    while True:
        rows = bind.execute(read, {"after": after, "n": BATCH}).all()
        if not rows:
            break
        for doc_id, text in rows:
            fixed = repair_text(text)
            if fixed is not None:
                bind.execute(write, {"m": fixed, "id": doc_id})
        after = rows[-1][0]


def downgrade() -> None:
    pass  # the values replaced could not be stored or shown
