"""The chaos tests' independent truth, and the comparisons of the system against it.

The reference comes from what the counter simulator generated, never from the system's tables:
each dossier folded (with the pure fold) from its generated events, plus the overdue timer's
deadline event wherever the folded deadline has passed. Then the system must hold exactly that:
processing every generated event, metrics each dossier's fact, the portal simulator each final
status (its history a subsequence of the statuses the dossier really went through), and no record
that a consumer could not apply in the dead-letter topic, read up to its end offsets.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import text

from services.metrics.handlers import _fact
from services.processing.catalog import load_seed
from services.processing.lifecycle import fold
from services.processing.stored import StoredEvent, stored_event
from services.processing.workcalendar import load_calendar
from services.processing.working import in_order
from services.sync.portal.codec import Dialect
from shared.event_types import DossierState
from shared.events import parse_event
from shared.units import load_units


class Truth:
    """What the counter systems sent, and what each dossier must therefore be."""

    def __init__(self, events: list[dict], now: datetime | None = None):
        self.sent = {e["id"]: e for e in events}
        self._catalog = load_seed()
        self._calendar = load_calendar()
        self.now = now or datetime.now(UTC)
        by_dossier: dict[str, list[StoredEvent]] = defaultdict(list)
        for e in map(parse_event, events):
            by_dossier[e.subject].append(stored_event(e.id, e.type, e.time, e.data))
        self.events = {code: self._with_deadlines(code, evs) for code, evs in by_dossier.items()}
        self._refold()

    def _refold(self) -> None:
        self.states: dict[str, DossierState] = {
            code: s for code, evs in self.events.items() if (s := self._fold(code, evs)) is not None
        }

    def _fold(self, code: str, events: list[StoredEvent]) -> DossierState | None:
        return fold(code, events, procedure=self._catalog.get, calendar=self._calendar)

    def _with_deadlines(self, code: str, events: list[StoredEvent]) -> list[StoredEvent]:
        """Add the timer's event (same id as processing's) while the folded deadline has passed."""
        events = list(events)
        for _ in range(5):
            s = self._fold(code, events)
            if s is None or s.deadline_at is None or s.overdue or s.deadline_at > self.now:
                return events
            events.append(
                stored_event(f"{code}:d{int(s.deadline_at.timestamp())}", "dossier.deadline_passed", s.deadline_at, {})
            )
        raise AssertionError(f"{code}: the deadline keeps moving")

    def admit_timer_events(self, rows) -> None:
        """The overdue timer also fires for a dossier whose deadline passed while only part of its
        (past) history had arrived: such an event is due if some prefix of the dossier's events had
        that deadline open and passed. Each one processing holds must be due in that sense (else
        it fails); the due ones join the truth's events."""
        unjustified = []
        for r in rows:
            code = r.dossier_code
            if r.id in {e.id for e in self.events.get(code, [])}:
                continue
            due = code in self.events and r.time in self._passed_deadlines(code)
            if not due or r.id != f"{code}:d{int(r.time.timestamp())}":
                unjustified.append(r.id)
                continue
            self.events[code].append(stored_event(r.id, "dossier.deadline_passed", r.time, {}))
        assert not unjustified, f"{len(unjustified)} timer events no prefix of the history explains: {unjustified[:3]}"
        self._refold()

    def _passed_deadlines(self, code: str) -> set[datetime]:
        ordered, deadlines = in_order(self.events[code]), set()
        for i in range(1, len(ordered) + 1):
            s = self._fold(code, ordered[:i])
            if s is not None and s.deadline_at is not None and s.deadline_at <= self.now:
                deadlines.add(s.deadline_at)
        return deadlines

    def portal_statuses(self, code: str) -> list[int]:
        """The portal statuses (TrangThaiHoSo is the status's code) the dossier went through, event
        by event, in order (no repeats)."""
        ordered, statuses = in_order(self.events[code]), []
        for i in range(1, len(ordered) + 1):
            s = self._fold(code, ordered[:i])
            if s is not None and (not statuses or statuses[-1] != int(s.status)):
                statuses.append(int(s.status))
        return statuses


def acknowledged_all(truth: Truth, acked: dict[str, dict], refused: dict[str, str]) -> None:
    """Every generated (valid) event was acknowledged: a refusal fails, it never shrinks the truth."""
    assert not refused, f"intake refused {len(refused)} valid events, e.g. {list(refused.items())[:3]}"
    missing = set(truth.sent) - set(acked)
    assert not missing, f"{len(missing)} generated events never acknowledged, e.g. {sorted(missing)[:3]}"


