"""Small readers of a PDF's object tree (pikepdf objects), shared by the text layer and PDF/A."""

from __future__ import annotations

from collections.abc import Callable, Iterator
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


def instructions(
    holder: Any,
    resources: Any,
    *,
    skip: Callable[[Any], bool] | None = None,
    depth: int = 0,
) -> Iterator[Any]:
    """The content-stream instructions of ``holder`` (a page or a form XObject) and, in place,
    of the forms it draws (8 deep), read with ``resources``. A stream that does not parse ends
    its own part; a holder whose resources ``skip`` accepts is not read."""
    import pikepdf

    if skip is not None and resources is not None and skip(resources):
        return
    try:
        parsed = pikepdf.parse_content_stream(holder)
    except pikepdf.PdfError:
        return
    for inst in parsed:
        yield inst
        if str(inst.operator) == "Do" and depth < 8 and resources is not None:
            xobjects = resources.get("/XObject")
            name = inst.operands[0] if inst.operands else None
            xobj = xobjects.get(name) if xobjects is not None and name is not None else None
            if xobj is not None and xobj.get("/Subtype") == "/Form":
                inner = xobj.get("/Resources", resources)
                yield from instructions(xobj, inner, skip=skip, depth=depth + 1)


def page_instructions(page: Any, *, skip: Callable[[Any], bool] | None = None) -> Iterator[Any]:
    """``instructions`` of a pikepdf page, with its (inherited) resources."""
    return instructions(page, inherited(page.obj, "/Resources"), skip=skip)
