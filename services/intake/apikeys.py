"""Counter systems' API keys (`dk.<key_id>.<secret>`): the shared hashed credentials
(shared/credentials.py) on intake's table api_keys, bound to the units a key may post for."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.intake.models import ApiKey
from shared.credentials import CredentialCommandError, Credentials, Holder
from shared.units import UnitTree

KEYS = Credentials(ApiKey, prefix="dk", scope="units")
KeyCommandError = CredentialCommandError
Caller = Holder  # who posts: the key's name and the unit codes it may post for


async def find_caller(session: AsyncSession, key: str, *, now: datetime | None = None) -> Caller | None:
    """The caller this key belongs to, or None if it is malformed, unknown, revoked or expired."""
    return await KEYS.find(session, key, now=now)


async def create_key(session: AsyncSession, *, name: str, units: list[str], tree: UnitTree) -> str:
    """A new key for a counter system; returns the key (shown once, never stored)."""
    return await KEYS.create(session, name=name, units=units, tree=tree)


async def rotate_key(
    session: AsyncSession, *, name: str, grace: timedelta = timedelta(0), units: list[str] | None = None, tree: UnitTree
) -> str:
    """A new key for the name; its current keys stop working after `grace` (now by default)."""
    return await KEYS.rotate(session, name=name, grace=grace, units=units, tree=tree)


async def revoke_key(session: AsyncSession, *, name: str, key_id: str | None = None) -> int:
    """Revoke the name's active keys (or only the one with key_id) now; returns how many."""
    return await KEYS.revoke(session, name=name, key_id=key_id)
