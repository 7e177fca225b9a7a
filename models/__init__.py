"""The neural networks (OCR detector and recognizer, layout regions, table structure, text
embedder).

Importing this package turns off, for the whole process, every way the libraries the networks
run on reach out on their own (core/offline.py), before any of them is imported.
"""

from __future__ import annotations

from core.offline import go_offline

go_offline()
