"""Physical names: the stack and project names are checked before any resource is declared, against the longest name
of each kind derived from them, and no replacement can collide with the resource it replaces."""

from __future__ import annotations

import re
from typing import Any

import pulumi
import pytest

from infra.naming import SAFE_NAME, name_prefix
from infra.settings import ConfigError
from tests.infra.harness import PROJECT, RecordingMocks, run_program

# Resource type -> (the input holding its physical name, AWS's limit, the characters AWS accepts), from each
# service's API reference (the URLs are in infra/naming.py).
LIMITS: dict[str, tuple[str, int, str]] = {
    "aws:lambda/function:Function": ("name", 64, r"[A-Za-z0-9_-]+"),
    "aws:iam/role:Role": ("name", 64, r"[\w+=,.@-]+"),
    "aws:iam/rolePolicy:RolePolicy": ("name", 128, r"[\w+=,.@-]+"),
    "aws:sqs/queue:Queue": ("name", 80, r"[A-Za-z0-9_-]+"),
    "aws:cloudwatch/eventRule:EventRule": ("name", 64, r"[.\-_A-Za-z0-9]+"),
    "aws:cloudwatch/eventTarget:EventTarget": ("targetId", 64, r"[.\-_A-Za-z0-9]+"),
    "aws:lambda/layerVersion:LayerVersion": ("layerName", 140, r"[A-Za-z0-9_-]+"),
    "aws:dynamodb/table:Table": ("name", 255, r"[A-Za-z0-9_.-]{3,}"),
    "aws:cloudwatch/logGroup:LogGroup": ("name", 512, r"[.\-_/#A-Za-z0-9]+"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ("name", 255, r"[ -~]+"),
    "aws:cloudwatch/dashboard:Dashboard": ("dashboardName", 255, r"[A-Za-z0-9_-]+"),
}


def _refusal(stack: str) -> str:
    mocks = RecordingMocks()
    with pytest.raises(ConfigError) as raised:
        run_program(stack, mocks=mocks)
    assert mocks.resources == []  # before any resource
    return str(raised.value)


def _longest_accepted_stack() -> str:
    length = 1
    while True:
        try:
            name_prefix(PROJECT, "s" * (length + 1))
        except ConfigError:
            return "s" * length
        length += 1


def test_a_stack_name_of_40_characters_is_refused_naming_the_limit_before_any_resource() -> None:
    message = _refusal("s" * 40)
    # The sweeper's schedule, `{project}-{stack}-sweeper-schedule`, leaves the least room (the roles one more).
    assert "EventBridge rule name 'tasktrail-" in message and "AWS allows at most 64" in message
    assert "https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutRule.html" in message
    assert f"use a stack name of at most {len(_longest_accepted_stack())} characters" in message


@pytest.mark.parametrize("stack", ["dev.1", "dev/1", "dév"])
def test_a_stack_name_with_a_character_lambda_or_sqs_refuses_is_refused_before_any_resource(stack: str) -> None:
    message = _refusal(stack)
    assert "Lambda function and SQS queue names accept only letters, digits, '-' and '_'" in message


def test_the_longest_accepted_stack_name_gives_every_name_within_its_limit() -> None:
    stack = _longest_accepted_stack()
    assert len(stack) == 37
    run = run_program(stack)
    checked = 0
    for resource in run.resources:
        if resource.typ not in LIMITS:
            continue
        key, limit, characters = LIMITS[resource.typ]
        name = resource.inputs.get(key)
        if name is None:
            continue  # named by Pulumi (see the test below)
        assert len(name) <= limit, (resource.typ, name, len(name))
        assert re.fullmatch(characters, name), (resource.typ, name)
        checked += 1
    assert checked > 20
    assert SAFE_NAME.match(name_prefix(PROJECT, stack))


# Named, yet not deleted before replacement, each for its reason.
MAY_BE_CREATED_BEFORE_DELETED = {
    # A replacement must fail on the name rather than leave a new, empty record (infra/audit_table.py).
    "aws:dynamodb/table:Table",
    # Each replacement publishes a new version of the same layer: versions never collide.
    "aws:lambda/layerVersion:LayerVersion",
    # API Gateway does not require these names to be unique: a replacement is a second one, then the first goes.
    "aws:apigateway/restApi:RestApi",
    "aws:apigateway/apiKey:ApiKey",
    "aws:apigateway/usagePlan:UsagePlan",
}


def test_every_resource_with_a_fixed_name_is_deleted_before_it_is_replaced() -> None:
    options: dict[tuple[str, str], pulumi.ResourceOptions] = {}

    def record(args: pulumi.ResourceTransformationArgs) -> None:
        options[args.type_, args.name] = args.opts

    run = run_program("test", transformation=record)
    named: list[tuple[str, str, Any]] = [
        (resource.typ, resource.name, resource.inputs.get(LIMITS.get(resource.typ, ("name",))[0]))
        for resource in run.resources
    ]
    fixed = [(typ, name) for typ, name, physical in named if physical is not None]
    assert len(fixed) > 20
    for typ, name in fixed:
        if typ in MAY_BE_CREATED_BEFORE_DELETED:
            continue
        assert options[typ, name].delete_before_replace is True, (typ, name)
