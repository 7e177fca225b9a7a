"""No traffic leaves the machine on a library's own initiative.

The libraries scanrag runs on reach out by themselves unless told not to: onnxruntime's built-in
1DS telemetry client (it tries ``mobile.events.data.microsoft.com``, honouring HTTPS_PROXY,
within a minute of loading a model), Hugging Face hub look-ups and telemetry, and FastAPI's
OpenTelemetry exporters when an ``OTEL_*`` endpoint happens to be in the environment. Each reads
its switch once, at import or start-up, so ``go_offline`` runs before any of them is imported
(by ``models`` and by the API factory). Only webhooks a tenant asked for leave the machine.
"""

from __future__ import annotations

import os

OFFLINE_ENVIRONMENT = {
    "ORT_DISABLE_TELEMETRY": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    "HF_HUB_DISABLE_UPDATE_CHECK": "1",
    "DO_NOT_TRACK": "1",
    "FASTAPI_OTEL_AUTO_CONFIGURE": "false",
    "OTEL_SDK_DISABLED": "true",
}


def go_offline() -> None:
    """Set every library's off switch in this process's environment (children inherit it)."""
    os.environ.update(OFFLINE_ENVIRONMENT)
