"""Every metric an alarm or the dashboard reads is one AWS documents for that namespace, with those dimensions and
that statistic, or one the functions provably publish: handlers.models.contract.METRIC_SOURCES, which
tests/integration/test_metrics.py holds to the EMF documents the handlers print. An alarm on a metric nobody
publishes cannot pass."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from handlers.models.contract import (
    METRIC_SOURCES,
    METRIC_UNITS,
    METRICS_NAMESPACE,
    SERVICE_DIMENSION,
    STAGE_NAME,
    Metric,
    service_name,
)
from tests.infra.harness import ProgramRun

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"

SQS_METRICS = (
    "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html"
)
LAMBDA_METRICS = "https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html"
API_METRICS = "https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-metrics-and-dimensions.html"
GAUGE = frozenset({"Average", "Minimum", "Maximum", "Sum", "SampleCount"})
PERCENTILES = frozenset({"p50", "p90", "p95", "p99"})


@dataclass(frozen=True)
class Documented:
    """A metric as AWS documents it: the dimensions it is published with and the statistics that mean something."""

    dimensions: frozenset[str]
    statistics: frozenset[str]
    url: str


# The AWS metrics this stack reads, as their documentation (the URL) describes them.
AWS_METRICS: dict[tuple[str, str], Documented] = {
    # "Approximate" gauges, published every minute per queue (QueueName); Maximum is the one alarms use.
    ("AWS/SQS", "ApproximateNumberOfMessagesVisible"): Documented(frozenset({"QueueName"}), GAUGE, SQS_METRICS),
    ("AWS/SQS", "ApproximateNumberOfMessagesNotVisible"): Documented(frozenset({"QueueName"}), GAUGE, SQS_METRICS),
    ("AWS/SQS", "ApproximateAgeOfOldestMessage"): Documented(frozenset({"QueueName"}), GAUGE, SQS_METRICS),
    # Invocation metrics are binary per invocation: "view these metrics with the Sum statistic".
    ("AWS/Lambda", "Errors"): Documented(frozenset({"FunctionName"}), frozenset({"Sum"}), LAMBDA_METRICS),
    ("AWS/Lambda", "Throttles"): Documented(frozenset({"FunctionName"}), frozenset({"Sum"}), LAMBDA_METRICS),
    ("AWS/Lambda", "Invocations"): Documented(frozenset({"FunctionName"}), frozenset({"Sum"}), LAMBDA_METRICS),
    # A stream event source's: "the age of the last record in the event", in milliseconds, per invocation.
    ("AWS/Lambda", "IteratorAge"): Documented(
        frozenset({"FunctionName"}), frozenset({"Average", "Maximum"}), LAMBDA_METRICS
    ),
    # Duration "supports percentile statistics".
    ("AWS/Lambda", "Duration"): Documented(
        frozenset({"FunctionName"}), frozenset({"Average", "Minimum", "Maximum"}) | PERCENTILES, LAMBDA_METRICS
    ),
    # A REST API's stage: ApiName and Stage. Count is read with SampleCount; the errors with Sum (a count) or
    # Average (a rate).
    ("AWS/ApiGateway", "Count"): Documented(frozenset({"ApiName", "Stage"}), frozenset({"SampleCount"}), API_METRICS),
    ("AWS/ApiGateway", "4XXError"): Documented(
        frozenset({"ApiName", "Stage"}), frozenset({"Sum", "Average"}), API_METRICS
    ),
    ("AWS/ApiGateway", "5XXError"): Documented(
        frozenset({"ApiName", "Stage"}), frozenset({"Sum", "Average"}), API_METRICS
    ),
    ("AWS/ApiGateway", "Latency"): Documented(
        frozenset({"ApiName", "Stage"}), frozenset({"Average", "Maximum"}) | PERCENTILES, API_METRICS
    ),
    ("AWS/ApiGateway", "IntegrationLatency"): Documented(
        frozenset({"ApiName", "Stage"}), frozenset({"Average", "Maximum"}) | PERCENTILES, API_METRICS
    ),
}


@dataclass(frozen=True)
class Read:
    """One metric as an alarm or a dashboard graph reads it."""

    where: str
    namespace: str
    name: str
    dimensions: dict[str, str]
    statistic: str


def unproven(read: Read, run: ProgramRun) -> str | None:
    """Why `read` is neither a documented AWS metric of this stack's resources nor one its functions publish."""
    if read.namespace == METRICS_NAMESPACE:
        sources = {metric.value: functions for metric, functions in METRIC_SOURCES.items()}
        publishers = {service_name(function) for function in sources.get(read.name, ())}
        if not publishers:
            return f"{read.where}: no function publishes {read.name}"
        if set(read.dimensions) != {SERVICE_DIMENSION} or read.dimensions[SERVICE_DIMENSION] not in publishers:
            return f"{read.where}: {read.name} is published with {SERVICE_DIMENSION} in {sorted(publishers)} only"
        if Metric(read.name) in METRIC_UNITS:  # a measure (the digests' lag): its extremes and average mean something
            statistics = {"Maximum", "Minimum", "Average"}
            return None if read.statistic in statistics else f"{read.where}: read {read.name} with {statistics}"
        return None if read.statistic == "Sum" else f"{read.where}: {read.name} is a count, read it with Sum"
    documented = AWS_METRICS.get((read.namespace, read.name))
    if documented is None:
        return f"{read.where}: {read.namespace} {read.name} is not a metric this test knows AWS to publish"
    if set(read.dimensions) != documented.dimensions:
        return f"{read.where}: {read.name} has dimensions {sorted(documented.dimensions)} ({documented.url})"
    if read.statistic not in documented.statistics:
        return f"{read.where}: {read.name} is read with {sorted(documented.statistics)} ({documented.url})"
    ours = _resource_names(run)
    strangers = {value for key, value in read.dimensions.items() if value not in ours.get(key, set())}
    return f"{read.where}: {read.name} of {sorted(strangers)}, not of this stack" if strangers else None


