"""Progress bars on stderr (tqdm), shown only when stderr is a terminal: pages, documents."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from tqdm import tqdm


class _Bar:
    """A bar that closes when its ``with`` block ends."""

    bar: tqdm | None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.bar is not None:
            self.bar.close()


class PageBar(_Bar):
    """A ProgressReporter that advances a bar by one page per finished page."""

    def __init__(self, enabled: bool) -> None:
        self.bar: tqdm | None = tqdm(total=0, unit="page", disable=not enabled) if enabled else None

    def add_total(self, pages: int) -> None:
        if self.bar is not None:
            self.bar.total = (self.bar.total or 0) + pages
            self.bar.refresh()

    def page_done(self, source: str, page: int, total: int | None) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"{source} p{page}", refresh=False)
            self.bar.update(1)


class DocumentBar(_Bar):
    """A ReindexProgress (workers.reindex) that advances a bar by one document per document
    done; the bar appears once the run knows how many."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: tqdm | None = None

    def add_total(self, documents: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            self.bar = tqdm(total=documents, unit="doc")
        else:
            self.bar.total = (self.bar.total or 0) + documents
            self.bar.refresh()

    def document_done(self, document_id: str) -> None:
        if self.bar is not None:
            self.bar.update(1)
