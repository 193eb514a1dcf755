"""The alert rules and the dashboard parse, every alarm says how bad it is and where its runbook
is, and the runbook exists. (That every metric they name is served: tests/deploy/test_persistent.py,
on a running deployment.)"""

from __future__ import annotations

import re

from deploy.launch import ROOT
from tests.deploy.alarms import dashboard_exprs, metric_names, named_metrics, rules

OPERATIONS = (ROOT / "docs" / "operations.md").read_text()


def test_every_alarm_has_a_severity_a_summary_and_a_runbook_section():
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
        for h in re.findall(r"^#+ (.+)$", OPERATIONS, flags=re.M)
    }
    for rule in rules():
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        page, anchor = rule["annotations"]["runbook"].split("#")
        assert page == "docs/operations.md" and anchor in anchors, rule["alert"]


def test_the_issue_s_alarms_are_all_there():
    watched = named_metrics()
    for metric in (
        "consumer_lag_records",
        "sync_oldest_undelivered_seconds",
        "sync_circuit_open",
        "outbox_published_total",
        "consumer_offset_gap_records",
        "certificate_expiry_timestamp_seconds",
    ):
        assert any(metric in metric_names(r["expr"]) for r in rules()), metric
        assert metric in watched
    assert len(dashboard_exprs()) >= 10


def test_metric_names_are_read_from_promql():
    assert metric_names('sum by (service, topic) (rate(foo_total{topic=~"a.b"}[5m])) > 3 * 86400') == {"foo_total"}
    assert metric_names("max_over_time(bar[5m]) == 1 and baz - time() < 7") == {"bar", "baz"}