async def check_processing(conn, schema: str, truth: Truth) -> None:
    """Processing holds exactly the generated events, and timer events only where due (those join
    the truth, see Truth.admit_timer_events)."""
    rows = (await conn.execute(text(f'SELECT id, dossier_code, time, source FROM "{schema}".dossier_events'))).all()
    truth.admit_timer_events([r for r in rows if r.source == "processing-timer"])
    held = {r.id for r in rows}
    want = {e.id for evs in truth.events.values() for e in evs}
    assert held == want, (
        f"processing lacks {len(want - held)} events (e.g. {sorted(want - held)[:3]}), "
        f"has {len(held - want)} it should not (e.g. {sorted(held - want)[:3]})"
    )


async def check_metrics(conn, schema: str, truth: Truth) -> None:
    rows = {
        r.dossier_code: r._mapping for r in (await conn.execute(text(f'SELECT * FROM "{schema}".dossier_facts'))).all()
    }
    states = truth.states
    assert set(rows) == set(states), (
        f"metrics lacks {len(set(states) - set(rows))} dossiers, has {len(set(rows) - set(states))} extra"
    )
    wrong = []
    for code, state in states.items():
        want = _fact(state)
        have = {k: rows[code][k] for k in want}
        if have != want:
            wrong.append((code, {k: (have[k], want[k]) for k in want if have[k] != want[k]}))
    assert not wrong, f"{len(wrong)} dossiers in metrics differ from the truth: {wrong[:3]}"


async def check_portal(portal_url: str, truth: Truth, *, late_stores: bool = False) -> dict:
    """The portal simulator holds every final status; each history only moves forward along the
    statuses the dossier really went through; nothing was refused as a regression; no dossier
    was in two sync calls at once. With late_stores (the simulator stored calls after their
    caller gave up), only the final statuses are checked: a late store of an older revision is
    the portal's doing, out of any caller's reach, and reconciliation repairs its result."""
    async with httpx.AsyncClient(base_url=portal_url, timeout=30) as client:
        held = (await client.get("/admin/dossiers")).json()
        health = (await client.get("/health")).json()
    national = Dialect(load_units()).national_code  # the portal knows dossiers by their MaHoSo
    by_code = {national(c): c for c in truth.states}
    held = {by_code.get(code, code): d for code, d in held.items()}
    states = truth.states
    missing = set(states) - set(held)
    assert not missing, f"the portal lacks {len(missing)} dossiers, e.g. {sorted(missing)[:3]}"
    assert not set(held) - set(states), f"the portal holds unknown dossiers: {sorted(set(held) - set(states))[:3]}"
    wrong = {c: (held[c]["status"], int(s.status)) for c, s in states.items() if held[c]["status"] != int(s.status)}
    assert not wrong, f"{len(wrong)} final statuses differ at the portal (held, truth): {list(wrong.items())[:5]}"
    if late_stores:
        return health
    out_of_order = {}
    for code in states:
        history, path = held[code]["history"], truth.portal_statuses(code)
        if not _subsequence(history, path):
            out_of_order[code] = (history, path)
    assert not out_of_order, (
        f"{len(out_of_order)} histories went backwards (history, truth): {list(out_of_order.items())[:5]}"
    )
    assert health["regressions"] == 0, f"the portal refused {health['regressions']} impossible changes"
    assert health.get("overlaps", 0) == 0, f"{health['overlaps']} dossiers were in two sync calls at once"
    return health


def _subsequence(items: list[int], of: list[int]) -> bool:
    it = iter(of)
    return all(any(x == y for y in it) for x in items)


async def read_to_end(bootstrap: str, topic: str) -> list[dict]:
    """Every record of a topic, read up to the end offsets taken at the start (every partition)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            (described,) = await admin.describe_topics([topic])
        finally:
            await admin.close()
        partitions = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
        assert partitions, f"no partitions for {topic}: {described}"
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[dict] = []
        while any([await consumer.position(tp) < end for tp, end in ends.items()]):
            batch = await consumer.getmany(timeout_ms=500, max_records=10_000)
            records += [json.loads(r.value) for rs in batch.values() for r in rs]
        return records
    finally:
        await consumer.stop()


def consumer_failures(letters: list[dict]) -> list[dict]:
    """Dead letters from consumers that could not apply a record (illegal transitions are
    anomalies, reported there by design, not failures)."""
    return [d for d in letters if "offset" in d]
