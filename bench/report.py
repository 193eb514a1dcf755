"""One table: each figure, its baseline from the same run, the ratio, and the issue's target."""

from __future__ import annotations

import json
from pathlib import Path

MIB = 1024  # KiB per MiB
TARGETS = {
    "end_to_end": 5000.0,
    "freshness_p99": 1.0,
    "memory_mib": 300.0,
    "month_seconds": 600.0,
}


def _row(figure, value, unit, baseline_name="", baseline=None, target="", met=None) -> dict:
    ratio = value / baseline if value is not None and baseline else None
    return {
        "figure": figure,
        "value": value,
        "unit": unit,
        "baseline_name": baseline_name,
        "baseline": baseline,
        "ratio": ratio,
        "target": target,
        "met": met,
    }


def rows(r: dict) -> list[dict]:
    b, intake, e2e = r["baselines"], r["intake"], r["end_to_end"]
    sql_name, sql = max(
        [("SQL COPY", b["sql"]["copy"]["per_second"]), ("SQL executemany", b["sql"]["executemany"]["per_second"])],
        key=lambda x: x[1],
    )
    slowest_name, slowest = min(
        [("raw produce", b["produce"]["per_second"]), ("raw consume", b["consume"]["per_second"]), (sql_name, sql)],
        key=lambda x: x[1],
    )
    rb = r["rebuild"]
    rb_raw = rb.get("raw_consume", {}).get("per_second")
    out = [
        _row("baseline: raw produce (acks=all, idempotent)", b["produce"]["per_second"], "msg/s"),
        _row("baseline: raw consume", b["consume"]["per_second"], "msg/s"),
        _row("baseline: SQL COPY, 1,000-row tx", b["sql"]["copy"]["per_second"], "rows/s"),
        _row("baseline: SQL executemany, 1,000-row tx", b["sql"]["executemany"]["per_second"], "rows/s"),
        _row("intake accepted over HTTP", intake["per_second"], "ev/s", sql_name, sql),
        _row("intake request latency p50 (500/POST)", intake["batch_latency"]["p50"], "s"),
        _row("intake request latency p99 (500/POST)", intake["batch_latency"]["p99"], "s"),
        _row(
            "end to end (first POST → complete)",
            e2e["per_second"],
            "ev/s",
            slowest_name,
            slowest,
            "≥ 5,000 ev/s",
            e2e["per_second"] >= TARGETS["end_to_end"],
        ),
    ]
    if r["mode"] == "month":
        out.append(
            _row(
                f"province-month: {r['dossiers']:,} dossiers, first POST → complete",
                e2e["seconds"],
                "s",
                target="< 10 min",
                met=e2e["seconds"] < TARGETS["month_seconds"],
            )
        )
    if "freshness" in r:
        fresh, raw_lat = r["freshness"]["latency"], b["latency"]
        out += [
            _row(
                f"freshness p50 @ {r['freshness']['target_rate']:.0f} ev/s",
                fresh["p50"],
                "s",
                "raw produce→consume p50",
                raw_lat["p50"],
            ),
            _row(
                f"freshness p99 @ {r['freshness']['target_rate']:.0f} ev/s",
                fresh["p99"],
                "s",
                "raw produce→consume p99",
                raw_lat["p99"],
                "≤ 1 s",
                fresh["p99"] is not None
                and fresh["p99"] <= TARGETS["freshness_p99"]
                and r["freshness"]["never_visible"] == 0,
            ),
        ]
    out.append(
        _row(
            "metrics rebuild from topics",
            rb["per_second"],
            "ev/s",
            "raw consume, same messages",
            rb_raw,
            # Issue 19 withdrew "≥ 50% of raw consume": start-up alone is longer than the raw read
            # at this size. Its targets are --rebuild-year's (seconds per million dossiers).
            "see --rebuild-year",
        )
    )
    if "raw_consume_and_parse" in rb:  # runs measured before this baseline have none
        out.append(
            _row(
                "metrics rebuild (for comparison)",
                rb["per_second"],
                "ev/s",
                "raw consume + JSON parse",
                rb["raw_consume_and_parse"]["per_second"],
            )
        )
    for name, mem in r["memory_kib"].items():
        peak = mem["VmHWM"] / MIB
        idle = r["idle_memory_kib"].get(name, {}).get("VmRSS")
        # The simulators stand in for the national portal and the document system (every record
        # they were sent stays in memory, for the tests to check): not services held to the target.
        double = name.endswith("-simulator")
        out.append(
            _row(
                f"peak RSS {name}" + (" (test double)" if double else ""),
                peak,
                "MiB",
                "RSS when ready" if idle else "",
                idle / MIB if idle else None,
                "" if double else "< 300 MiB",
                None if double else peak < TARGETS["memory_mib"],
            )
        )
    return out


