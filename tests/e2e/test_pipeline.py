"""The four services as processes on the real broker and database: post known dossiers over
HTTP, read the exact rates back from metrics over HTTP."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest

from deploy.quiescence import wait_until_quiet
from simulators.counter.events import EventFactory
from tests.conftest import KAFKA, publish

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
VN = ZoneInfo("Asia/Ho_Chi_Minh")


def at(day: str, clock: str = "09:00") -> datetime:
    return datetime.fromisoformat(f"{day}T{clock}:00").replace(tzinfo=VN)


def august_dossiers() -> list[dict]:
    """Seven dossiers received in August 2026 and one in July, each with a known verdict.

    Commune H44.100, 1.000894 (5 working days); department H44.07, 2.001035 (3 working days).
    """
    f = EventFactory("motcua-test")
    c, d = "H44.100", "H44.07"
    events = []

    def dossier(code, unit, proc, channel, received, *rest):
        events.append(f.received(code, received, unit=unit, procedure=proc, channel=channel))
        events.extend(rest)

    # D1 online, fully digitized, processed on time.
    dossier(
        "H44.100-260803-0001",
        c,
        "1.000894",
        2,
        at("2026-08-03"),
        f.component("H44.100-260803-0001", at("2026-08-03"), "TP1", digitized=True),
        f.result("H44.100-260803-0001", at("2026-08-05"), electronic=True, digitized=True),
        f.processed("H44.100-260803-0001", at("2026-08-05")),
        f.returned("H44.100-260803-0001", at("2026-08-06")),
    )
    # D2 at the counter, processed late (due Mon 10/8 17:00).
    dossier(
        "H44.100-260803-0002", c, "1.000894", 1, at("2026-08-03"), f.processed("H44.100-260803-0002", at("2026-08-20"))
    )
    # D3 online, components not digitized, on time.
    dossier(
        "H44.100-260804-0001",
        c,
        "1.000894",
        2,
        at("2026-08-04"),
        f.component("H44.100-260804-0001", at("2026-08-04"), "TP1", digitized=False),
        f.result("H44.100-260804-0001", at("2026-08-06"), electronic=False, digitized=True),
        f.processed("H44.100-260804-0001", at("2026-08-06")),
    )
    # D4 department, online, digitized, on time.
    dossier(
        "H44.07-260805-0001",
        d,
        "2.001035",
        2,
        at("2026-08-05"),
        f.component("H44.07-260805-0001", at("2026-08-05"), "TP1", digitized=True),
        f.result("H44.07-260805-0001", at("2026-08-06"), electronic=True, digitized=True),
        f.processed("H44.07-260805-0001", at("2026-08-06")),
    )
    # D5 department, refused the same day: ended in time.
    dossier(
        "H44.07-260805-0002",
        d,
        "2.001035",
        1,
        at("2026-08-05"),
        f.refused("H44.07-260805-0002", at("2026-08-05", "10:00")),
    )
    # D6 by post, two supplementation requests: overdue by rule although processed fast.
    dossier(
        "H44.07-260810-0001",
        d,
        "2.001035",
        3,
        at("2026-08-10"),
        f.supplement_requested("H44.07-260810-0001", at("2026-08-10", "10:00")),
        f.supplement_supplied("H44.07-260810-0001", at("2026-08-10", "11:00")),
        f.supplement_requested("H44.07-260810-0001", at("2026-08-10", "14:00")),
        f.supplement_supplied("H44.07-260810-0001", at("2026-08-10", "15:00")),
        f.processed("H44.07-260810-0001", at("2026-08-11")),
    )
    # D7 still open, due 17/8: judged at the end of August, it is overdue.
    dossier("H44.100-260810-0001", c, "1.000894", 1, at("2026-08-10"))
    # D8 received in July: outside the period.
    dossier(
        "H44.100-260731-0001", c, "1.000894", 2, at("2026-07-31"), f.processed("H44.100-260731-0001", at("2026-08-03"))
    )
    return events


FOUNDATION = ("online_rate", "digitization_rate", "on_time_rate", "sync_rate")


def rates(unit_report: dict) -> dict[str, tuple[int, int]]:
    return {k: (unit_report["rates"][k]["numerator"], unit_report["rates"][k]["denominator"]) for k in FOUNDATION}


async def read_august(client: httpx.AsyncClient, stack) -> dict:
    response = await client.get(stack.url("metrics") + "/v1/indicators", params={"period": "2026-08"})
    assert response.status_code == 200, response.text
    return response.json()


async def test_known_dossiers_give_exact_rates_and_reposts_change_nothing(stack, db, topics, schemas):
    events = august_dossiers()
    async with httpx.AsyncClient(timeout=30, headers={"X-API-Key": stack.api_key}) as client:
        posted = await client.post(stack.url("intake") + "/v1/events/batch", json=events)
        assert posted.status_code == 200, posted.text
        assert posted.json()["accepted"] == len(events)
        await wait_until_quiet(db, KAFKA, topics, schemas)

        report = await read_august(client, stack)
        expected_province = {
            "online_rate": (3, 7),
            "digitization_rate": (2, 7),
            "on_time_rate": (4, 7),
            "sync_rate": (7, 7),
        }
        assert rates(report["unit"]) == expected_province
        children = {u["key"]: u for u in report["children"]}
        assert rates(children["H44.100"]) == {
            "online_rate": (2, 4),
            "digitization_rate": (1, 4),
            "on_time_rate": (2, 4),
            "sync_rate": (4, 4),
        }
        assert rates(children["H44.07"]) == {
            "online_rate": (1, 3),
            "digitization_rate": (1, 3),
            "on_time_rate": (2, 3),
            "sync_rate": (3, 3),
        }
        assert report["unit"]["rates"]["on_time_rate"]["ratio"] == round(4 / 7, 4)
        # Progress group of the 766 index: 20 × 4/7 = 11.43.
        progress = next(g for g in report["unit"]["index"]["groups"] if g["code"] == "TDGQ")
        assert progress["score"] == 11.43

        # The same batch again: every event is a duplicate and nothing changes.
        again = await client.post(stack.url("intake") + "/v1/events/batch", json=events)
        assert again.status_code == 200 and again.json()["duplicates"] == len(events)
        # Redeliveries straight onto the topic (as after a relay crash) are absorbed as well.
        await publish(topics.dossier_events, events)
        await wait_until_quiet(db, KAFKA, topics, schemas)
        again_report = await read_august(client, stack)
        assert again_report["unit"] == report["unit"] and again_report["children"] == report["children"]

        # The portal holds the final status of every dossier.
        portal = (await client.get(stack.url("portal-simulator") + "/health")).json()
        assert portal["dossiers"] == 8


async def test_a_malformed_event_is_named_and_the_rest_of_its_batch_accepted(stack):
    f = EventFactory("motcua-test")
    good = f.received("H44.100-260901-0001", at("2026-09-01"), unit="H44.100", procedure="1.000894", channel=1)
    bad = f.received("H44.100-260901-0002", at("2026-09-01"), unit="H44.100", procedure="1.000894", channel=7)
    unknown_unit = f.received("H44.999-260901-0001", at("2026-09-01"), unit="H44.999", procedure="1.000894", channel=1)
    async with httpx.AsyncClient(timeout=30, headers={"X-API-Key": stack.api_key}) as client:
        response = await client.post(stack.url("intake") + "/v1/events/batch", json=[good, bad, unknown_unit])
        assert response.status_code == 207
        results = response.json()["results"]
        # A unit the list does not know yet is held by processing (pending catalog), not refused.
        assert [r["status"] for r in results] == ["accepted", "rejected", "accepted"]
        assert [e["field"] for e in results[1]["errors"]] == ["data.channel"]

        single = await client.post(stack.url("intake") + "/v1/events", json=bad)
        assert single.status_code == 422
        assert single.json()["detail"][0]["field"] == "data.channel"

        changed = dict(good, data=dict(good["data"], channel=2))  # same id, other content
        conflict = await client.post(stack.url("intake") + "/v1/events", json=changed)
        assert conflict.status_code == 409
