"""The local cloud's EventBridge emulation: rate expressions, and the schedules read from registered resources."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from local.deploy.topology import Registered, ScheduleSpec, build_topology
from local.services.events import rate_seconds, scheduled_event

FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:tasktrail-local-sweeper"
RULE_ARN = "arn:aws:events:us-east-1:123456789012:rule/tasktrail-local-sweeper-schedule"


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        ("rate(1 minute)", 60),
        ("rate(5 minutes)", 300),
        ("rate(2 hours)", 7200),
        ("rate(1 hour)", 3600),
        ("rate(1 day)", 86400),
        ("rate(3 days)", 259200),
        (" rate(10 minutes) ", 600),
    ],
)
def test_rate_expressions_give_their_period(expression: str, seconds: int) -> None:
    assert rate_seconds(expression) == seconds


@pytest.mark.parametrize(
    "expression", ["cron(0/5 * * * ? *)", "rate(0 minutes)", "rate(5 seconds)", "rate(minutes)", "every 5 minutes", ""]
)
def test_anything_but_a_rate_is_not_emulated(expression: str) -> None:
    assert rate_seconds(expression) is None


def _registered(schedule: str | None = "rate(1 minute)") -> list[Registered]:
    function = {
        "name": "tasktrail-local-sweeper",
        "arn": FUNCTION_ARN,
        "handler": "handlers.sweeper.handler",
        "timeout": 60,
        "environment": {"variables": {"AUDIT_TABLE_NAME": "t"}},
    }
    rule = {"name": "tasktrail-local-sweeper-schedule", "arn": RULE_ARN, "scheduleExpression": schedule}
    target = {"rule": "tasktrail-local-sweeper-schedule", "arn": FUNCTION_ARN, "targetId": "sweeper"}
    return [
        Registered("aws:lambda/function:Function", "fn", "tasktrail-local-sweeper", function),
        Registered("aws:cloudwatch/eventRule:EventRule", "rule", "tasktrail-local-sweeper-schedule", rule),
        Registered("aws:cloudwatch/eventTarget:EventTarget", "target", "target-id", target),
    ]


def test_a_scheduled_rules_target_is_read_as_a_schedule_of_its_function() -> None:
    assert build_topology(_registered()).schedules == [
        ScheduleSpec(
            rule_name="tasktrail-local-sweeper-schedule",
            rule_arn=RULE_ARN,
            expression="rate(1 minute)",
            function_name="tasktrail-local-sweeper",
            enabled=True,
        )
    ]


def test_a_rule_without_a_schedule_is_no_schedule() -> None:
    assert build_topology(_registered(schedule=None)).schedules == []


def test_the_scheduled_event_is_shaped_as_eventbridge_sends_it() -> None:
    (spec,) = build_topology(_registered()).schedules
    event = scheduled_event(spec, at=datetime(2026, 11, 29, 4, 0, 0, 123456, tzinfo=UTC))
    assert event.pop("id")
    assert event == {
        "version": "0",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-11-29T04:00:00Z",
        "region": "us-east-1",
        "resources": [RULE_ARN],
        "detail": {},
    }
