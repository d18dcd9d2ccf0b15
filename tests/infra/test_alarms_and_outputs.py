"""Policies on alarms (dead letters and their handling, queue age, failed records, function errors and throttles,
re-sent tasks, the reconciler's lag, 5xx), their thresholds as the settings make them, and the stack outputs. Which
metric each alarm reads is checked against AWS's documentation and the functions' EMF in test_monitoring.py."""

from __future__ import annotations

import logging
import re

import pytest

from infra.settings import ConfigError, max_receive_count_warning
from tests.infra.harness import ACCOUNT, MOCK_PUBLIC_KEY_PEM, PROJECT_DIR, ProgramRun, RecordingMocks, run_program

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
FUNCTIONS = ("gateway", "processing", "dlq", "sweeper", "digest")
SUFFIXES = {
    "dead-letters",
    "dlq-not-drained",
    "processing-oldest-message",
    "processing-failed-records",
    "dlq-failed-records",
    "tasks-reenqueued",
    "reconciler-lag",
    "api-5xx",
    "audit-events-altered",
    "audit-events-unsigned",
    "digest-lag",
    "digest-iterator-age",
    *(f"{function}-{signal}" for function in FUNCTIONS for signal in ("errors", "throttles")),
}
# Published on a schedule: silence is the failure (the digest function, or the sweeper, does not run).
SILENCE_BREACHES = {"digest-lag", "reconciler-lag"}


def _alarms(run: ProgramRun) -> dict[str, dict]:
    """Alarm suffix -> alarm."""
    prefix = run.physical("")
    return {alarm["name"].removeprefix(prefix): alarm for alarm in run.of_type(ALARM)}


def test_an_alarm_for_each_failure_someone_must_hear_about(default_run: ProgramRun) -> None:
    alarms = _alarms(default_run)
    assert set(alarms) == SUFFIXES
    for suffix, alarm in alarms.items():
        assert alarm["comparisonOperator"] == "GreaterThanThreshold"
        assert alarm["treatMissingData"] == ("breaching" if suffix in SILENCE_BREACHES else "notBreaching")
        assert len(alarm["alarmDescription"]) <= 1024


def test_a_dead_letter_alarms_at_once_from_the_metric_the_dlq_function_publishes(default_run: ProgramRun) -> None:
    dead = _alarms(default_run)["dead-letters"]
    assert (dead["namespace"], dead["metricName"], dead["dimensions"]) == (
        "tasktrail",
        "TasksDeadLettered",
        {"service": "tasktrail-dlq"},
    )
    assert (dead["statistic"], dead["threshold"], dead["evaluationPeriods"], dead["period"]) == ("Sum", 0, 1, 60)


def test_an_altered_or_unsigned_event_alarms_at_once_and_a_stalled_digest_within_minutes(
    default_run: ProgramRun,
) -> None:
    alarms = _alarms(default_run)
    for suffix, metric in (
        ("audit-events-altered", "AuditEventsAltered"),
        ("audit-events-unsigned", "AuditEventsUnsigned"),
    ):
        alarm = alarms[suffix]
        assert (alarm["metricName"], alarm["dimensions"]) == (metric, {"service": "tasktrail-digest"})
        assert (alarm["statistic"], alarm["threshold"], alarm["evaluationPeriods"]) == ("Sum", 0, 1)
    lag = alarms["digest-lag"]
    assert (lag["metricName"], lag["statistic"], lag["evaluationPeriods"]) == ("DigestLagSeconds", "Maximum", 3)
    # A period, its grace (the digest function's timeout and 5 s of skew), and two runs of the minute schedule.
    assert lag["threshold"] == 300 + 60 + 5 + 120
    behind = alarms["digest-iterator-age"]
    assert (behind["namespace"], behind["metricName"], behind["statistic"]) == ("AWS/Lambda", "IteratorAge", "Maximum")
    assert behind["dimensions"] == {"FunctionName": default_run.physical("digest")}


