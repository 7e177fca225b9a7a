"""Which tenant a command works on: ``ingest``, ``documents`` and ``search`` share one default,
so what ``ingest`` stored is what the other two show; ``--all-tenants`` shows every tenant's."""

from __future__ import annotations

DEFAULT_TENANT = "default"  # the tenant `scanrag ingest` writes to without --tenant
TENANT_HELP = "the tenant whose documents these are"
ALL_TENANTS_HELP = "every tenant's documents (the API's keys each have a tenant)"


def chosen_tenant(tenant: str, all_tenants: bool) -> str | None:
    """The tenant to filter on, or None for every tenant."""
    return None if all_tenants else tenant
