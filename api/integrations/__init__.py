"""Adapters that hand a running scanrag service to other software: an MCP server for agent
clients and a LangChain retriever. Each needs its optional extra (``pip install
'scanrag[mcp]'``, ``'scanrag[langchain]'``) and talks to the service through ``api.client``."""
