"""One Lambda function with its own log group, least-privilege role and, optionally, its SQS trigger or its
EventBridge schedule."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra.iam import XRAY_WRITE_ACTIONS, Statement, allow, policy_document, service_trust_policy
from infra.naming import fixed_name_options, log_group_name, role_name, role_policy_name, schedule_rule_name

RUNTIME = "python3.13"
ARCHITECTURE = "arm64"
# What Lambda's SQS poller needs on the queue it reads; nothing else of SQS.
SQS_CONSUMER_ACTIONS = (
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ChangeMessageVisibility",
)


@dataclass(frozen=True)
class SqsTrigger:
    """An SQS event source: the function reports failed records, so only they are retried."""

    queue: aws.sqs.Queue
    batch_size: int
    batching_window: int
    max_concurrency: int


# What Lambda's DynamoDB stream poller needs on the stream it reads. ListStreams has no resource-level permission
# (the service authorization reference lists no resource type for it), and Lambda refuses to create the mapping
# without it ("ensure the role can perform the GetRecords, GetShardIterator, DescribeStream, and ListStreams Actions").
STREAM_CONSUMER_ACTIONS = ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator")
STREAM_LIST_ACTIONS = ("dynamodb:ListStreams",)


@dataclass(frozen=True)
class StreamTrigger:
    """A DynamoDB stream event source, read in order per shard from its oldest record; a failed batch is split in
    two until the failing record is alone, and retried until it succeeds (the stream keeps records 24 hours; an alarm
    on the iterator's age says when it falls behind)."""

    stream_arn: pulumi.Input[str]
    batch_size: int
    batching_window: int


@dataclass(frozen=True)
class ScheduleTrigger:
    """An EventBridge schedule: a rule with a `rate(...)` or `cron(...)` expression that invokes the function."""

    expression: str


@dataclass(frozen=True)
class TaskFunctionArgs:
    """Inputs of one function: code and sizing, what it may touch beyond its own logs, and what triggers it."""

    function_name: str
    handler: str
    code: pulumi.Archive
    timeout: int
    memory: int
    log_retention_days: int
    environment: Mapping[str, pulumi.Input[str]]
    # The dependency layer built from the lock (infra.artifacts): the functions import nothing else.
    layers: Sequence[pulumi.Input[str]] = field(default_factory=tuple)
    statements: Sequence[Statement] = field(default_factory=tuple)
    trigger: SqsTrigger | None = None
    stream: StreamTrigger | None = None
    schedule: ScheduleTrigger | None = None


class TaskFunction(pulumi.ComponentResource):
    """A traced arm64 Python function whose role can write its own log group and exactly `statements`."""

    function: aws.lambda_.Function
    role: aws.iam.Role
    log_group: aws.cloudwatch.LogGroup
    event_source_mapping: aws.lambda_.EventSourceMapping | None
    schedule_rule: aws.cloudwatch.EventRule | None
    function_name: pulumi.Output[str]
    function_arn: pulumi.Output[str]
    invoke_arn: pulumi.Output[str]

    def __init__(self, name: str, args: TaskFunctionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("tasktrail:index:TaskFunction", name, None, opts)

        # Created before the function, so that Lambda never creates it without a retention.
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=log_group_name(args.function_name),
            retention_in_days=args.log_retention_days,
            opts=fixed_name_options(self),
        )
        self.role = aws.iam.Role(
            f"{name}-role",
            name=role_name(args.function_name),
            assume_role_policy=service_trust_policy("lambda.amazonaws.com"),
            opts=fixed_name_options(self),
        )
        statements: list[Statement] = [
            # Log streams live under the group: "<group arn>:*" covers them and nothing outside the group.
            allow(
                "OwnLogGroup",
                ["logs:CreateLogStream", "logs:PutLogEvents"],
                [pulumi.Output.format("{0}:*", self.log_group.arn)],
            ),
            # The one "*": X-Ray's write actions have no resource-level permissions.
            allow("XRayWrite", XRAY_WRITE_ACTIONS, ["*"]),
            *args.statements,
        ]
        if args.trigger is not None:
            statements.append(allow("ConsumeTriggerQueue", SQS_CONSUMER_ACTIONS, [args.trigger.queue.arn]))
        if args.stream is not None:
            statements.append(allow("ReadTriggerStream", STREAM_CONSUMER_ACTIONS, [args.stream.stream_arn]))
            statements.append(allow("ListTriggerStreams", STREAM_LIST_ACTIONS, ["*"]))
        self.role_policy = aws.iam.RolePolicy(
            f"{name}-policy",
            name=role_policy_name(args.function_name),
            role=self.role.id,
            policy=policy_document(statements),
            opts=fixed_name_options(self),
        )

        self.function = aws.lambda_.Function(
            f"{name}-function",
            name=args.function_name,
            role=self.role.arn,
            runtime=RUNTIME,
            architectures=[ARCHITECTURE],
            handler=args.handler,
            code=args.code,
            timeout=args.timeout,
            memory_size=args.memory,
            layers=list(args.layers),
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=dict(args.environment)),
            tracing_config=aws.lambda_.FunctionTracingConfigArgs(mode="Active"),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="Text", log_group=self.log_group.name),
            # The policy first: a first invocation must already be able to log and trace.
            opts=fixed_name_options(self, depends_on=[self.role_policy]),
        )

        self.event_source_mapping = None
        if args.trigger is not None:
            trigger = args.trigger
            self.event_source_mapping = aws.lambda_.EventSourceMapping(
                f"{name}-trigger",
                event_source_arn=trigger.queue.arn,
                function_name=self.function.arn,
                batch_size=trigger.batch_size,
                maximum_batching_window_in_seconds=trigger.batching_window,
                function_response_types=["ReportBatchItemFailures"],
                scaling_config=aws.lambda_.EventSourceMappingScalingConfigArgs(
                    maximum_concurrency=trigger.max_concurrency
                ),
                # Lambda checks the role's SQS permissions when the mapping is created.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.role_policy]),
            )

        if args.stream is not None:
            self.event_source_mapping = aws.lambda_.EventSourceMapping(
                f"{name}-stream",
                event_source_arn=args.stream.stream_arn,
                function_name=self.function.arn,
                starting_position="TRIM_HORIZON",
                batch_size=args.stream.batch_size,
                maximum_batching_window_in_seconds=args.stream.batching_window,
                bisect_batch_on_function_error=True,
                # Until success: a record dropped would be an event no digest lists (-1: no limit but the stream's
                # own 24 hours; https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html).
                maximum_retry_attempts=-1,
                maximum_record_age_in_seconds=-1,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.role_policy]),
            )

        self.schedule_rule = None
        if args.schedule is not None:
            self._schedule(name, args.function_name, args.schedule)

        self.function_name = self.function.name
        self.function_arn = self.function.arn
        self.invoke_arn = self.function.invoke_arn
        self.register_outputs({"functionName": self.function_name, "functionArn": self.function_arn})

    def _schedule(self, name: str, function_name: str, schedule: ScheduleTrigger) -> None:
        rule = aws.cloudwatch.EventRule(
            f"{name}-schedule",
            name=schedule_rule_name(function_name),
            description=f"Invokes {function_name} on {schedule.expression}.",
            schedule_expression=schedule.expression,
            opts=fixed_name_options(self),
        )
        # Only this rule may invoke the function through EventBridge.
        permission = aws.lambda_.Permission(
            f"{name}-schedule-permission",
            action="lambda:InvokeFunction",
            function=self.function.name,
            principal="events.amazonaws.com",
            source_arn=rule.arn,
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.cloudwatch.EventTarget(
            f"{name}-schedule-target",
            rule=rule.name,
            arn=self.function.arn,
            target_id=function_name,
            opts=fixed_name_options(self, depends_on=[permission]),
        )
        self.schedule_rule = rule
