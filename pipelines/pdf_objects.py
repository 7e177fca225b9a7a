"""Small readers of a PDF's object tree (pikepdf objects), shared by the text layer and PDF/A."""

from __future__ import annotations

from typing import Any


def inherited(page_obj: Any, key: str) -> Any:
    """A page attribute, looked up the /Parent chain as PDF inheritance says."""
    node, depth = page_obj, 0
    while node is not None and depth < 64:  # a /Parent loop in a damaged file ends here
        if key in node:
            return node[key]
        node = node.get("/Parent")
        depth += 1
    return None
