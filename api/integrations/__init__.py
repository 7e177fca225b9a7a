"""Adapters that hand a running scanrag service to other software: an MCP server for agent
clients, LangChain and LlamaIndex retrievers. Each needs its optional extra (``pip install
'scanrag[mcp]'``, ``'scanrag[langchain]'``, ``'scanrag[llamaindex]'``) and talks to the service
through ``api.client``."""
