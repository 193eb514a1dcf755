"""Sync keeps to the portal's call quota itself: a burst at once, then the rate, in the order the
calls asked; so the simulator, holding the same quota with a larger burst, never answers 429."""

from __future__ import annotations

import asyncio

from services.sync.config import SyncSettings
from services.sync.portal.client import PortalClient
from services.sync.portal.transport import Reply
from shared.ratelimit import Pacer
from simulators.faults import Faults, FaultSettings
from tests.sync.test_retry import Clock


def test_a_burst_goes_at_once_then_one_call_per_interval():
    clock = Clock()
    pacer = Pacer(per_second=10, burst=3, clock=clock)
    assert [round(pacer.reserve(), 3) for _ in range(6)] == [0, 0, 0, 0.1, 0.2, 0.3]
    clock.now += 10.0  # idle for long: the whole burst is back, not more
    assert [round(pacer.reserve(), 3) for _ in range(4)] == [0, 0, 0, 0.1]


def test_paced_calls_stay_within_a_quota_of_the_same_rate_and_a_larger_burst():
    clock = Clock()
    pacer = Pacer(per_second=300, burst=50, clock=clock)
    portal = Faults(FaultSettings(rate_per_second=300, burst=300), clock=clock)
    verdicts, start = [], clock.now
    for _ in range(3000):  # ten seconds of calls asked for all at once, each made at its slot
        clock.now += pacer.reserve()
        verdicts.append(portal.judge())
    assert verdicts.count("limited") == 0 and clock.now - start < 10.0


def arrivals(pacer: Pacer, clock: Clock, calls: int, stall: float) -> list[float]:
    """When paced calls reach the portal if the first are held up for `stall` seconds (sync's
    event loop busy, say) and then leave together."""
    start = clock.now
    return [max(clock.now + pacer.reserve(), start + stall) for _ in range(calls)]


def limited(arrived: list[float], clock: Clock, portal: Faults) -> int:
    count = 0
    for t in arrived:
        clock.now = t
        count += portal.judge() == "limited"
    return count


def test_the_default_burst_leaves_the_simulators_quota_a_margin_for_calls_held_up_on_the_way():
    """Sync's defaults against the simulator's (both our assumption of the portal's quota): a
    drain of 3,000 calls asked at once, the first held up for 150 ms, is never refused; with the
    same burst as the portal's, the calls held up beyond the burst are."""
    defaults = SyncSettings.model_fields
    rate, burst = defaults["portal_calls_per_second"].default, defaults["portal_calls_burst"].default
    assert FaultSettings().rate_per_second == rate and burst < FaultSettings().burst

    clock = Clock()
    at = arrivals(Pacer(rate, burst, clock=clock), clock, 3000, stall=0.15)
    assert limited(at, clock, Faults(FaultSettings(), clock=clock)) == 0

    clock = Clock()
    at = arrivals(Pacer(rate, FaultSettings().burst, clock=clock), clock, 3000, stall=0.15)
    assert limited(at, clock, Faults(FaultSettings(), clock=clock)) > 0


class Recorder:
    """A transport answering success at once and noting the (fake) time of each call."""

    def __init__(self, clock: Clock) -> None:
        self.clock, self.at = clock, []

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> Reply:
        self.at.append(self.clock.now)
        answer = b'{"error_code": "0", "message": "", "session": "s"}'
        return Reply(200, {"content-type": "application/json"}, answer)


async def test_the_portal_client_waits_for_each_calls_slot(monkeypatch):
    clock = Clock()
    start = clock.now

    async def sleep(seconds: float) -> None:  # the fake clock moves instead of the test waiting
        clock.now += seconds

    monkeypatch.setattr(asyncio, "sleep", sleep)
    transport = Recorder(clock)
    client = PortalClient(
        transport, username="u", password="p", dstcode="d", madonvi="m", quota=Pacer(10, 2, clock=clock)
    )
    for _ in range(4):
        await client.send_progress([])
    # The login and the first call at once (the burst), then one every 0.1 s.
    assert [round(t - start, 3) for t in transport.at] == [0, 0, 0.1, 0.2, 0.3]
