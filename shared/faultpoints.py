"""Aimed faults for the chaos tests, off unless their environment variables are set.

    FAULT_CRASH_AT=outbox-published   SIGKILL this process at that point, when work is in flight
    FAULT_CRASH_AFTER=3               … the third time the point is reached with work (default 1)
    FAULT_CRASH_MARK=/path/file       first write "<point> <items in flight>" there (the test's proof
                                      that the kill hit the window it aimed at)
    FAULT_DROP_ONE=1                  a consumer skips one record but stores its offset: a loss put
                                      in on purpose, which the chaos tests must catch (and fail on)

Points: outbox-published (the relay published, its delete not committed), consumer-applied (a
batch's effects and offsets written, not committed), portal-answered (sync has the portal's answer,
not yet recorded). A SIGKILL flushes nothing, as a power cut or an OOM kill.
"""

from __future__ import annotations

import os
import signal

_reached: dict[str, int] = {}
_dropped = False


def crash_point(point: str, in_flight: int) -> None:
    if os.environ.get("FAULT_CRASH_AT") != point or in_flight <= 0:
        return
    _reached[point] = _reached.get(point, 0) + 1
    if _reached[point] < int(os.environ.get("FAULT_CRASH_AFTER", "1")):
        return
    if mark := os.environ.get("FAULT_CRASH_MARK"):
        with open(mark, "a") as f:
            f.write(f"{point} {in_flight}\n")
    os.kill(os.getpid(), signal.SIGKILL)


def drop_one() -> bool:
    """True once per process when FAULT_DROP_ONE is set: the caller loses one record."""
    global _dropped
    if _dropped or not os.environ.get("FAULT_DROP_ONE"):
        return False
    _dropped = True
    return True
