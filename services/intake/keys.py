"""Admin commands for counter systems' API keys (in intake's schema, settings INTAKE_*).

    python -m services.intake.keys create --name motcua-h44-100 --units H44.100,H44.101
    python -m services.intake.keys rotate --name motcua-h44-100 [--grace-minutes 60]
    python -m services.intake.keys revoke --name motcua-h44-100 [--key-id 3fa2c1d09b7e]
    python -m services.intake.keys list

create and rotate print the new key once, alone on stdout (so scripts can capture it); nothing
but its sha256 is stored. A key bound to the province root (--units H44) posts for every unit.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import timedelta

from services.intake import apikeys
from services.intake.config import IntakeStoreSettings
from shared.db import make_engine, make_sessionmaker
from shared.migrations import prepare_schema
from shared.units import load_units


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="a new key for a counter system")
    create.add_argument("--name", required=True, help="the counter system, e.g. motcua-h44-100")
    create.add_argument("--units", required=True, help="comma-separated unit codes it may post for")
    create.add_argument("--or-rotate", action="store_true", help="rotate instead if the name has a key")
    rotate = commands.add_parser("rotate", help="a new key; the old ones stop working after the grace")
    rotate.add_argument("--name", required=True)
    rotate.add_argument("--units", help="new unit codes (default: keep them)")
    rotate.add_argument("--grace-minutes", type=float, default=0.0)
    revoke = commands.add_parser("revoke", help="revoke a name's keys now")
    revoke.add_argument("--name", required=True)
    revoke.add_argument("--key-id", help="only this key (as shown by list)")
    commands.add_parser("list", help="every key: name, id, units, created, revoked (never the key)")
    return parser


def _units(text: str | None) -> list[str] | None:
    return [u.strip() for u in text.split(",") if u.strip()] if text else None


async def run(args: argparse.Namespace, settings: IntakeStoreSettings) -> str:
    """Carry out one command; returns what to print on stdout."""
    engine = make_engine(settings.database_url, settings.db_schema, pool_size=1)
    try:
        await prepare_schema(engine, settings.db_schema, "intake")
        async with make_sessionmaker(engine)() as session, session.begin():
            return await _dispatch(session, args)
    finally:
        await engine.dispose()


async def _dispatch(session, args: argparse.Namespace) -> str:
    tree = load_units()
    if args.command == "create":
        units = _units(args.units) or []
        if args.or_rotate and await apikeys.active_keys(session, args.name):
            return await apikeys.rotate_key(session, name=args.name, units=units, tree=tree)
        return await apikeys.create_key(session, name=args.name, units=units, tree=tree)
    if args.command == "rotate":
        grace = timedelta(minutes=args.grace_minutes)
        return await apikeys.rotate_key(session, name=args.name, grace=grace, units=_units(args.units), tree=tree)
    if args.command == "revoke":
        count = await apikeys.revoke_key(session, name=args.name, key_id=args.key_id)
        if count == 0:
            raise apikeys.KeyCommandError(f"{args.name!r} has no active key to revoke")
        return f"revoked {count} key(s) of {args.name}"
    rows = await apikeys.list_keys(session)
    return "\n".join(
        f"{r.name}\t{r.key_id}\t{','.join(r.units)}\t{r.created_at:%Y-%m-%d %H:%M}\t"
        f"{'revoked at ' + format(r.revoked_at, '%Y-%m-%d %H:%M') if r.revoked_at else 'active'}"
        for r in rows
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        output = asyncio.run(run(args, IntakeStoreSettings()))
    except apikeys.KeyCommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.command in ("create", "rotate"):
        print("the key is shown once: give it to the counter system now", file=sys.stderr)
    if output:
        print(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
