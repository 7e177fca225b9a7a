"""Tenants and their API keys. Keys are stored as SHA-256 digests; the key itself is shown once."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.tables import ApiKey, Tenant, utcnow

KEY_PREFIX = "sk_"


def hash_key(key: str) -> str:
    """The stored form of an API key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class NewKey:
    """A key just made: the key (shown once), its tenant, and the tenant's webhook secret."""

    key: str
    key_id: str
    tenant: str
    webhook_secret: str


def ensure_tenant(session: Session, *, name: str) -> Tenant:
    """The tenant ``name``, created with a fresh webhook secret when new."""
    tenant = session.get(Tenant, name)
    if tenant is None:
        tenant = Tenant(name=name, webhook_secret=secrets.token_hex(32), created_at=utcnow())
        session.add(tenant)
        session.flush()
    return tenant


def create_key(session: Session, *, tenant: str) -> NewKey:
    """A new API key for ``tenant`` (created if new)."""
    owner = ensure_tenant(session, name=tenant)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(tenant=tenant, key_hash=hash_key(key), prefix=key[:10], created_at=utcnow())
    session.add(row)
    session.flush()
    return NewKey(key=key, key_id=row.id, tenant=tenant, webhook_secret=owner.webhook_secret)


def tenant_of_key(session: Session, *, key: str) -> str | None:
    """The tenant an unrevoked key belongs to, or None."""
    return tenant_of_key_hash(session, key_hash=hash_key(key))


def tenant_of_key_hash(session: Session, *, key_hash: str) -> str | None:
    """The tenant of the unrevoked key with this ``hash_key`` digest, or None."""
    stmt = select(ApiKey.tenant).where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
    return session.scalars(stmt).first()


def revoke_key(session: Session, *, key_id: str) -> bool:
    """Revoke a key by id; True when a live key was revoked."""
    done = session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .returning(ApiKey.id)
    ).first()
    return done is not None


def list_keys(session: Session) -> list[ApiKey]:
    """Every key, newest first (hashes and prefixes only)."""
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at.desc())))


def webhook_secret(session: Session, *, tenant: str) -> str:
    """The tenant's webhook signing secret (the tenant is created when new)."""
    return ensure_tenant(session, name=tenant).webhook_secret
