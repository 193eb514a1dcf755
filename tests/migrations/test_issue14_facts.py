"""metrics 0002 on rows from before it: the facts the old columns determine are filled in."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from shared.db import make_engine
from shared.migrations import BASELINE, upgrade_schema
from tests.conftest import DATABASE_URL

pytestmark = pytest.mark.integration
COLUMNS = (
    "dossier_code, revision, unit_code, procedure_code, channel, status, digitized, electronic_result, "
    "reused, personal_store, population_data, has_fee, paid_online, feedback, feedback_on_time, "
    "feedback_satisfied, disliked, proc_has_fee, proc_online_payment, proc_fee_synced, proc_population"
)


@pytest.mark.parametrize(
    "channel,status,proc_has_fee,paid,online_counted,fee_owed",
    [
        (2, 9, True, False, True, True),  # online, processed, owes the fee
        (1, 3, True, False, False, False),  # refused at the counter: never owed it
        (1, 7, True, True, False, True),  # withdrawn after paying online
        (3, 10, False, False, False, False),  # by post, no fee
    ],
)
async def test_old_rows_get_online_counted_and_fee_owed(
    schemas, channel, status, proc_has_fee, paid, online_counted, fee_owed
):
    schema = f"{schemas}metrics"
    engine = make_engine(DATABASE_URL, schema, pool_size=1)
    try:
        await upgrade_schema(engine, schema, "metrics", BASELINE)
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    f"INSERT INTO dossier_facts ({COLUMNS}) VALUES ('H44.100-260801-0001', 3, 'H44.100', '1.001612', "
                    f":channel, :status, false, false, false, false, false, :fee, :paid, 0, 0, 0, false, :fee, false, "
                    f"false, false)"
                ),
                {"channel": channel, "status": status, "fee": proc_has_fee, "paid": paid},
            )
        await upgrade_schema(engine, schema, "metrics")
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text("SELECT online_counted, fee_owed, fee_data, pending_catalog FROM dossier_facts")
                )
            ).one()
    finally:
        await engine.dispose()
    assert tuple(row) == (online_counted, fee_owed, False, False)
