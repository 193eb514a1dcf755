"""Reconciling signing requests: a request the document system does not hold is sent again."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import insert

from services.sync import backlog
from services.sync.documents.models import DocsysRequest
from services.sync.documents.tables import DOCSYS
from services.sync.reconcile import reconcile
from tests.sync.test_delivery import sessionmaker  # noqa: F401  (the fixture)

pytestmark = pytest.mark.integration
CODES = [f"H44.100-260803-000{n}" for n in range(1, 4)]


class FakeDocsys:
    """Holds two of the three requests; the first look-up of each fails once."""

    def __init__(self):
        self.held = {CODES[0]: {"state": "issued"}, CODES[2]: {"state": "assigned"}}
        self.failed_once: set[str] = set()

    async def look_up(self, code):
        from services.sync.portal import PortalError

        if code not in self.failed_once:
            self.failed_once.add(code)
            raise PortalError("500 (fake)", retry_after=0.01)
        return self.held.get(code)


async def test_a_request_the_document_system_lost_is_queued_again(sessionmaker):  # noqa: F811
    sent_at = datetime(2026, 8, 3, 2, tzinfo=UTC)
    async with sessionmaker() as session, session.begin():
        await session.execute(
            insert(DocsysRequest),
            [
                {
                    "dossier_code": c,
                    "revision": 7,
                    "status": 9,
                    "received_at": sent_at,
                    "record": {"unit_code": "H44.100", "dossier_code": c},
                    "state": "assigned",
                }
                for c in CODES
            ],
        )
    result = await reconcile(
        sessionmaker,
        FakeDocsys(),
        start=date(2026, 8, 1),
        end=date(2026, 8, 31),
        tables=DOCSYS,
        differs=lambda found, held: found is None,
    )
    assert result == {"checked": 3, "differences": 1, "requeued": 1, "unchecked": 0}
    async with sessionmaker() as session:
        queued = await backlog.failures(session, min_attempts=0, tables=DOCSYS)
    assert [row["dossier_code"] for row in queued] == [CODES[1]]
