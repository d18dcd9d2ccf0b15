"""Physical names: every name the program gives a resource comes from here, derived from `{project}-{stack}`, and the
longest of each kind is checked against AWS's limit for it before any resource is declared.

A fixed physical name and Pulumi's default order of replacement (create the new resource, then delete the old one)
do not mix: the new resource takes the old one's name, so its creation fails with "already exists" (Lambda, IAM),
or, worse, succeeds because the API is an upsert (SQS CreateQueue with the same attributes, PutMetricAlarm,
PutDashboard, PutRule, PutTargets, PutRolePolicy) and the deletion that follows removes the very resource that was
just "created". Every resource named here is therefore declared with `fixed_name_options` (delete before replace),
with one exception: the audit table, see infra/audit_table.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pulumi

from handlers.models.contract import FUNCTIONS
from infra.settings import ConfigError

# Lambda function names, SQS queue names, layer names and dashboard names accept these characters only; every other
# name below accepts a superset. Pulumi itself allows `.` in a stack name, which Lambda and SQS refuse.
SAFE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class NameLimit:
    """AWS's limit on one kind of name, and where AWS documents it."""

    kind: str
    max_length: int
    url: str


# The limits that bind here (the others, DynamoDB's 255, CloudWatch Logs' 512..., are far above any name that fits
# these).
LAMBDA_FUNCTION = NameLimit(
    "Lambda function name", 64, "https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html"
)
IAM_ROLE = NameLimit("IAM role name", 64, "https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html")
IAM_POLICY = NameLimit(
    "IAM inline policy name", 128, "https://docs.aws.amazon.com/IAM/latest/APIReference/API_PutRolePolicy.html"
)
SQS_QUEUE = NameLimit(
    "SQS queue name", 80, "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html"
)
EVENT_RULE = NameLimit(
    "EventBridge rule name", 64, "https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutRule.html"
)
EVENT_TARGET = NameLimit(
    "EventBridge target id", 64, "https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_Target.html"
)
LAMBDA_LAYER = NameLimit(
    "Lambda layer name", 140, "https://docs.aws.amazon.com/lambda/latest/api/API_PublishLayerVersion.html"
)
DYNAMODB_TABLE = NameLimit(
    "DynamoDB table name", 255, "https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_CreateTable.html"
)
CLOUDWATCH_ALARM = NameLimit(
    "CloudWatch alarm name",
    255,
    "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html",
)
CLOUDWATCH_DASHBOARD = NameLimit(
    "CloudWatch dashboard name",
    255,
    "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutDashboard.html",
)
LOG_GROUP = NameLimit(
    "CloudWatch Logs group name",
    512,
    "https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html",
)

# The alarm with the longest suffix (infra/alarms.py names each one `{prefix}-{suffix}`), and the functions an
# EventBridge schedule invokes (infra/pipeline.py). tests/infra/test_names.py checks every name the program declares
# at the longest stack name accepted here, so a longer name added elsewhere fails there.
LONGEST_ALARM_SUFFIX = "processing-oldest-message"
SCHEDULED_FUNCTIONS = ("sweeper", "digest")
# S3 lets a bucket name prefix have 37 characters (Pulumi adds 26 of its own to make the name unique,
# https://www.pulumi.com/registry/packages/aws/api-docs/s3/bucket/#bucketprefix_python).
BUCKET_PREFIX_CHARACTERS = 37


def function_name(prefix: str, service: str) -> str:
    """The Lambda function of one service (gateway, processing, dlq, sweeper)."""
    return f"{prefix}-{service}"


def role_name(function: str) -> str:
    """A function's execution role."""
    return f"{function}-role"


def role_policy_name(function: str) -> str:
    """The inline policy of a function's role."""
    return f"{function}-policy"


def log_group_name(function: str) -> str:
    """The log group Lambda writes a function's logs to."""
    return f"/aws/lambda/{function}"


def schedule_rule_name(function: str) -> str:
    """The EventBridge rule that invokes a scheduled function; its target's id is the function's name."""
    return f"{function}-schedule"


