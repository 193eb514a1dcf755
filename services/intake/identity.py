"""The applicant's clear identity, encrypted at rest, read only by a named service, every read logged.

Counters post `data.applicant = {"id_number", "name"}`; events, Kafka, logs and every other table
carry only the keyed hash and the mask (pii.py). The clear number and name are kept here, in
one table of their own (applicant_identities), sealed with AES-GCM (authenticated encryption,
`cryptography`): a 96-bit random nonce per row, the dossier code as associated data (a sealed
value copied to another dossier's row does not open), and the id of the key that sealed it.

Keys come from a file (INTAKE_IDENTITY_KEYS_FILE, mode 0600, a secret mount in production):
one `<key id> <64 hex digits>` per line; the last line seals new rows, the others still open
old ones. The national portal's record needs the clear values (SoGiayToChuHoSo, ChuHoSo), so
sync reads them through POST /internal/v1/applicants/read with a service credential; each value
read is written to applicant_access_log (who, when, which dossier, for what). A retention
setting erases the clear values of dossiers closed longer than N months; the rows, hashes and
every count stay. docs/security.md argues the design.

    python -m services.intake.identity rotate           # a new key, then every row re-sealed with it
    python -m services.intake.identity erase-closed     # retention: INTAKE_IDENTITY_RETENTION_MONTHS
    python -m services.intake.identity log [--dossier CODE] [--limit N]   # the access log
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import CursorResult, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake.models import ApplicantAccessLog, ApplicantIdentity

# Events after which nothing more happens to a dossier: the retention clock starts.
CLOSING = {"dossier.result_returned", "dossier.refused", "dossier.stopped", "dossier.withdrawal_requested"}


@dataclass(frozen=True)
class Clear:
    id_number: str
    name: str

    def __repr__(self) -> str:  # never printed in a traceback or a log line
        return "Clear(<hidden>)"


class Keyring:
    def __init__(self, keys: dict[str, bytes], current: str):
        if current not in keys:
            raise ValueError("the current key is not in the keyring")
        self.keys, self.current = keys, current
        # One cipher object per key: building one costs more than sealing a short value.
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}

    @classmethod
    def load(cls, path: str | Path) -> Keyring:
        keys: dict[str, bytes] = {}
        current = None
        for n, line in enumerate(Path(path).read_text().splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                key_id, hex_key = line.split()
                key = bytes.fromhex(hex_key)
            except ValueError:
                raise ValueError(f"{path}:{n}: expected '<key id> <64 hex digits>'") from None
            if len(key) != 32 or not 1 <= len(key_id) <= 32:
                raise ValueError(f"{path}:{n}: a key is 32 bytes (64 hex digits), its id 1-32 characters")
            keys[key_id] = key
            current = key_id
        if current is None:
            raise ValueError(f"{path}: no key")
        return cls(keys, current)

    def seal(self, dossier_code: str, clear: Clear) -> tuple[str, bytes]:
        nonce = os.urandom(12)
        plain = json.dumps([clear.id_number, clear.name], ensure_ascii=False).encode()
        return self.current, nonce + self._ciphers[self.current].encrypt(nonce, plain, dossier_code.encode())

    def open(self, dossier_code: str, key_id: str, sealed: bytes) -> Clear:
        plain = self._ciphers[key_id].decrypt(sealed[:12], sealed[12:], dossier_code.encode())
        number, name = json.loads(plain)
        return Clear(number, name)


def new_key_line(key_id: str | None = None) -> str:
    return f"{key_id or 'k' + datetime.now(UTC).strftime('%Y%m%d%H%M%S')} {secrets.token_hex(32)}"


async def store(session: AsyncSession, keyring: Keyring, clear: dict[str, Clear]) -> None:
    """Seal and keep (or replace: the latest opening event's applicant wins) these identities."""
    if not clear:
        return
    rows = []
    for code, value in sorted(clear.items()):
        key_id, sealed = keyring.seal(code, value)
        rows.append({"dossier_code": code, "key_id": key_id, "sealed": sealed})
    stmt = insert(ApplicantIdentity)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["dossier_code"],
            set_={
                "key_id": stmt.excluded.key_id,
                "sealed": stmt.excluded.sealed,
                "stored_at": func.now(),
                "erased_at": None,
            },
        ),
        rows,
    )


async def mark_closed(session: AsyncSession, closed: dict[str, datetime]) -> None:
    """The retention clock of these dossiers starts (at the latest closing event). One statement
    for the whole batch: a statement per dossier was a fifth of intake's time under load. The
    batch goes in as two bound arrays, so the statement is compiled once (a VALUES list of
    literals was compiled anew for every batch: 8% of intake's CPU)."""
    if not closed:
        return
    codes, ats = zip(*sorted(closed.items()), strict=True)
    await session.execute(_MARK_CLOSED, {"codes": list(codes), "ats": list(ats)})


_MARK_CLOSED = text(
    f"UPDATE {ApplicantIdentity.__tablename__} AS i "
    "SET closed_at = greatest(coalesce(i.closed_at, c.at), c.at) "
    "FROM unnest(CAST(:codes AS text[]), CAST(:ats AS timestamptz[])) AS c(code, at) "
    "WHERE i.dossier_code = c.code"
)


