"""Reconciliation against a fake portal: missing or different records are queued and re-sent."""

from __future__ import annotations

from datetime import date

import pytest

from services.sync import backlog
from services.sync.portal import PortalError
from services.sync.portal.record import HoSo
from services.sync.reconcile import reconcile, summary
from tests.sync.test_delivery import CODE, FakePortal, drain, queue, sessionmaker, state_record, worker  # noqa: F401

pytestmark = pytest.mark.integration


class LookingUpPortal(FakePortal):
    """Holds whole records, loses some, and fails the first look-up of every dossier."""

    def __init__(self):
        super().__init__()
        self.records: dict[str, HoSo] = {}  # by internal dossier code
        self.looked_up: set[str] = set()

    async def sync(self, records, accepted):
        self.records |= {r["dossier_code"]: HoSo.model_validate(r["record"]) for r in records}
        return await super().sync(records, accepted)

    async def look_up(self, code):
        if code not in self.looked_up:
            self.looked_up.add(code)
            raise PortalError("503 (fake)", retry_after=0.01)
        return self.records.get(code)


async def test_reconcile_requeues_what_the_portal_lost_or_changed(sessionmaker):  # noqa: F811
    portal = LookingUpPortal()
    await queue(sessionmaker, [state_record(n, 1, 10) for n in range(1, 6)])
    w = worker(sessionmaker, portal)
    await drain(w)
    del portal.records[CODE.format(2)]  # the portal lost one
    portal.records[CODE.format(4)] = portal.records[CODE.format(4)].model_copy(update={"TrangThaiHoSo": "4"})
    seen: list[tuple[int, int]] = []
    details: dict[str, list[str]] = {}
    result = await reconcile(
        sessionmaker,
        portal,
        start=date(2026, 8, 1),
        end=date(2026, 8, 31),
        progress=lambda done, total: seen.append((done, total)),
        details=details,
    )
    assert result == {"checked": 5, "differences": 2, "requeued": 2, "unchecked": 0}
    assert seen[-1] == (5, 5) and len(seen) == 5
    assert details == {CODE.format(2): ["(missing)"], CODE.format(4): ["TrangThaiHoSo"]}
    assert summary(details) == {
        "fields_differing": {"(missing)": 1, "TrangThaiHoSo": 1},
        "dossiers_differing": [CODE.format(2), CODE.format(4)],
    }
    async with sessionmaker() as session:
        assert (await backlog.counts(session, min_attempts=8)) == (2, 0)
    portal.sent.clear()
    await drain(w)
    assert sorted(portal.sent) == [CODE.format(2), CODE.format(4)]
    assert portal.records[CODE.format(4)].TrangThaiHoSo == "10"
    outside = await reconcile(sessionmaker, portal, start=date(2026, 9, 1), end=date(2026, 9, 30))
    assert outside == {"checked": 0, "differences": 0, "requeued": 0, "unchecked": 0}