def queue_name(prefix: str, queue: str) -> str:
    """One of the two queues: `processing` or `dlq`."""
    return f"{prefix}-{queue}"


def table_name(prefix: str) -> str:
    """The audit table."""
    return f"{prefix}-audit"


def layer_name(prefix: str) -> str:
    """The dependency layer (each `pulumi up` with a new lock publishes a new version of it)."""
    return f"{prefix}-dependencies"


def api_name(prefix: str) -> str:
    """The REST API (also the ApiName dimension of its CloudWatch metrics)."""
    return f"{prefix}-api"


def access_log_group_name(prefix: str) -> str:
    """The log group of the API stage's access logs."""
    return f"/aws/apigateway/{api_name(prefix)}/access"


def alarm_name(prefix: str, suffix: str) -> str:
    """One CloudWatch alarm."""
    return f"{prefix}-{suffix}"


def digest_bucket_prefix(prefix: str) -> str:
    """The digest bucket's name prefix: bucket names are global, so Pulumi completes it; lower case and hyphens only,
    cut to S3's length (a long stack name is cut here, not refused)."""
    cleaned = re.sub(r"[^a-z0-9-]+", "-", prefix.lower()).strip("-")
    return f"{cleaned[: BUCKET_PREFIX_CHARACTERS - len('-digests-')]}-digests-"


def dashboard_name(prefix: str) -> str:
    """The stack's CloudWatch dashboard."""
    return prefix


def derived_names(prefix: str) -> Iterator[tuple[NameLimit, str]]:
    """Every name of a limited kind the program derives from `prefix`, with the limit it must fit."""
    yield LAMBDA_LAYER, layer_name(prefix)
    yield DYNAMODB_TABLE, table_name(prefix)
    yield CLOUDWATCH_DASHBOARD, dashboard_name(prefix)
    yield CLOUDWATCH_ALARM, alarm_name(prefix, LONGEST_ALARM_SUFFIX)
    for queue in ("processing", "dlq"):
        yield SQS_QUEUE, queue_name(prefix, queue)
    for service in FUNCTIONS:
        function = function_name(prefix, service)
        yield LAMBDA_FUNCTION, function
        yield IAM_ROLE, role_name(function)
        yield IAM_POLICY, role_policy_name(function)
        yield LOG_GROUP, log_group_name(function)
        if service in SCHEDULED_FUNCTIONS:
            yield EVENT_RULE, schedule_rule_name(function)
            yield EVENT_TARGET, function


def name_prefix(project: str, stack: str) -> str:
    """`{project}-{stack}`, the prefix of every physical name, once it is known that every name derived from it is
    valid: ConfigError, naming the limit at fault and the longest stack name that fits, otherwise."""
    prefix = f"{project}-{stack}"
    if not SAFE_NAME.match(prefix):
        raise ConfigError(
            f"stack {stack!r} of project {project!r}: physical names are derived from '{prefix}', and Lambda function "
            "and SQS queue names accept only letters, digits, '-' and '_'; rename the stack "
            "(pulumi stack rename) without other characters such as '.'"
        )
    # The name that leaves the stack name the least room: its limit is the one to report.
    limit, name = min(derived_names(prefix), key=lambda named: named[0].max_length - len(named[1]))
    if len(name) > limit.max_length:
        longest_stack = len(stack) - (len(name) - limit.max_length)
        raise ConfigError(
            f"stack {stack!r} ({len(stack)} characters) of project {project!r} is too long: it makes the "
            f"{limit.kind} {name!r} {len(name)} characters long, and AWS allows at most {limit.max_length} "
            f"({limit.url}); use a stack name of at most {max(longest_stack, 0)} characters"
        )
    return prefix


def fixed_name_options(
    parent: pulumi.Resource, depends_on: list[pulumi.Resource] | None = None
) -> pulumi.ResourceOptions:
    """Options of a child with a fixed physical name: the old one is deleted before its replacement is created, so
    that the two never share the name (see this module's docstring). A replacement therefore means a short gap,
    which only a change of an immutable property (or `pulumi up --replace`) can cause."""
    return pulumi.ResourceOptions(parent=parent, delete_before_replace=True, depends_on=depends_on)
