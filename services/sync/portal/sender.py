"""Delivering queued payloads to the portal: the record, then its progress steps.

For each chunk the delivery worker claims:
1. the applicant's clear identity is fetched from intake (identity.py) and put into the records
   in memory only;
2. records of dossiers the portal is not known to hold go with isUpdating "False", the others
   with "True"; an "already exists" answer (error_code 3 or -3, P2) sends them again as an
   update, a "not found" answer to an update sends them again as a create;
3. the steps not delivered yet go through CapNhatTienDoHoSoMC in chunks of at most 10 (P2);
   the accepted ones (and the records the portal now holds) are handed back to the delivery
   worker, which writes them (sync_progress_sent, `remember`) in the transaction that records
   the round's outcome, so a step is not sent again.
The portal answers one error_code per call: when a call of several records or steps is
refused, it is split in halves until the refused ones are found (refusals are rare), and those
are parked with the portal's message. A dossier counts as delivered once its record and all its
steps are; a failed call does not stop the round's other calls, and leaves its dossiers to the
worker's backoff (their delivered steps stay delivered).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.sync.models import SyncProgressSent, SyncState
from services.sync.portal.client import Answer, PortalClient, PortalError
from services.sync.portal.codec import Dialect, step_key
from services.sync.portal.identity import Identities, fill_identity
from services.sync.portal.record import ALREADY_EXISTS, IDENTITY_FIELDS, HoSo
from shared.db import BulkInsert, any_of

log = logging.getLogger(__name__)
NOT_FOUND = "4"  # an update of a dossier the portal does not hold (the simulator's code)
PROGRESS_CHUNK = 10  # steps per CapNhatTienDoHoSoMC call (P2)
# The portal accepted a record of this dossier (a row of sync_progress_sent beside the step keys).
HOLDS = "record"
# Records per DongBoHoSoMC call. P2 sends one; `data` is a list and no public source gives a
# maximum. A call quota counts calls, not bytes: 100 of the bench's records are ~200 kB (1,952
# characters on average, 2,682 at most), and its run makes ~265 fewer calls than with 50 (of ~4,740).
RECORD_CHUNK = 100
IN_FLIGHT = 8  # calls in flight at once per delivery round (a round of 500 dossiers makes ~125)


class PortalSender:
    def __init__(
        self, client: PortalClient, sessionmaker: async_sessionmaker, dialect: Dialect, identities: Identities
    ):
        self.client, self._sessionmaker, self.dialect, self._identities = client, sessionmaker, dialect, identities

    async def sync(self, payloads: list[dict], accepted: list[tuple[str, str]]) -> dict[str, str]:
        codes = [p["dossier_code"] for p in payloads]
        # What the portal holds (our database) and the applicants' identities (intake): at once.
        (held, sent), clear = await asyncio.gather(self._known(codes), self._identities.fetch(codes))
        records = {p["dossier_code"]: fill_identity(p["record"], clear.get(p["dossier_code"])) for p in payloads}
        refused: dict[str, str] = {}
        recorded: list[str] = []  # records the portal accepted in this round
        failures: list[PortalError] = []
        failed: set[str] = set()  # dossiers with a call that failed: tried again later
        answered = 0  # calls that succeeded

        async def attempt(codes_in_call: set[str], call: Awaitable[None]) -> None:
            # One failed call does not stop the others: with a share of calls failing, a round
            # that stopped at the first failure would rarely deliver a whole chunk.
            nonlocal answered
            try:
                await call
                answered += 1
            except PortalError as exc:
                failures.append(exc)
                failed.update(codes_in_call)

        in_flight = asyncio.Semaphore(IN_FLIGHT)

        async def send_records(group: list[str], updating: bool) -> None:
            async with in_flight:
                await attempt(set(group), self._records(group, records, updating, refused, recorded))

        # Calls of RECORD_CHUNK records, several in flight: a failed call holds back only its own.
        await asyncio.gather(
            *(
                send_records(group[i : i + RECORD_CHUNK], updating)
                for updating in (False, True)
                for group in [[c for c in codes if (c in held) == updating]]
                for i in range(0, len(group), RECORD_CHUNK)
            )
        )
        steps = [
            (code, step)
            for p in payloads
            if (code := p["dossier_code"]) in recorded
            for step in p["progress"]
            if step_key(step) not in sent.get(code, ())
        ]
        chunks = [steps[i : i + PROGRESS_CHUNK] for i in range(0, len(steps), PROGRESS_CHUNK)]

        delivered: list[tuple[str, dict]] = []

        async def send_steps(chunk: list[tuple[str, dict]]) -> None:
            async with in_flight:
                await attempt({c for c, _ in chunk}, self._steps(chunk, refused, delivered))

        await asyncio.gather(*(send_steps(chunk) for chunk in chunks))
        # What the portal accepted: the records it now holds (next time an update, even if a step
        # failed) and the steps delivered. The worker writes them with the round's outcome, one
        # transaction (a hop fewer per round). A crash before that commit re-sends the round's
        # calls once: a create the portal answers "already exists" (3, -3) is sent again as an
        # update, and the portal keeps a re-sent step once.
        accepted += [(code, HOLDS) for code in recorded]
        accepted += [(code, step_key(step)) for code, step in delivered]
        if failures:
            done = frozenset(c for c in recorded if c not in failed and c not in refused)
            waits = [e.retry_after for e in failures if e.retry_after]
            raise PortalError(
                str(failures[0]), max(waits) if waits else None, taken=done, answered=answered > 0, refused=refused
            )
        return refused

    async def look_up(self, dossier_code: str) -> HoSo | None:
        return await self.client.look_up(self.dialect.national_code(dossier_code))

    async def _known(self, codes: list[str]) -> tuple[set[str], dict[str, set[str]]]:
        """Which dossiers the portal holds (a record was accepted), and their delivered steps."""
        async with self._sessionmaker() as session:
            held = set(
                (
                    await session.execute(select(SyncState.dossier_code).where(any_of(SyncState.dossier_code, codes)))
                ).scalars()
            )
            rows = await session.execute(
                select(SyncProgressSent.dossier_code, SyncProgressSent.step_key).where(
                    any_of(SyncProgressSent.dossier_code, codes)
                )
            )
        sent: dict[str, set[str]] = {}
        for code, key in rows.tuples():
            sent.setdefault(code, set()).add(key)
        return held | {c for c, keys in sent.items() if HOLDS in keys}, sent

    async def _records(
        self,
        codes: list[str],
        records: dict[str, dict],
        updating: bool,
        refused: dict[str, str],
        recorded: list[str],
        switched: bool = False,
    ) -> None:
        answer = await self.client.send_records([records[c] for c in codes], updating=updating)
        if answer.ok:
            recorded.extend(codes)
            return
        wrong_kind = answer.code in ALREADY_EXISTS if not updating else answer.code == NOT_FOUND
        if wrong_kind and len(codes) == 1 and not switched:
            # Our knowledge was stale (a crash between the portal's answer and our commit): the
            # same record as the other kind of call.
            await self._records(codes, records, not updating, refused, recorded, switched=True)
        elif len(codes) > 1:
            await self._split(codes, lambda part: self._records(part, records, updating, refused, recorded))
        else:
            refused[codes[0]] = _reason("DongBoHoSoMC", answer)

    async def _steps(
        self, steps: list[tuple[str, dict]], refused: dict[str, str], delivered: list[tuple[str, dict]]
    ) -> None:
        answer = await self.client.send_progress([step for _, step in steps])
        if answer.ok:
            delivered.extend(steps)
        elif len(steps) > 1:
            await self._split(steps, lambda part: self._steps(part, refused, delivered))
        else:
            refused[steps[0][0]] = _reason("CapNhatTienDoHoSoMC", answer)

    async def remember(self, session: AsyncSession, accepted: list[tuple[str, str]]) -> None:
        """Record durably, in the caller's transaction, what the portal accepted (a record held,
        steps delivered)."""
        if accepted:
            rows = sorted(set(accepted))  # one row each; sorted: concurrent rounds lock in one order
            await REMEMBER.execute(session, [{"dossier_code": code, "step_key": key} for code, key in rows])

    @staticmethod
    async def _split(items: list, send: Callable[[list], Awaitable[None]]) -> None:
        half = len(items) // 2
        await send(items[:half])
        await send(items[half:])


def _reason(service: str, answer: Answer) -> str:
    return f"{service} error_code {answer.code}: {answer.message}"


def portal_differs(found: HoSo | None, held: dict) -> bool:
    """The portal lost the record, or holds another one (the identity fields are not kept by
    sync, so they are not compared)."""
    if found is None:
        return True
    mine = {k: v for k, v in held["record"].items() if k not in IDENTITY_FIELDS}
    theirs = {k: v for k, v in found.model_dump(mode="json").items() if k not in IDENTITY_FIELDS}
    return mine != theirs


# One statement for a round's accepted steps (a row each; already known ones are kept as they are).
REMEMBER = BulkInsert(SyncProgressSent.__table__, ["dossier_code", "step_key"], "ON CONFLICT DO NOTHING")