def _resource_names(run: ProgramRun) -> dict[str, set[str]]:
    def names(typ: str) -> set[str]:
        return {inputs["name"] for inputs in run.of_type(typ)}

    return {
        "QueueName": names("aws:sqs/queue:Queue"),
        "FunctionName": names("aws:lambda/function:Function"),
        "ApiName": names("aws:apigateway/restApi:RestApi"),
        "Stage": {STAGE_NAME},
    }


def alarm_reads(run: ProgramRun) -> list[Read]:
    reads = []
    for alarm in run.of_type(ALARM):
        if alarm.get("metricQueries"):
            for query in alarm["metricQueries"]:
                if "metric" in query:
                    metric = query["metric"]
                    reads.append(
                        Read(
                            alarm["name"],
                            metric["namespace"],
                            metric["metricName"],
                            metric["dimensions"],
                            metric["stat"],
                        )
                    )
        else:
            reads.append(
                Read(alarm["name"], alarm["namespace"], alarm["metricName"], alarm["dimensions"], alarm["statistic"])
            )
    return reads


def dashboard_reads(run: ProgramRun) -> list[Read]:
    (dashboard,) = run.of_type(DASHBOARD)
    reads = []
    for widget in json.loads(dashboard["dashboardBody"])["widgets"]:
        for namespace, name, *rest in widget["properties"]["metrics"]:
            *pairs, options = rest
            dimensions = dict(zip(pairs[::2], pairs[1::2], strict=True))
            reads.append(Read(widget["properties"]["title"], namespace, name, dimensions, options["stat"]))
    return reads


@pytest.mark.parametrize("fixture", ["default_run", "tuned_run", "local_run"])
def test_every_alarm_reads_a_documented_or_published_metric(fixture: str, request: pytest.FixtureRequest) -> None:
    run: ProgramRun = request.getfixturevalue(fixture)
    reads = alarm_reads(run)
    assert len(reads) >= 16
    assert [problem for read in reads if (problem := unproven(read, run))] == []


def test_every_dashboard_graph_reads_a_documented_or_published_metric(default_run: ProgramRun) -> None:
    reads = dashboard_reads(default_run)
    assert len(reads) >= 30
    assert [problem for read in reads if (problem := unproven(read, default_run))] == []


