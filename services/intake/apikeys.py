"""Counter systems' API keys: create, rotate, revoke, list, and find the caller of a request.

A key reads `dk.<key_id>.<secret>`: the key id is public (it names the row), the secret is 256
random bits. Only sha256(key) is stored: with that much entropy a fast hash is enough (nobody can
brute-force it) and a stolen table yields no usable key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake.models import ApiKey
from shared.units import UnitTree

PREFIX = "dk"


class KeyCommandError(ValueError):
    """An admin command that cannot be carried out (unknown unit, name taken or unknown)."""


@dataclass(frozen=True)
class Caller:
    """Who posts: the key's name and the unit codes it may post for."""

    name: str
    units: tuple[str, ...]

    def covers(self, unit: str, tree: UnitTree) -> bool:
        """The unit is one of the key's units or lies below one of them in the unit tree."""
        return _covers(self.units, unit, tree)


# Asked once or twice per event, for a handful of distinct (key, unit) pairs: walking the tree
# each time was a tenth of intake's CPU. Keys and the tree are immutable values, so caching is safe.
@lru_cache(maxsize=65536)
def _covers(units: tuple[str, ...], unit: str, tree: UnitTree) -> bool:
    return any(u in units for u in tree.ancestors_and_self(unit))


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _active(now: datetime):
    return or_(ApiKey.revoked_at.is_(None), ApiKey.revoked_at > now)


async def find_caller(session: AsyncSession, key: str, *, now: datetime | None = None) -> Caller | None:
    """The caller this key belongs to, or None if it is malformed, unknown, revoked or expired."""
    parts = key.split(".")
    if len(parts) != 3 or parts[0] != PREFIX or not 1 <= len(parts[1]) <= 32:
        return None
    row = await session.get(ApiKey, parts[1])
    # Compare digests in constant time even though the secret has 256 bits: cheap, and no
    # timing side channel to reason about.
    if row is None or not hmac.compare_digest(row.key_sha256, _digest(key)):
        return None
    if row.revoked_at is not None and row.revoked_at <= (now or datetime.now(UTC)):
        return None
    return Caller(row.name, tuple(row.units))


async def _issue(session: AsyncSession, name: str, units: list[str]) -> str:
    key_id = secrets.token_hex(6)
    key = f"{PREFIX}.{key_id}.{secrets.token_urlsafe(32)}"
    session.add(ApiKey(key_id=key_id, name=name, key_sha256=_digest(key), units=units))
    await session.flush()
    return key


async def active_keys(session: AsyncSession, name: str) -> list[ApiKey]:
    query = select(ApiKey).where(ApiKey.name == name, _active(datetime.now(UTC)))
    return list((await session.execute(query)).scalars())


def _check_units(units: list[str], tree: UnitTree) -> list[str]:
    unknown = [u for u in units if u not in tree]
    if unknown or not units:
        raise KeyCommandError(f"unknown unit codes: {', '.join(unknown) or '(none given)'}")
    return units


async def create_key(session: AsyncSession, *, name: str, units: list[str], tree: UnitTree) -> str:
    """A new key for a counter system; returns the key (shown once, never stored)."""
    if await active_keys(session, name):
        raise KeyCommandError(f"{name!r} already has an active key: rotate or revoke it")
    return await _issue(session, name, _check_units(units, tree))


async def rotate_key(
    session: AsyncSession, *, name: str, grace: timedelta = timedelta(0), units: list[str] | None = None,
    tree: UnitTree,
) -> str:
    """A new key for the name; its current keys stop working after `grace` (now by default)."""
    rows = await active_keys(session, name)
    if not rows:
        raise KeyCommandError(f"{name!r} has no active key")
    ends = datetime.now(UTC) + grace
    for row in rows:
        row.revoked_at = min(ends, row.revoked_at) if row.revoked_at else ends
    return await _issue(session, name, _check_units(units or list(rows[-1].units), tree))


async def revoke_key(session: AsyncSession, *, name: str, key_id: str | None = None) -> int:
    """Revoke the name's active keys (or only the one with key_id) now; returns how many."""
    now = datetime.now(UTC)
    stmt = update(ApiKey).where(ApiKey.name == name, _active(now)).values(revoked_at=now)
    if key_id:
        stmt = stmt.where(ApiKey.key_id == key_id)
    return (await session.execute(stmt)).rowcount


async def list_keys(session: AsyncSession) -> list[ApiKey]:
    query = select(ApiKey).order_by(ApiKey.name, ApiKey.created_at)
    return list((await session.execute(query)).scalars())
