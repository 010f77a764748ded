#!/usr/bin/env python3
"""Checks dashboards/axinova-mcp-server.json against the metric names the server exports.

Fails (exit 1) when the file is not valid JSON, is not schemaVersion 39, lacks the
Prometheus datasource variable, has a panel without a datasource or query, repeats a panel
id, or references a metric name that Sources/Server/ServerMetrics.swift does not declare
(histogram series `_bucket`/`_sum`/`_count` only for families recorded as histograms).
Families the dashboard does not plot are listed as a warning.

    python3 dashboards/check.py [dashboard.json]
"""
import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
DASHBOARD = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "dashboards" / "axinova-mcp-server.json"
METRICS = ROOT / "Sources" / "Server" / "ServerMetrics.swift"
SERVER = ROOT / "Sources" / "Server"


def declared_families():
    """Swift name -> Prometheus name for every `static let x = Self("name", ...)`."""
    text = METRICS.read_text()
    return dict(re.findall(r'static let (\w+) = Self\(\s*"([a-z_:][a-z0-9_:]*)"', text))


def histogram_families(families):
    """Families recorded with `histogram(.x, ...)`, or named `*_duration_seconds` (the
    naming rule for histograms, which holds before the recording code lands)."""
    used = set()
    for path in SERVER.glob("*.swift"):
        used.update(re.findall(r"histogram\(\s*\.(\w+)", path.read_text()))
    return {families[name] for name in used if name in families} | {
        name for name in families.values() if name.endswith("_duration_seconds")}


def unrecorded_families(families):
    """Families no source line other than their declaration refers to (their panels stay empty)."""
    text = "\n".join(p.read_text() for p in (ROOT / "Sources").rglob("*.swift"))
    text = re.sub(r"static let \w+ = Self\(", "", text)
    return sorted(prom for swift, prom in families.items() if not re.search(rf"\.{swift}\b", text))


def exprs(panels):
    for panel in panels:
        yield from exprs(panel.get("panels", []))
        for target in panel.get("targets", []):
            yield panel, target


def main():
    errors = []
    try:
        dashboard = json.loads(DASHBOARD.read_text())
    except (OSError, json.JSONDecodeError) as error:
        print(f"{DASHBOARD}: not valid JSON: {error}")
        return 1

    families = declared_families()
    if not families:
        errors.append(f"no metric families found in {METRICS}")
    names = set(families.values())
    histograms = histogram_families(families)

    if dashboard.get("schemaVersion") != 39:
        errors.append(f"schemaVersion is {dashboard.get('schemaVersion')}, expected 39")
    variables = dashboard.get("templating", {}).get("list", [])
    if not any(v.get("type") == "datasource" and v.get("query") == "prometheus" for v in variables):
        errors.append("no Prometheus datasource variable")

    ids = []
    plotted = set()
    def walk(panels):
        for panel in panels:
            ids.append(panel.get("id"))
            walk(panel.get("panels", []))
            if panel.get("type") == "row":
                continue
            if "${datasource}" not in json.dumps(panel.get("datasource")):
                errors.append(f"panel {panel.get('title')!r} does not use the datasource variable")
            if not panel.get("targets"):
                errors.append(f"panel {panel.get('title')!r} has no query")
    walk(dashboard.get("panels", []))
    if len(ids) != len(set(ids)):
        errors.append("duplicate panel ids")

    queries = [(p.get("title"), t.get("expr", "")) for p, t in exprs(dashboard.get("panels", []))]
    queries += [(f"variable {v.get('name')}", v.get("definition", "")) for v in variables if v.get("type") == "query"]
    for title, expr in queries:
        if not expr.strip():
            errors.append(f"{title!r}: empty expr")
            continue
        for metric in set(re.findall(r"\b(mcp_[a-z0-9_]+)", expr)):
            base = re.sub(r"_(bucket|sum|count)$", "", metric)
            if metric in names:
                plotted.add(metric)
            elif base in histograms:
                plotted.add(base)
            else:
                errors.append(f"{title!r}: unknown metric {metric}")

    for error in errors:
        print("error:", error)
    unplotted = sorted(names - plotted)
    if unplotted:
        print("warning: not plotted:", ", ".join(unplotted))
    unrecorded = unrecorded_families(families)
    if unrecorded:
        print("warning: declared but not recorded anywhere in Sources/:", ", ".join(unrecorded))
    print(f"{len(queries)} queries, {len(plotted)}/{len(names)} metric families plotted, {len(errors)} errors")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
