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
import sys

from services.intake.apikeys import KEYS
from services.intake.config import IntakeStoreSettings
from shared.credentials import command_main, command_parser, dispatch
from shared.db import make_engine, make_sessionmaker
from shared.migrations import prepare_schema
from shared.units import load_units


async def run(args: argparse.Namespace, settings: IntakeStoreSettings | None = None) -> str:
    """Carry out one command; returns what to print on stdout."""
    settings = settings or IntakeStoreSettings()
    engine = make_engine(settings.database_url, settings.db_schema, pool_size=1)
    try:
        await prepare_schema(engine, settings.db_schema, "intake")
        async with make_sessionmaker(engine)() as session, session.begin():
            return await dispatch(KEYS, session, args, load_units())
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = command_parser(
        __doc__, what="counter system", scope_flag="--units", scope_help="comma-separated unit codes it may post for"
    )
    return command_main(parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
