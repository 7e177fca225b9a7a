"""A LlamaIndex retriever over a running scanrag service (``pip install 'scanrag[llamaindex]'``).

    from api.client import ScanragClient
    from api.integrations.llamaindex import ScanragRetriever

    retriever = ScanragRetriever(ScanragClient(url, api_key=key), k=5)
    nodes = retriever.retrieve("when is the lighthouse lamp replaced")

Each ``NodeWithScore`` holds the passage as a ``TextNode`` (its id names document, page and
rank) with the fused search score; the node's metadata carry the document id and filename,
page, bbox, kind, section title, snippet and crop URL (``Hit.metadata``), and for a passage
from a table the ``cells`` it matched and the ``table``'s index (other passages: the
``lines`` that hold the snippet, text and bbox each). ``document_ids`` and
``metadata`` filter as the search API does.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from api.client import ScanragClient


class ScanragRetriever(BaseRetriever):
    """Passages from scanrag's hybrid search as LlamaIndex nodes."""

    def __init__(
        self,
        client: ScanragClient,
        *,
        k: int = 5,
        document_ids: list[str] | None = None,
        metadata: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.client = client
        self.k = k
        self.document_ids = document_ids
        self.metadata = metadata
        super().__init__(**kwargs)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = self.client.search(
            query_bundle.query_str, k=self.k, document_ids=self.document_ids, metadata=self.metadata
        )
        return [
            NodeWithScore(
                node=TextNode(
                    id_=f"{h.document.id}:p{h.page}:{rank}",
                    text=h.text,
                    metadata=h.metadata(self.client.url),
                ),
                score=h.score,
            )
            for rank, h in enumerate(hits, start=1)
        ]