def test_the_dashboard_shows_what_an_operator_asks_first(default_run: ProgramRun) -> None:
    shown = {(read.namespace, read.name, *read.dimensions.values()) for read in dashboard_reads(default_run)}
    physical = default_run.physical
    for queue in ("processing", "dlq"):
        for metric in ("ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"):
            assert ("AWS/SQS", metric, physical(queue)) in shown
    for function in ("gateway", "processing", "dlq", "sweeper"):
        for metric in ("Duration", "Errors", "Throttles"):
            assert ("AWS/Lambda", metric, physical(function)) in shown
    assert ("AWS/ApiGateway", "Count", physical("api"), STAGE_NAME) in shown
    for metric, function in (
        ("TasksSucceeded", "processing"),
        ("TaskRetries", "processing"),
        ("TasksDeadLettered", "dlq"),
        ("RecordsFailed", "processing"),
        ("RecordsFailed", "dlq"),
    ):
        assert (METRICS_NAMESPACE, metric, f"tasktrail-{function}") in shown


@pytest.mark.parametrize(
    ("read", "complaint"),
    [
        (Read("made-up", METRICS_NAMESPACE, "TasksVanished", {"service": "tasktrail-dlq"}, "Sum"), "no function"),
        (Read("wrong-fn", METRICS_NAMESPACE, "TasksDeadLettered", {"service": "tasktrail-gateway"}, "Sum"), "only"),
        (Read("no-dim", METRICS_NAMESPACE, "TasksDeadLettered", {}, "Sum"), "only"),
        (Read("stat", METRICS_NAMESPACE, "TasksDeadLettered", {"service": "tasktrail-dlq"}, "Average"), "Sum"),
        (Read("typo", "AWS/SQS", "ApproximateNumberOfMessagesInFlight", {"QueueName": "q"}, "Maximum"), "knows"),
        (Read("dims", "AWS/Lambda", "Errors", {"FunctionName": "f", "Resource": "f"}, "Sum"), "dimensions"),
        (Read("stat", "AWS/Lambda", "Errors", {"FunctionName": "f"}, "Average"), "read with"),
        (Read("other", "AWS/Lambda", "Errors", {"FunctionName": "someone-elses"}, "Sum"), "not of this stack"),
    ],
)
def test_an_alarm_on_a_metric_nobody_publishes_fails(read: Read, complaint: str, default_run: ProgramRun) -> None:
    problem = unproven(read, default_run)
    assert problem is not None and complaint in problem


def test_a_real_alarm_read_passes_the_same_check(default_run: ProgramRun) -> None:
    # The check above is not vacuous: a read the stack does make passes.
    dead = next(read for read in alarm_reads(default_run) if read.name == "TasksDeadLettered")
    assert unproven(dead, default_run) is None
    assert dead.dimensions == {"service": "tasktrail-dlq"}


def _widgets(run: ProgramRun) -> list[dict[str, Any]]:
    (dashboard,) = run.of_type(DASHBOARD)
    widgets: list[dict[str, Any]] = json.loads(dashboard["dashboardBody"])["widgets"]
    return widgets


def test_the_dashboard_is_named_after_the_stack_in_its_region_and_marks_the_age_alarm(tuned_run: ProgramRun) -> None:
    (dashboard,) = tuned_run.of_type(DASHBOARD)
    assert dashboard["dashboardName"] == f"tasktrail-{tuned_run.stack}"
    widgets = _widgets(tuned_run)
    assert {widget["properties"]["region"] for widget in widgets} == {"us-east-1"}
    (age,) = [w for w in widgets if w["properties"]["title"].startswith("Age of the oldest")]
    (line,) = age["properties"]["annotations"]["horizontal"]
    (alarm,) = [a for a in tuned_run.of_type(ALARM) if a["name"].endswith("processing-oldest-message")]
    assert line["value"] == alarm["threshold"]
    # No two graphs on the same spot.
    assert len({(w["x"], w["y"]) for w in widgets}) == len(widgets)