async def read(
    session: AsyncSession, keyring: Keyring, codes: list[str], *, who: str, purpose: str
) -> dict[str, Clear]:
    """The clear identities of these dossiers (those kept and not erased); each read is logged in
    the same transaction, so no value leaves without its log line."""
    rows = await session.execute(
        select(ApplicantIdentity.dossier_code, ApplicantIdentity.key_id, ApplicantIdentity.sealed).where(
            ApplicantIdentity.dossier_code.in_(codes), ApplicantIdentity.sealed.is_not(None)
        )
    )
    found = {code: keyring.open(code, key_id, sealed) for code, key_id, sealed in rows.tuples() if sealed is not None}
    if found:
        await session.execute(
            insert(ApplicantAccessLog),
            [{"who": who, "dossier_code": code, "purpose": purpose} for code in sorted(found)],
        )
    return found


async def reseal(session: AsyncSession, keyring: Keyring, batch: int = 1000) -> int:
    """Re-seal every row not under the current key (after a rotation); the number re-sealed."""
    done = 0
    while True:
        rows = (
            (
                await session.execute(
                    select(ApplicantIdentity.dossier_code, ApplicantIdentity.key_id, ApplicantIdentity.sealed)
                    .where(ApplicantIdentity.key_id != keyring.current, ApplicantIdentity.sealed.is_not(None))
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                )
            )
            .tuples()
            .all()
        )
        if not rows:
            # Erased rows keep no value to re-seal; they are moved to the current key's id.
            await session.execute(
                update(ApplicantIdentity)
                .where(ApplicantIdentity.key_id != keyring.current)
                .values(key_id=keyring.current)
            )
            return done
        for code, key_id, sealed in rows:
            if sealed is None:  # erased meanwhile
                continue
            new_id, new_sealed = keyring.seal(code, keyring.open(code, key_id, sealed))
            await session.execute(
                update(ApplicantIdentity)
                .where(ApplicantIdentity.dossier_code == code)
                .values(key_id=new_id, sealed=new_sealed)
            )
        done += len(rows)


async def erase_closed(session: AsyncSession, months: int, now: datetime | None = None) -> int:
    """Erase the clear values of dossiers closed more than `months` months (of 30 days) ago."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=30 * months)
    result = await session.execute(
        update(ApplicantIdentity)
        .where(ApplicantIdentity.closed_at < cutoff, ApplicantIdentity.sealed.is_not(None))
        .values(sealed=None, erased_at=func.now())
    )
    return cast(CursorResult, result).rowcount


async def access_log(session: AsyncSession, dossier_code: str | None = None, limit: int = 100) -> list[dict]:
    q = (
        select(
            ApplicantAccessLog.at, ApplicantAccessLog.who, ApplicantAccessLog.dossier_code, ApplicantAccessLog.purpose
        )
        .order_by(ApplicantAccessLog.id.desc())
        .limit(limit)
    )
    if dossier_code:
        q = q.where(ApplicantAccessLog.dossier_code == dossier_code)
    return [dict(r._mapping) for r in await session.execute(q)]


async def _command(args: argparse.Namespace) -> dict:
    from services.intake.config import IntakeStoreSettings
    from shared.db import make_engine, make_sessionmaker
    from shared.migrations import prepare_schema

    settings = IntakeStoreSettings()
    engine = make_engine(settings.database_url, settings.db_schema, pool_size=1)
    try:
        await prepare_schema(engine, settings.db_schema, "intake")
        sessionmaker = make_sessionmaker(engine)
        async with sessionmaker() as session, session.begin():
            if args.command == "rotate":
                keyring = Keyring.load(settings.identity_keys_file)
                return {"current_key": keyring.current, "resealed": await reseal(session, keyring)}
            if args.command == "erase-closed":
                months = args.months or settings.identity_retention_months
                return {"erased": await erase_closed(session, months), "months": months}
            return {
                "access_log": [
                    r | {"at": r["at"].isoformat()} for r in await access_log(session, args.dossier, args.limit)
                ]
            }
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    rotate = sub.add_parser("rotate", help="append a new key to the key file and re-seal every row with it")
    rotate.add_argument("--reseal-only", action="store_true", help="re-seal with the file's last key, add none")
    erase = sub.add_parser("erase-closed", help="erase clear values of dossiers closed longer than the retention")
    erase.add_argument("--months", type=int, help="default INTAKE_IDENTITY_RETENTION_MONTHS")
    log = sub.add_parser("log", help="who read which applicant's identity, when, for what")
    log.add_argument("--dossier")
    log.add_argument("--limit", type=int, default=100)
    args = parser.parse_args()
    if args.command == "rotate" and not args.reseal_only:
        from services.intake.config import IntakeStoreSettings

        path = Path(IntakeStoreSettings().identity_keys_file)
        path.write_text(path.read_text() + new_key_line() + "\n")  # the old keys stay until no row needs them
    print(json.dumps(asyncio.run(_command(args)), ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
