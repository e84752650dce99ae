#!/usr/bin/env python3
"""Writes deploy/grafana/dashboards/xhuma.json, the Grafana dashboard for Xhuma's metrics.

The JSON is generated so that every panel follows one layout and one query style; edit this
file and run it (`python3 deploy/grafana/dashboard.py`), never the JSON by hand.
`deploy/validate` fails when the committed JSON differs from what this script writes, and when a
panel queries an `xhuma_*` metric that docs/operations.md does not list.

Histograms (`*_seconds`, `*_bytes`) are read through their `_bucket` series: the services
configure Prometheus histogram buckets for them in metrics-exporter-prometheus.
"""

import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "dashboards" / "xhuma.json"
DS = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"
# SOAP outcomes that mean Xhuma (or an NHS service behind it) failed the caller; the others are
# ok, no_match, partial and the caller's own mistakes (payload, security, envelope, …).
FAILED = 'outcome=~"backend_error|registry_error|timeout|internal|shutting_down"'

_next_id = 0


def _id():
    global _next_id
    _next_id += 1
    return _next_id


def row(title, y):
    return {
        "type": "row",
        "id": _id(),
        "title": title,
        "collapsed": False,
        "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
        "panels": [],
    }


def ts(title, targets, x, y, w=8, h=8, unit="short", description="", stack=False):
    """A time series panel; `targets` is a list of (expr, legend)."""
    return {
        "type": "timeseries",
        "id": _id(),
        "title": title,
        "description": description,
        "datasource": DS,
        "gridPos": {"h": h, "w": w, "x": x, "y": y},
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "custom": {
                    "drawStyle": "line",
                    "lineWidth": 1,
                    "fillOpacity": 10,
                    "showPoints": "never",
                    "stacking": {"mode": "normal" if stack else "none", "group": "A"},
                },
            },
            "overrides": [],
        },
        "options": {
            "legend": {"displayMode": "table", "placement": "bottom", "calcs": ["mean", "max"]},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": DS, "expr": expr, "legendFormat": legend}
            for i, (expr, legend) in enumerate(targets)
        ],
    }


def stat(title, expr, x, y, w=4, h=4, unit="short", description=""):
    return {
        "type": "stat",
        "id": _id(),
        "title": title,
        "description": description,
        "datasource": DS,
        "gridPos": {"h": h, "w": w, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "colorMode": "value", "graphMode": "area"},
        "targets": [{"refId": "A", "datasource": DS, "expr": expr}],
    }


def q(quantile, metric, by):
    by_le = ", ".join([*by, "le"]) if by else "le"
    return f"histogram_quantile({quantile}, sum by ({by_le}) (rate({metric}_bucket[{RATE}])))"


