"""Hashed credentials bound to unit codes: counter systems' API keys (intake), document systems'
push credentials (sync), reader tokens. One way to create, rotate, revoke, list and check them.

A credential reads `<prefix>.<key_id>.<secret>`: the key id is public (it names the row), the
secret is 256 random bits. Only sha256(credential) is stored: with that much entropy a fast hash is
enough (nobody can brute-force it) and a stolen table yields no usable credential. Each
credential is bound to unit codes (an organ id in edXML is a unit code); a unit covers every unit
below it in the unit tree, so one bound to the province root (H44) covers every unit.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import secrets
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, cast

from fastapi import HTTPException, Request
from sqlalchemy import ColumnElement, CursorResult, DateTime, String, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from shared.ratelimit import RateLimiter, client_ip
from shared.units import UnitTree


class CredentialCommandError(ValueError):
    """An admin command that cannot be carried out (unknown unit, name taken or unknown)."""


class CredentialColumns:
    """The columns every credential table has; the table adds its ARRAY of unit codes."""

    # The credential's public part: finds the row without searching by secret.
    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    key_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Set when revoked or rotated; a time in the future is a rotation's grace period.
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


@dataclass(frozen=True)
class Holder:
    """Who presented the credential: its name and the unit codes it is bound to."""

    name: str
    units: tuple[str, ...]

    def covers(self, unit: str, tree: UnitTree) -> bool:
        """The unit is one of the holder's units or lies below one of them in the unit tree."""
        return covers(self.units, unit, tree)


# Asked once or twice per event, for a handful of distinct (units, unit) pairs: walking the tree
# each time was a tenth of intake's CPU. Units and the tree are immutable values, so caching is safe.
@lru_cache(maxsize=65536)
def covers(units: tuple[str, ...], unit: str, tree: UnitTree) -> bool:
    return any(u in units for u in tree.ancestors_and_self(unit))


def digest(credential: str) -> str:
    return hashlib.sha256(credential.encode()).hexdigest()


@dataclass(frozen=True)
class Credentials:
    """A credential table: `model` has CredentialColumns and an ARRAY column named `scope`."""

    model: type[Any]
    prefix: str
    scope: str = "units"
    # Execution options for every statement, e.g. a schema_translate_map for a table that
    # lives outside the service's own schema (reader tokens).
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def _active(self, now: datetime) -> ColumnElement[bool]:
        return or_(self.model.revoked_at.is_(None), self.model.revoked_at > now)

    async def find(self, session: AsyncSession, credential: str, *, now: datetime | None = None) -> Holder | None:
        """Its holder, or None if it is malformed, unknown, revoked or expired."""
        parts = credential.split(".")
        if len(parts) != 3 or parts[0] != self.prefix or not 1 <= len(parts[1]) <= 32:
            return None
        row = await session.get(self.model, parts[1], execution_options=self.options)
        # Constant-time comparison even though the secret has 256 bits: cheap, and no timing
        # side channel to reason about.
        if row is None or not hmac.compare_digest(row.key_sha256, digest(credential)):
            return None
        if row.revoked_at is not None and row.revoked_at <= (now or datetime.now(UTC)):
            return None
        return Holder(row.name, tuple(getattr(row, self.scope)))

    async def active(self, session: AsyncSession, name: str) -> list[Any]:
        query = select(self.model).where(self.model.name == name, self._active(datetime.now(UTC)))
        return list((await session.execute(query, execution_options=self.options)).scalars())

    async def _issue(self, session: AsyncSession, name: str, units: list[str]) -> str:
        key_id = secrets.token_hex(6)
        credential = f"{self.prefix}.{key_id}.{secrets.token_urlsafe(32)}"
        session.add(self.model(key_id=key_id, name=name, key_sha256=digest(credential), **{self.scope: units}))
        await session.flush()
        return credential

    async def create(self, session: AsyncSession, *, name: str, units: list[str], tree: UnitTree) -> str:
        """A new credential; returns it (shown once, never stored)."""
        if await self.active(session, name):
            raise CredentialCommandError(f"{name!r} already has an active credential: rotate or revoke it")
        return await self._issue(session, name, check_units(units, tree))

    async def rotate(
        self,
        session: AsyncSession,
        *,
        name: str,
        grace: timedelta = timedelta(0),
        units: list[str] | None = None,
        tree: UnitTree,
    ) -> str:
        """A new credential for the name; its current ones stop working after `grace` (now by default)."""
        rows = await self.active(session, name)
        if not rows:
            raise CredentialCommandError(f"{name!r} has no active credential")
        ends = datetime.now(UTC) + grace
        for row in rows:
            row.revoked_at = min(ends, row.revoked_at) if row.revoked_at else ends
        return await self._issue(session, name, check_units(units or list(getattr(rows[-1], self.scope)), tree))

    async def revoke(self, session: AsyncSession, *, name: str, key_id: str | None = None) -> int:
        """Revoke the name's active credentials (or only the one with key_id) now; returns how many."""
        now = datetime.now(UTC)
        stmt = update(self.model).where(self.model.name == name, self._active(now)).values(revoked_at=now)
        if key_id:
            stmt = stmt.where(self.model.key_id == key_id)
        result = cast(CursorResult[Any], await session.execute(stmt, execution_options=self.options))
        return result.rowcount

    async def all(self, session: AsyncSession) -> list[Any]:
        query = select(self.model).order_by(self.model.name, self.model.created_at)
        return list((await session.execute(query, execution_options=self.options)).scalars())