@pytest.mark.parametrize(("fixture", "interval"), [("default_run", 300), ("local_run", 60)])
def test_a_reconciler_more_than_a_sweep_behind_or_silent_for_two_sweeps_alarms(
    fixture: str, interval: int, request: pytest.FixtureRequest
) -> None:
    run: ProgramRun = request.getfixturevalue(fixture)
    lag = _alarms(run)["reconciler-lag"]
    assert (lag["namespace"], lag["metricName"], lag["dimensions"]) == (
        "tasktrail",
        "ReconcilerLagSeconds",
        {"service": "tasktrail-sweeper"},
    )
    assert (lag["statistic"], lag["period"], lag["threshold"]) == ("Maximum", 60, interval)
    # Every healthy run reports within any window of two intervals and a minute; missing data breaches.
    assert lag["evaluationPeriods"] * 60 == 2 * interval + 60
    assert lag["treatMissingData"] == "breaching"


@pytest.mark.parametrize("fixture", ["default_run", "local_run"])
def test_dead_letters_left_in_the_queue_alarm_on_visible_plus_in_flight_after_one_retry_of_the_dlq_function(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    # The dlq function's mapping keeps its queue long-polled, so a dead letter it cannot handle is mostly in flight:
    # the depth is visible + in flight, and only a depth that outlasts one failed attempt and its retry alarms.
    run: ProgramRun = request.getfixturevalue(fixture)
    alarm = _alarms(run)["dlq-not-drained"]
    metrics = {query["id"]: query for query in alarm["metricQueries"]}
    assert metrics["total"]["expression"] == "FILL(m1, 0) + FILL(m2, 0)" and metrics["total"]["returnData"]
    watched = {
        (query["metric"]["metricName"], query["metric"]["dimensions"]["QueueName"])
        for query in metrics.values()
        if "metric" in query
    }
    dlq = run.physical("dlq")
    assert watched == {("ApproximateNumberOfMessagesVisible", dlq), ("ApproximateNumberOfMessagesNotVisible", dlq)}
    dlq_timeout = run.setting("dlqTimeout")
    handling = dlq_timeout + 6 * dlq_timeout  # one attempt, then the DLQ's visibility before the next
    assert alarm["evaluationPeriods"] * 60 > handling
    assert alarm["evaluationPeriods"] * 60 <= handling + 120


@pytest.mark.parametrize(
    ("overrides", "healthy"),
    [
        ({}, (180 + 360) + 2 * 30),  # the seed's defaults: maxReceiveCount 2, base 6 x 30 s
        ({"maxReceiveCount": "4"}, 180 * (1 + 2 + 3 + 4) + 4 * 30),  # the case: 900 s was below this
        ({"maxReceiveCount": "5", "processingTimeout": "60", "visibilityTimeout": "400"}, 400 * 15 + 5 * 60),
        ({"maxReceiveCount": "3", "visibilityTimeout": "43200"}, 3 * 43200 + 3 * 30),  # each wait capped at 12 h
    ],
)
def test_the_oldest_message_alarm_is_past_the_longest_healthy_retry_cycle(
    overrides: dict[str, str], healthy: int
) -> None:
    run = run_program("test", overrides)
    age = _alarms(run)["processing-oldest-message"]
    assert (age["metricName"], age["dimensions"], age["statistic"]) == (
        "ApproximateAgeOfOldestMessage",
        {"QueueName": run.physical("processing")},
        "Maximum",
    )
    base = int(overrides.get("visibilityTimeout", 180))
    assert age["threshold"] == healthy + base


def test_a_configured_oldest_message_age_is_kept_when_it_is_past_healthy_retries(tuned_run: ProgramRun) -> None:
    assert _alarms(tuned_run)["processing-oldest-message"]["threshold"] == 7200


@pytest.mark.parametrize("seconds", ["600", "300"])
def test_an_oldest_message_age_that_healthy_retries_reach_is_refused_before_any_resource(seconds: str) -> None:
    mocks = RecordingMocks()
    with pytest.raises(ConfigError, match=r"tasktrail:oldestMessageAlarmSeconds \(\d+\) would alarm on healthy"):
        run_program("test", {"oldestMessageAlarmSeconds": seconds}, mocks=mocks)
    assert mocks.resources == []


def test_failed_records_alarm_per_consumer_and_function_failures_per_function(default_run: ProgramRun) -> None:
    alarms = _alarms(default_run)
    for function in ("processing", "dlq"):
        failed = alarms[f"{function}-failed-records"]
        assert (failed["metricName"], failed["dimensions"]) == ("RecordsFailed", {"service": f"tasktrail-{function}"})
        assert failed["threshold"] == 0
    for function in FUNCTIONS:
        for signal, metric in (("errors", "Errors"), ("throttles", "Throttles")):
            alarm = alarms[f"{function}-{signal}"]
            assert (alarm["namespace"], alarm["metricName"]) == ("AWS/Lambda", metric)
            assert alarm["dimensions"] == {"FunctionName": default_run.physical(function)}
            assert (alarm["statistic"], alarm["threshold"]) == ("Sum", 0)


def test_a_resent_task_alarms_whichever_function_resent_it(default_run: ProgramRun) -> None:
    alarm = _alarms(default_run)["tasks-reenqueued"]
    services = {q["metric"]["dimensions"]["service"] for q in alarm["metricQueries"] if "metric" in q}
    assert services == {"tasktrail-sweeper", "tasktrail-gateway"}


def test_api_5xx_alarms_on_the_stage(default_run: ProgramRun) -> None:
    alarm = _alarms(default_run)["api-5xx"]
    assert (alarm["namespace"], alarm["metricName"], alarm["dimensions"]) == (
        "AWS/ApiGateway",
        "5XXError",
        {"ApiName": default_run.physical("api"), "Stage": "prod"},
    )


def test_alarms_notify_the_configured_topic_when_they_fire_and_clear(
    default_run: ProgramRun, tuned_run: ProgramRun
) -> None:
    for alarm in default_run.of_type(ALARM):
        assert not alarm.get("alarmActions") and not alarm.get("okActions")
    topic = "arn:aws:sns:eu-west-1:210987654321:oncall"
    alarms = tuned_run.of_type(ALARM)
    assert len(alarms) == len(default_run.of_type(ALARM))
    for alarm in alarms:
        assert alarm["alarmActions"] == [topic] and alarm["okActions"] == [topic], alarm["name"]


def test_readme_says_what_each_alarm_means_and_what_to_do(default_run: ProgramRun) -> None:
    readme = (PROJECT_DIR / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Alarms", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z0-9{}-]+)` \|[^|]+\|[^|]+\|$", section, flags=re.MULTILINE)
    documented = {row.replace("{function}", function) for row in rows for function in FUNCTIONS}
    assert documented == SUFFIXES


def test_a_max_receive_count_under_aws_advice_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        run_program("test", {"maxReceiveCount": "2"})
        run_program("test", {"maxReceiveCount": "5"})
    warnings = [record.getMessage() for record in caplog.records if "maxReceiveCount" in record.getMessage()]
    assert warnings == [max_receive_count_warning(2)]
    assert "https://docs.aws.amazon.com/lambda/latest/operatorguide/sqs-retries.html" in warnings[0]


def test_outputs_are_the_contract(default_run: ProgramRun) -> None:
    physical = default_run.physical
    assert default_run.outputs == {
        "apiUrl": "https://tasktrail-api-rest-api-id.execute-api.us-east-1.amazonaws.com/prod/api/v1",
        "auditTableName": physical("audit"),
        "processingQueueUrl": f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/{physical('processing')}",
        "deadLetterQueueUrl": f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/{physical('dlq')}",
        "gatewayFunctionName": physical("gateway"),
        "processingFunctionName": physical("processing"),
        "dlqFunctionName": physical("dlq"),
        "sweeperFunctionName": physical("sweeper"),
        "digestFunctionName": physical("digest"),
        "digestBucket": default_run.one("aws:s3/bucket:Bucket")["bucketPrefix"] + "mock",
        "digestPublicKey": MOCK_PUBLIC_KEY_PEM,
        "digestSigningKeyArn": default_run.key_arn("signing"),
        "eventMacKeyArn": default_run.key_arn("mac"),
        # DESIGN allows outputs beyond the contract's: where the dashboard is.
        "dashboardUrl": "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1"
        f"#dashboards/dashboard/tasktrail-{default_run.stack}",
        "region": "us-east-1",
        "apiAuth": "apiKey",
        "apiKey": "mock-api-key-value",
    }


def test_api_key_is_exported_as_a_secret_only(default_run: ProgramRun, iam_run: ProgramRun) -> None:
    assert default_run.secret_outputs == {"apiKey"}
    assert iam_run.secret_outputs == set()
    assert "apiKey" not in iam_run.outputs
