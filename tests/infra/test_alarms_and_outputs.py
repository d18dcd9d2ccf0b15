"""Policies on alarms (dead letters, queue age, function errors and throttles) and on the stack outputs."""

from __future__ import annotations

from tests.infra.harness import ACCOUNT, MOCK_PUBLIC_KEY_PEM, ProgramRun

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


def _alarms(run: ProgramRun) -> dict[tuple[str, str, str], dict]:
    """(namespace, metric, watched name) -> alarm."""
    return {
        (alarm["namespace"], alarm["metricName"], next(iter(alarm["dimensions"].values()))): alarm
        for alarm in run.of_type(ALARM)
    }


def test_alarms_cover_dead_letters_queue_age_and_every_function(default_run: ProgramRun) -> None:
    functions = [default_run.physical(service) for service in ("gateway", "processing", "dlq", "sweeper")]
    assert set(_alarms(default_run)) == {
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", default_run.physical("dlq")),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage", default_run.physical("processing")),
        *(("AWS/Lambda", metric, name) for name in functions for metric in ("Errors", "Throttles")),
    }
    for alarm in default_run.of_type(ALARM):
        assert alarm["comparisonOperator"] == "GreaterThanThreshold"
        assert len(alarm["dimensions"]) == 1


def test_any_dead_letter_or_function_error_alarms(default_run: ProgramRun) -> None:
    for (namespace, metric, _), alarm in _alarms(default_run).items():
        if metric != "ApproximateAgeOfOldestMessage":
            assert alarm["threshold"] == 0, (namespace, metric)
    dlq = _alarms(default_run)["AWS/SQS", "ApproximateNumberOfMessagesVisible", default_run.physical("dlq")]
    assert dlq["dimensions"] == {"QueueName": default_run.physical("dlq")}


def test_queue_age_threshold_follows_config(default_run: ProgramRun, tuned_run: ProgramRun) -> None:
    for run, seconds in ((default_run, 900), (tuned_run, 600)):
        age = _alarms(run)["AWS/SQS", "ApproximateAgeOfOldestMessage", run.physical("processing")]
        assert age["threshold"] == seconds


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
        "region": "us-east-1",
        "apiAuth": "apiKey",
        "apiKey": "mock-api-key-value",
    }


def test_api_key_is_exported_as_a_secret_only(default_run: ProgramRun, iam_run: ProgramRun) -> None:
    assert default_run.secret_outputs == {"apiKey"}
    assert iam_run.secret_outputs == set()
    assert "apiKey" not in iam_run.outputs