def panels():
    p = []
    y = 0
    # ---- overview
    p.append(row("Overview", y)); y += 1
    p.append(stat("SOAP requests/s", f"sum(rate(xhuma_soap_requests_total[{RATE}]))", 0, y, unit="reqps"))
    p.append(stat("SOAP failure ratio",
                  f"sum(rate(xhuma_soap_requests_total{{{FAILED}}}[{RATE}])) / "
                  f"clamp_min(sum(rate(xhuma_soap_requests_total[{RATE}])), 1e-9)", 4, y, unit="percentunit",
                  description="Requests answered with a backend, registry, timeout or internal failure."))
    p.append(stat("p95 SOAP latency", q(0.95, "xhuma_soap_request_duration_seconds", []), 8, y, unit="s"))
    p.append(stat("Jobs waiting (sds + gpconnect)",
                  'sum(xhuma_queue_depth{queue=~".*\\\\.(sds|gpconnect)$"})', 12, y))
    p.append(stat("Dead-lettered (1h)", 'sum(increase(xhuma_jobs_total{outcome="dead_lettered"}[1h]))', 16, y))
    p.append(stat("Workers up", 'sum(up{job="xhuma-worker"})', 20, y))
    y += 4
    # ---- SOAP
    p.append(row("IHE SOAP transactions (gateway)", y)); y += 1
    p.append(ts("Requests/s by transaction and outcome",
                [(f"sum by (iti, outcome) (rate(xhuma_soap_requests_total[{RATE}]))", "{{iti}} {{outcome}}")],
                0, y, unit="reqps", stack=True))
    p.append(ts("Latency by transaction (p50 / p95 / p99)",
                [(q(0.5, "xhuma_soap_request_duration_seconds", ["iti"]), "p50 {{iti}}"),
                 (q(0.95, "xhuma_soap_request_duration_seconds", ["iti"]), "p95 {{iti}}"),
                 (q(0.99, "xhuma_soap_request_duration_seconds", ["iti"]), "p99 {{iti}}")],
                8, y, unit="s"))
    p.append(ts("Failure ratio by transaction",
                [(f"sum by (iti) (rate(xhuma_soap_requests_total{{{FAILED}}}[{RATE}])) / "
                  f"clamp_min(sum by (iti) (rate(xhuma_soap_requests_total[{RATE}])), 1e-9)", "{{iti}}")],
                16, y, unit="percentunit",
                description="backend_error, registry_error, timeout, internal, shutting_down over all requests."))
    y += 8
    # ---- prefetch and wait
    p.append(row("Prefetch and wait-on-completion", y)); y += 1
    p.append(ts("Prefetch decisions/s (ITI-55)",
                [(f"sum by (outcome) (rate(xhuma_prefetch_total[{RATE}]))", "{{outcome}}")],
                0, y, unit="ops", stack=True,
                description="enqueued, in_flight (another job holds the lease), cached, recently_failed, error"))
    p.append(ts("Waits/s by outcome (ITI-38/39)",
                [(f"sum by (outcome) (rate(xhuma_wait_total[{RATE}]))", "{{outcome}}")],
                8, y, unit="ops", stack=True,
                description="hit (already cached), completed, failed, deadline, on_demand"))
    p.append(ts("Wait time p95 by outcome",
                [(q(0.95, "xhuma_wait_seconds", ["outcome"]), "{{outcome}}")], 16, y, unit="s"))
    y += 8
    # ---- upstream
    p.append(row("NHS services (PDS, SDS, token, GP Connect)", y)); y += 1
    p.append(ts("Upstream calls/s by service and status",
                [(f"sum by (upstream, status) (rate(xhuma_upstream_requests_total[{RATE}]))",
                  "{{upstream}} {{status}}")], 0, y, w=6, unit="reqps"))
    p.append(ts("Upstream errors and retries/s",
                [(f"sum by (upstream) (rate(xhuma_upstream_errors_total[{RATE}]))", "errors {{upstream}}"),
                 (f"sum by (upstream) (rate(xhuma_upstream_retries_total[{RATE}]))", "retries {{upstream}}")],
                6, y, w=6, unit="ops"))
    p.append(ts("Upstream latency p95 by service",
                [(q(0.95, "xhuma_upstream_duration_seconds", ["upstream"]), "{{upstream}}")], 12, y, w=6, unit="s"))
    p.append(ts("GP Connect fetch time",
                [(q(0.5, "xhuma_gpconnect_fetch_seconds", []), "p50"),
                 (q(0.95, "xhuma_gpconnect_fetch_seconds", []), "p95")],
                18, y, w=3, unit="s"))
    p.append(ts("GP Connect bundle bytes",
                [(q(0.5, "xhuma_gpconnect_bundle_bytes", []), "p50"),
                 (q(0.95, "xhuma_gpconnect_bundle_bytes", []), "p95")],
                21, y, w=3, unit="bytes"))
    y += 8
    # ---- workers
    p.append(row("Workers and queues", y)); y += 1
    p.append(ts("Jobs/s by stage and outcome",
                [(f"sum by (stage, outcome) (rate(xhuma_jobs_total[{RATE}]))", "{{stage}} {{outcome}}")],
                0, y, unit="ops",
                description="cached, forwarded (SDS -> GP Connect), already_fresh, retried, dead_lettered"))
    p.append(ts("Job duration p95 by stage",
                [(q(0.95, "xhuma_job_duration_seconds", ["stage"]), "{{stage}}")], 8, y, unit="s"))
    p.append(ts("Queue depth",
                [("max by (queue) (xhuma_queue_depth)", "{{queue}}"),
                 ('sum by (queue) (rabbitmq_detailed_queue_messages_ready{queue=~"xhuma.*"})',
                  "{{queue}} (broker)")],
                16, y, unit="short",
                description="Ready messages per queue, as the services see it and as RabbitMQ reports it "
                            "(the broker's number is what KEDA scales the workers on)."))
    y += 8
    p.append(ts("SDS endpoint cache",
                [(f"sum by (outcome) (rate(xhuma_sds_cache_total[{RATE}]))", "{{outcome}}")], 0, y, unit="ops"))
    p.append(ts("Worker replicas",
                [('count by (job) (up{job="xhuma-worker"} == 1)', "workers up")], 8, y, unit="short"))
    p.append(ts("Retry and dead-letter queues",
                [('max by (queue) (xhuma_queue_depth{queue=~".*\\\\.(dead|.*retry.*)$"})', "{{queue}}")],
                16, y, unit="short"))
    y += 8
    # ---- conversion
    p.append(row("FHIR STU3 -> C-CDA conversion", y)); y += 1
    p.append(ts("Conversion time (p50 / p95 / p99)",
                [(q(0.5, "xhuma_conversion_seconds", []), "p50"),
                 (q(0.95, "xhuma_conversion_seconds", []), "p95"),
                 (q(0.99, "xhuma_conversion_seconds", []), "p99")], 0, y, w=12, unit="s"))
    p.append(ts("C-CDA size (p50 / p95)",
                [(q(0.5, "xhuma_conversion_output_bytes", []), "p50"),
                 (q(0.95, "xhuma_conversion_output_bytes", []), "p95")], 12, y, w=12, unit="bytes"))
    y += 8
    # ---- audit
    p.append(row("Audit", y)); y += 1
    p.append(ts("Audit events published/s (gateway, workers)",
                [(f"sum by (job, outcome) (rate(xhuma_audit_events_total[{RATE}]))", "{{job}} {{outcome}}")],
                0, y, w=6, unit="ops",
                description="published to the audit queue, or dropped (must stay at zero)."))
    p.append(ts("Audit events consumed/s",
                [(f"sum by (outcome) (rate(xhuma_audit_consumed_total[{RATE}]))", "{{outcome}}"),
                 (f"sum(rate(xhuma_audit_store_errors_total[{RATE}]))", "store errors"),
                 (f"sum by (outcome) (rate(xhuma_audit_syslog_total[{RATE}]))", "ATNA syslog {{outcome}}")],
                6, y, w=6, unit="ops",
                description="stored in PostgreSQL, duplicate (redelivered, already stored), dead_lettered."))
    p.append(ts("Audit batch write time",
                [(q(0.5, "xhuma_audit_batch_seconds", []), "p50"),
                 (q(0.95, "xhuma_audit_batch_seconds", []), "p95")], 12, y, w=6, unit="s"))
    p.append(ts("Audit queue depth",
                [('max by (queue) (xhuma_queue_depth{queue=~".*\\\\.audit$"})', "{{queue}}"),
                 ('sum by (queue) (rabbitmq_detailed_queue_messages_ready{queue=~".*\\\\.audit$"})',
                  "{{queue}} (broker)")],
                18, y, w=6, unit="short"))
    return p


def dashboard():
    return {
        "uid": "xhuma-overview",
        "title": "Xhuma",
        "description": "IHE gateway, prefetch pipeline, NHS upstreams, conversion and audit.",
        "tags": ["xhuma", "ihe", "gp-connect"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "graphTooltip": 1,
        "refresh": "30s",
        "time": {"from": "now-3h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {"text": "Prometheus", "value": "prometheus"},
                    "hide": 0,
                }
            ]
        },
        "annotations": {"list": []},
        "links": [],
        "panels": panels(),
    }


def render():
    return json.dumps(dashboard(), indent=2, sort_keys=False) + "\n"


if __name__ == "__main__":
    text = render()
    if len(sys.argv) > 1 and sys.argv[1] == "--check":
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT} is out of date: run python3 deploy/grafana/dashboard.py", file=sys.stderr)
            sys.exit(1)
        sys.exit(0)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(f"wrote {OUT}")