def check_units(units: list[str], tree: UnitTree) -> list[str]:
    unknown = [u for u in units if u not in tree]
    if unknown or not units:
        raise CredentialCommandError(f"unknown unit codes: {', '.join(unknown) or '(none given)'}")
    return units


class KnownDigests:
    """Digests of credentials that authenticated lately, in memory, so that a valid credential
    gets past a per-address limit on failures (a flood of bad keys from a shared address)
    without the flood reaching the database: only a digest in here skips the limit, and it is
    still looked up (revocation stays immediate). Bounded: the oldest entries go first."""

    def __init__(
        self, ttl_seconds: float = 3600, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic
    ):
        self._ttl, self._max, self._clock = ttl_seconds, max_entries, clock
        self._seen: dict[str, float] = {}

    def __contains__(self, credential: str) -> bool:
        seen = self._seen.get(digest(credential))
        return seen is not None and self._clock() - seen < self._ttl

    def add(self, credential: str) -> None:
        d = digest(credential)
        self._seen.pop(d, None)
        if len(self._seen) >= self._max:
            del self._seen[next(iter(self._seen))]
        self._seen[d] = self._clock()

    def discard(self, credential: str) -> None:
        self._seen.pop(digest(credential), None)


# The admin command every credential table shares: create, rotate, revoke, list.


def command_parser(description: str, *, what: str, scope_flag: str, scope_help: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help=f"a new credential for {what}")
    create.add_argument("--name", required=True, help=f"the {what}'s name")
    create.add_argument(scope_flag, dest="units", required=True, help=scope_help)
    create.add_argument("--or-rotate", action="store_true", help="rotate instead if the name has one")
    rotate = commands.add_parser("rotate", help="a new credential; the old ones stop working after the grace")
    rotate.add_argument("--name", required=True)
    rotate.add_argument(scope_flag, dest="units", help="new codes (default: keep them)")
    rotate.add_argument("--grace-minutes", type=float, default=0.0)
    revoke = commands.add_parser("revoke", help="revoke a name's credentials now")
    revoke.add_argument("--name", required=True)
    revoke.add_argument("--key-id", help="only this one (as shown by list)")
    commands.add_parser("list", help="every credential: name, id, codes, created, revoked (never the secret)")
    return parser


def _codes(text: str | None) -> list[str] | None:
    return [u.strip() for u in text.split(",") if u.strip()] if text else None


async def dispatch(store: Credentials, session: AsyncSession, args: argparse.Namespace, tree: UnitTree) -> str:
    """Carry out one parsed command in the session's transaction; returns what to print."""
    if args.command == "create":
        units = _codes(args.units) or []
        if args.or_rotate and await store.active(session, args.name):
            return await store.rotate(session, name=args.name, units=units, tree=tree)
        return await store.create(session, name=args.name, units=units, tree=tree)
    if args.command == "rotate":
        grace = timedelta(minutes=args.grace_minutes)
        return await store.rotate(session, name=args.name, grace=grace, units=_codes(args.units), tree=tree)
    if args.command == "revoke":
        count = await store.revoke(session, name=args.name, key_id=args.key_id)
        if count == 0:
            raise CredentialCommandError(f"{args.name!r} has no active credential to revoke")
        return f"revoked {count} key(s) of {args.name}"
    return "\n".join(
        f"{r.name}\t{r.key_id}\t{','.join(getattr(r, store.scope))}\t{r.created_at:%Y-%m-%d %H:%M}\t"
        f"{'revoked at ' + format(r.revoked_at, '%Y-%m-%d %H:%M') if r.revoked_at else 'active'}"
        for r in await store.all(session)
    )


def command_main(
    parser: argparse.ArgumentParser,
    run: Callable[[argparse.Namespace], Coroutine[Any, Any, str]],
    argv: list[str] | None = None,
) -> int:
    """Parse, run, print: the new credential alone on stdout (so scripts can capture it)."""
    args = parser.parse_args(argv)
    try:
        output = asyncio.run(run(args))
    except CredentialCommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.command in ("create", "rotate"):
        print("the credential is shown once: hand it over now", file=sys.stderr)
    if output:
        print(output)
    return 0


async def authenticate(
    request: Request,
    presented: str | None,
    store: Credentials,
    *,
    failures: RateLimiter,
    known: KnownDigests,
    headers: dict[str, str],
    what: str,
) -> Holder:
    """The holder of the presented credential: 401 without a valid one, 429 for an address that
    failed too often (no database look-up then, unless the credential authenticated lately).

    `request.app.state.runtime.sessionmaker` reaches the credential table; `failures` is the
    per-address RateLimiter of failed attempts. One answer for malformed, unknown, revoked and
    expired credentials: nothing to probe.
    """
    ip = client_ip(request)
    if not (presented and presented in known) and (wait := failures.wait(ip)):
        raise failures.refuse(wait, "too many failed authentications from this address; retry later")
    holder: Holder | None = None
    if presented and len(presented) <= 200:
        async with request.app.state.runtime.sessionmaker() as session:
            holder = await store.find(session, presented)
    if holder is None or not presented:
        failures.take(ip)
        if not presented:
            raise HTTPException(401, detail=f"a valid {what} is required", headers=headers)
        known.discard(presented)  # revoked or expired since it last worked
        raise HTTPException(401, detail=f"invalid, revoked or expired {what}", headers=headers)
    known.add(presented)
    return holder