def _fmt(value, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "s":
        return f"{value * 1000:,.0f} ms" if value < 60 else f"{value // 60:.0f} min {value % 60:.0f} s"
    return f"{value:,.0f} {unit}" if value >= 100 else f"{value:,.1f} {unit}"


def table(results: dict) -> str:
    head = f"{'figure':<44} {'value':>14}  {'baseline':<25} {'baseline value':>14} {'ratio':>7}  {'target':<21} met"
    lines = [head, "-" * len(head)]
    for row in results["table"]:
        ratio = "—" if row["ratio"] is None else f"{row['ratio']:.2f}"
        met = "" if row["met"] is None else ("yes" if row["met"] else "NO")
        lines.append(
            f"{row['figure']:<44} {_fmt(row['value'], row['unit']):>14}  {row['baseline_name']:<25} "
            f"{_fmt(row['baseline'], row['unit']):>14} {ratio:>7}  {row['target']:<21} {met}"
        )
    return "\n".join(lines)


def write_json(results: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n")


def details(r: dict) -> str:
    """What the table does not show: where the CPU went, how the runs went."""
    i, e, f, rb = r["intake"], r["end_to_end"], r.get("freshness"), r["rebuild"]
    cpu = lambda c: ", ".join(f"{n} {v:.2f}" for n, v in c["cores_used"].items())  # noqa: E731
    lines = [
        f"events: {r['events']} for {r['dossiers']} dossiers, {r['partitions']} partitions per topic; "
        f"cores busy before the bench started anything: {r['background_cores_busy']} of {r['cpus']}",
        f"intake: {i['events']} events in {i['seconds']} s, {i['concurrency']} clients; cores used: {cpu(i['cpu'])}; "
        f"broker+db+others {i['cpu']['others_cores']:.2f}; machine {i['cpu']['machine_cores_busy']:.2f} of "
        f"{i['cpu']['machine_cores']}",
        f"end to end: {e['seconds']} s to complete ({e['drain_after_intake_seconds']} s after intake's last answer; "
        f"deploy.quiescence first saw it quiet at {e['quiescence_only_seconds']} s); "
        f"cores used: {cpu(e['cpu'])}; broker+db+others {e['cpu']['others_cores']:.2f}; "
        f"machine {e['cpu']['machine_cores_busy']:.2f} of {e['cpu']['machine_cores']}",
    ]
    if e.get("portal"):  # runs measured before this field have none
        lines.append(
            f"portal simulator after end to end: {e['portal']['calls']} calls, verdicts {e['portal']['verdicts']}"
        )
    if e.get("in_flight"):  # runs measured before this field have none
        lines.append(
            "in flight during end to end (peak @ s, last seen @ s; the last to empty limits it): "
            + "; ".join(
                f"{queue} {q['peak']:,} @ {q['peak_at']}, {q['last_seen_at']}" for queue, q in e["in_flight"].items()
            )
        )
    if f:
        lines += [
            f"freshness: {f['events']} events at {f['achieved_rate']:.0f} ev/s achieved ({f['batch']} per POST), "
            f"p50 first fifth {_fmt(f['p50_first_fifth'], 's')}, last fifth {_fmt(f['p50_last_fifth'], 's')}, "
            f"max {_fmt(f['latency']['max'], 's')}, never visible {f['never_visible']}, "
            f"poll interval p50 {_fmt(f['poll_interval_p50'], 's')}",
            "freshness hops (p50 / p99): "
            + "; ".join(f"{name} {_fmt(h['p50'], 's')} / {_fmt(h['p99'], 's')}" for name, h in f["hops"].items()),
        ]
    if cu := r.get("catch_up"):  # runs measured before this phase have none
        lines.append(
            f"sync catch-up failed: {cu['error']}"
            if "error" in cu
            else f"sync catch-up: {cu['messages']} messages in {cu['seconds']} s "
            f"({_fmt(cu['per_second'], 'ev/s')}; portal unreachable, so the consumer alone)"
        )
    lines += [
        f"rebuild failed: {rb['error']}"
        if "error" in rb
        else f"rebuild: {rb['messages']} messages in {rb['seconds']} s "
        f"(start-up to first commit {rb['start_up_seconds']} s; "
        f"{_fmt(rb['per_second_after_first_commit'], 'ev/s')} after it); facts {rb['facts_rebuilt']} rebuilt vs "
        f"{rb['facts_original']} live",
    ]
    return "\n".join(lines)
