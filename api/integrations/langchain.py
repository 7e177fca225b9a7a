"""A LangChain retriever over a running scanrag service (``pip install 'scanrag[langchain]'``).

    from api.client import ScanragClient
    from api.integrations.langchain import ScanragRetriever

    retriever = ScanragRetriever(client=ScanragClient(url, api_key=key), k=5)
    docs = retriever.invoke("when is the lighthouse lamp replaced")

Each ``Document`` holds the passage text; its metadata carry the document id and filename, page,
bbox (page pixels), kind, section title, score, snippet and the crop URL (absolute), so an
application can cite and show where an answer came from; a passage from a table also carries
the ``cells`` it matched (row, col, bbox each) and the ``table``'s index in its document, and
other passages the ``lines`` that hold the snippet (text, bbox each), the region to cite.
``document_ids`` and ``metadata`` filter as the search API does.
"""

from __future__ import annotations

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from api.client import ScanragClient


class ScanragRetriever(BaseRetriever):
    """Passages from scanrag's hybrid search as LangChain documents."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    client: ScanragClient
    k: int = 5
    document_ids: list[str] | None = None
    metadata: dict[str, str] | None = None

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        hits = self.client.search(
            query, k=self.k, document_ids=self.document_ids, metadata=self.metadata
        )
        return [Document(page_content=h.text, metadata=h.metadata(self.client.url)) for h in hits]
