"""The stack's CloudWatch dashboard: requests, tasks, failed records, both queues' depth and age, and each function's
duration, errors, throttles and invocations, on one page."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from handlers.models.contract import FUNCTIONS, Metric
from infra.monitoring import Monitored, Watched
from infra.naming import dashboard_name, fixed_name_options

# The console's address of a dashboard (the `aws` partition's console).
CONSOLE_URL = "https://{0}.console.aws.amazon.com/cloudwatch/home?region={0}#dashboards/dashboard/{1}"
PERIOD_SECONDS = 60
WIDTH, HEIGHT, COLUMNS = 12, 6, 2


@dataclass(frozen=True)
class PipelineDashboardArgs:
    """What the dashboard shows, and the alarm threshold drawn on the processing queue's age."""

    name_prefix: str
    monitored: Monitored
    oldest_message_threshold: int


@dataclass(frozen=True)
class Widget:
    """One graph: its title and metrics, and horizontal lines (label, value) drawn across it."""

    title: str
    metrics: Sequence[Watched]
    lines: Sequence[tuple[str, float]] = ()


def widgets(args: PipelineDashboardArgs) -> list[Widget]:
    """The dashboard's graphs, in reading order (two per row)."""
    watch = args.monitored
    graphs = [
        Widget(
            "API requests and errors",
            (watch.api("Count", "SampleCount"), watch.api("4XXError"), watch.api("5XXError")),
        ),
        Widget(
            "API latency (ms)",
            (watch.api("Latency", "p50"), watch.api("Latency", "p99"), watch.api("IntegrationLatency", "p99")),
        ),
        Widget(
            "Tasks",
            (
                watch.tasks(Metric.TASKS_RECEIVED, "gateway"),
                watch.tasks(Metric.TASKS_SUCCEEDED, "processing"),
                watch.tasks(Metric.TASK_RETRIES, "processing"),
                watch.tasks(Metric.TASKS_DEAD_LETTERED, "dlq"),
                watch.tasks(Metric.TASKS_REDRIVEN, "gateway"),
                watch.tasks(Metric.TASKS_REENQUEUED, "gateway"),
                watch.tasks(Metric.TASKS_REENQUEUED, "sweeper"),
            ),
        ),
        Widget(
            "Failed records and poison messages",
            (
                watch.tasks(Metric.RECORDS_FAILED, "processing"),
                watch.tasks(Metric.RECORDS_FAILED, "dlq"),
                watch.tasks(Metric.POISON_MESSAGES, "processing"),
                watch.tasks(Metric.POISON_MESSAGES, "dlq"),
            ),
        ),
        Widget(
            "Queue depth (visible, in flight)",
            tuple(
                watch.queue(queue, metric)
                for queue in ("processing", "dlq")
                for metric in ("ApproximateNumberOfMessagesVisible", "ApproximateNumberOfMessagesNotVisible")
            ),
        ),
        Widget(
            "Age of the oldest message (s)",
            (
                watch.queue("processing", "ApproximateAgeOfOldestMessage"),
                watch.queue("dlq", "ApproximateAgeOfOldestMessage"),
            ),
            lines=(("processing-oldest-message alarm", float(args.oldest_message_threshold)),),
        ),
        Widget(
            "Audit trail: events digested, altered, unsigned",
            (
                watch.tasks(Metric.DIGESTED_EVENTS, "digest"),
                watch.tasks(Metric.AUDIT_EVENTS_ALTERED, "digest"),
                watch.tasks(Metric.AUDIT_EVENTS_UNSIGNED, "digest"),
                watch.tasks(Metric.DIGESTS_WRITTEN, "digest"),
            ),
        ),
        Widget(
            "Digest lag (s) and stream iterator age (ms)",
            (
                watch.tasks(Metric.DIGEST_LAG_SECONDS, "digest", statistic="Maximum"),
                watch.function("digest", "IteratorAge", statistic="Maximum"),
            ),
        ),
    ]
    graphs += [
        Widget(
            f"{function} duration (ms)",
            tuple(watch.function(function, "Duration", statistic) for statistic in ("p50", "p99", "Maximum")),
        )
        for function in FUNCTIONS
    ]
    graphs += [
        Widget(f"Function {metric.lower()}", tuple(watch.function(function, metric) for function in FUNCTIONS))
        for metric in ("Errors", "Throttles", "Invocations")
    ]
    return graphs


def _graph(widget: Widget, position: int, region: str) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "title": widget.title,
        "region": region,
        "view": "timeSeries",
        "stacked": False,
        "period": PERIOD_SECONDS,
        "metrics": [
            [
                metric.namespace,
                metric.name,
                *(part for pair in metric.dimensions.items() for part in pair),
                {"stat": metric.statistic, "label": metric.label},
            ]
            for metric in widget.metrics
        ],
    }
    if widget.lines:
        properties["annotations"] = {"horizontal": [{"label": label, "value": value} for label, value in widget.lines]}
    row, column = divmod(position, COLUMNS)
    return {
        "type": "metric",
        "x": column * WIDTH,
        "y": row * HEIGHT,
        "width": WIDTH,
        "height": HEIGHT,
        "properties": properties,
    }


class PipelineDashboard(pulumi.ComponentResource):
    """A CloudWatch dashboard named after the stack; `url` opens it in the console."""

    dashboard: aws.cloudwatch.Dashboard
    url: pulumi.Output[str]

    def __init__(self, name: str, args: PipelineDashboardArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("tasktrail:index:PipelineDashboard", name, None, opts)
        region = args.monitored.region
        body = {"widgets": [_graph(widget, n, region) for n, widget in enumerate(widgets(args))]}
        self.dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=dashboard_name(args.name_prefix),
            # The queue, function and API names inside are Outputs: json_dumps waits for them.
            dashboard_body=pulumi.Output.json_dumps(body),
            opts=fixed_name_options(self),
        )
        self.url = pulumi.Output.format(CONSOLE_URL, region, self.dashboard.dashboard_name)
        self.register_outputs({"url": self.url})
