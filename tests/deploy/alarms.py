"""The metric names the alert rules (deploy/alerts.yml) and the dashboard
(deploy/grafana-dashboard.json) use, read from their PromQL."""

from __future__ import annotations

import json
import re

import yaml

from deploy.launch import ROOT

ALERTS = ROOT / "deploy" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana-dashboard.json"
# Series Prometheus makes itself, not a service.
SYNTHETIC = {"up"}
_PROMQL_WORDS = {
    "sum",
    "max",
    "min",
    "avg",
    "count",
    "by",
    "without",
    "and",
    "or",
    "unless",
    "on",
    "ignoring",
    "rate",
    "irate",
    "increase",
    "max_over_time",
    "min_over_time",
    "avg_over_time",
    "time",
    "histogram_quantile",
    "abs",
    "humanizeDuration",
    "bool",
    "offset",
    "topk",
    "bottomk",
    "delta",
    "deriv",
}


def rules() -> list[dict]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    return [t["expr"] for p in json.loads(DASHBOARD.read_text())["panels"] for t in p["targets"]]


def metric_names(expr: str) -> set[str]:
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # strings
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    expr = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", expr)  # grouping labels
    names = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr))
    return {n for n in names if n not in _PROMQL_WORDS and not re.fullmatch(r"\d+[smhdwy]?", n)}


def named_metrics() -> set[str]:
    """Every metric an alarm or a panel reads, Prometheus' own series left out."""
    names = set()
    for expr in [r["expr"] for r in rules()] + dashboard_exprs():
        names |= metric_names(expr)
    return names - SYNTHETIC


def served(exposition: str) -> set[str]:
    """The metric names in a /metrics page: samples, and declared metrics that have none yet
    (a labelled gauge before its first labels), with a counter's _total."""
    names = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            names |= {name, name + "_total"} if kind == "counter" else {name}
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names
