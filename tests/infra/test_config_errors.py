"""Each invalid configuration stops the program before any resource is declared, naming the key at fault."""

from __future__ import annotations

import pytest

from infra.settings import ConfigError
from tests.infra.harness import RecordingMocks, run_program

# (overrides, the key the message must name)
INVALID = [
    ({"visibilityTimeout": "179"}, "tasktrail:visibilityTimeout"),
    ({"visibilityTimeout": "20", "enforceVisibilityRatio": "false"}, "tasktrail:visibilityTimeout"),
    ({"visibilityTimeout": "43201"}, "tasktrail:visibilityTimeout"),
    ({"visibilityTimeout": "-1"}, "tasktrail:visibilityTimeout"),
    ({"maxReceiveCount": "0"}, "tasktrail:maxReceiveCount"),
    ({"maxReceiveCount": "1001"}, "tasktrail:maxReceiveCount"),
    ({"batchSize": "11"}, "tasktrail:batchSize"),
    ({"batchSize": "10001", "batchingWindow": "5"}, "tasktrail:batchSize"),
    ({"batchSize": "0"}, "tasktrail:batchSize"),
    ({"batchingWindow": "301"}, "tasktrail:batchingWindow"),
    ({"maxConcurrency": "1"}, "tasktrail:maxConcurrency"),
    ({"maxConcurrency": "1001"}, "tasktrail:maxConcurrency"),
    ({"apiAuth": "cognito"}, "tasktrail:apiAuth"),
    ({"apiAuth": "none"}, "tasktrail:allowUnauthenticatedApi"),
    ({"logRetentionDays": "2"}, "tasktrail:logRetentionDays"),
    ({"logRetentionDays": "0"}, "tasktrail:logRetentionDays"),
    ({"processingTimeout": "0"}, "tasktrail:processingTimeout"),
    ({"processingTimeout": "901"}, "tasktrail:processingTimeout"),
    ({"gatewayTimeout": "30"}, "tasktrail:gatewayTimeout"),
    ({"dlqTimeout": "0"}, "tasktrail:dlqTimeout"),
    ({"processingMemory": "64"}, "tasktrail:processingMemory"),
    ({"gatewayMemory": "10241"}, "tasktrail:gatewayMemory"),
    ({"apiThrottleRate": "0"}, "tasktrail:apiThrottleRate"),
    ({"apiThrottleBurst": "0"}, "tasktrail:apiThrottleBurst"),
    ({"oldestMessageAlarmSeconds": "-1"}, "tasktrail:oldestMessageAlarmSeconds"),
    ({"oldestMessageAlarmSeconds": "600"}, "tasktrail:oldestMessageAlarmSeconds"),
    ({"logLevel": "TRACE"}, "tasktrail:logLevel"),
    ({"alarmTopicArn": "oncall"}, "tasktrail:alarmTopicArn"),
    ({"alarmTopicArn": "arn:aws:sqs:us-east-1:123456789012:oncall"}, "tasktrail:alarmTopicArn"),
    ({"sweepSchedule": "every 5 minutes"}, "tasktrail:sweepSchedule"),
    ({"sweepSchedule": "rate(5 minute)"}, "tasktrail:sweepSchedule"),
    ({"sweepSchedule": "rate(0 minutes)"}, "tasktrail:sweepSchedule"),
    ({"sweepSchedule": "rate(30 seconds)"}, "tasktrail:sweepSchedule"),
    ({"sweepSchedule": "cron(0/5 * * *)"}, "tasktrail:sweepSchedule"),
    ({"sweepSchedule": "cron(0/5 * * * ? *)"}, "tasktrail:sweepSchedule"),
    ({"sweepSchedule": "rate(13 hours)"}, "tasktrail:sweepSchedule"),
    ({"strandedAfterSeconds": "59"}, "tasktrail:strandedAfterSeconds"),
    ({"taskWorker": "os:system"}, "tasktrail:taskWorker"),
    ({"deletionProtection": "maybe"}, "tasktrail:deletionProtection"),
    ({"faultInjection": "sometimes"}, "tasktrail:faultInjection"),
    ({"maxReceiveCount": "two"}, "tasktrail:maxReceiveCount"),
]


@pytest.mark.parametrize(
    ("overrides", "key"), INVALID, ids=[" ".join(f"{k}={v}" for k, v in o.items()) for o, _ in INVALID]
)
def test_invalid_config_fails_naming_the_key_before_any_resource(overrides: dict[str, str], key: str) -> None:
    mocks = RecordingMocks()
    with pytest.raises(ConfigError) as raised:
        run_program("test", overrides, mocks=mocks)
    assert key in str(raised.value)
    assert mocks.resources == []


def test_missing_key_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    # The CLI passes Pulumi.yaml's defaults; a program run without them must say which key it lacks.
    import local.deploy.stack_config as stack_config

    real = stack_config.load_stack_config

    def without_batch_size(*args: object, **kwargs: object) -> dict[str, str]:
        config = real(*args, **kwargs)  # type: ignore[arg-type]
        del config["tasktrail:batchSize"]
        return config

    monkeypatch.setattr("tests.infra.harness.load_stack_config", without_batch_size)
    mocks = RecordingMocks()
    with pytest.raises(Exception, match="tasktrail:batchSize"):
        run_program("test", mocks=mocks)
    assert mocks.resources == []


@pytest.mark.parametrize(
    "overrides",
    [
        {"visibilityTimeout": "180"},
        {"visibilityTimeout": "43200"},
        {"visibilityTimeout": "2", "processingTimeout": "1", "enforceVisibilityRatio": "false"},
        {"batchSize": "10000", "batchingWindow": "1"},
        {"maxConcurrency": "2"},
        {"maxReceiveCount": "1"},
        {"apiAuth": "none", "allowUnauthenticatedApi": "true"},
    ],
)
def test_edge_values_are_accepted(overrides: dict[str, str]) -> None:
    run = run_program("test", overrides)
    assert run.of_type("aws:lambda/function:Function")
