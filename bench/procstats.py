"""Memory and CPU of processes, read from /proc (Linux)."""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def memory_kib(pid: int) -> dict[str, int]:
    """VmHWM (peak resident set) and VmRSS (current) in KiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmHWM", "VmRSS"):
            out[name] = int(value.split()[0])
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
    return (int(fields[11]) + int(fields[12])) / TICKS


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, all cores."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])
    return (total - idle) / TICKS, total / TICKS


class CpuMeter:
    """CPU used by each named process, and by the machine, between start() and stop()."""

    def __init__(self, pids: dict[str, int]):
        self.pids = pids

    def start(self) -> None:
        self._before = {n: cpu_seconds(p) for n, p in self.pids.items()}
        self._machine = machine_busy()

    def stop(self, wall: float) -> dict:
        used = {n: round(cpu_seconds(p) - self._before[n], 2) for n, p in self.pids.items()}
        busy, total = machine_busy()
        machine_busy_s = busy - self._machine[0]
        return {
            "wall_seconds": round(wall, 2),
            "cores_used": {n: round(s / wall, 2) for n, s in used.items()},
            "machine_cores_busy": round(machine_busy_s / wall, 2),
            "machine_cores": os.cpu_count(),
            # broker, database, and anything else on the machine (other runs included)
            "others_cores": round((machine_busy_s - sum(used.values())) / wall, 2),
        }
