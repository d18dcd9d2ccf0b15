"""TaskPipeline: the whole deployment, composed from the queue, table, function, API and alarm components."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from handlers.dal import schema
from handlers.models.contract import MAX_BODY_BYTES, METRICS_NAMESPACE, Function, service_name
from handlers.models.digests import SEAL_INTERVAL_SECONDS
from handlers.models.settings import (
    CallSettings,
    DeadLetterSettings,
    DigestSettings,
    FunctionSettings,
    GatewaySettings,
    ProcessingSettings,
    SweeperSettings,
)
from infra.alarms import PipelineAlarms, PipelineAlarmsArgs
from infra.api import TaskApi, TaskApiArgs
from infra.artifacts import PYTHON_ENV, Layer
from infra.audit_table import AuditTable, AuditTableArgs
from infra.capacity import SWEEPER_MEMORY, sweeper_timeout
from infra.dashboard import PipelineDashboard, PipelineDashboardArgs
from infra.digests import AuditDigests, AuditDigestsArgs
from infra.functions import (
    ARCHITECTURE,
    RUNTIME,
    ScheduleTrigger,
    SqsTrigger,
    StreamTrigger,
    TaskFunction,
    TaskFunctionArgs,
)
from infra.iam import AUDIT_TABLE_FORBIDDEN_ACTIONS, Statement, allow, deny
from infra.monitoring import Monitored
from infra.naming import function_name, layer_name
from infra.queues import TaskQueues, TaskQueuesArgs
from infra.settings import PipelineSettings

# Where the reconciler starts an index shard that has no checkpoint yet (its first run, or a stack upgraded from
# before checkpoints): this last day of QUEUED entries. From then on it goes on from its checkpoints.
SWEEP_LOOKBACK_SECONDS = 86_400
# The digest function: a batch of the stream a second at most, sealing every minute (EventBridge's shortest rate).
DIGEST_MEMORY = 256
DIGEST_BATCH_SIZE = 100
DIGEST_BATCHING_WINDOW = 1
DIGEST_SEAL_SCHEDULE = f"rate({SEAL_INTERVAL_SECONDS // 60} minute)"
# A chunk belongs to the period its reading began in, by the function's own clock: a reading begun inside a period
# ends within the timeout, so the period is complete once that and a few seconds of clock skew have passed.
CLOCK_SKEW_SECONDS = 5
# No role may remove a digest or shorten its lock (the lock refuses it anyway; the Deny says so where IAM is read).
DIGEST_FORBIDDEN_ACTIONS = (
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:PutObjectRetention",
    "s3:BypassGovernanceRetention",
)


@dataclass(frozen=True)
class TaskPipelineArgs:
    """The validated settings, the physical-name prefix, and the functions' two artefacts: the deployment package
    and the dependency layer built from the lock (infra.artifacts)."""

    settings: PipelineSettings
    name_prefix: str
    code: pulumi.Archive
    dependencies: Layer


class TaskPipeline(pulumi.ComponentResource):
    """API Gateway -> gateway -> processing queue -> processing -> dead-letter queue -> dlq, with an audit table
    and a scheduled sweeper that re-sends tasks stranded between their RECEIVED write and their send."""

    api_url: pulumi.Output[str]
    api_key: pulumi.Output[str] | None
    audit_table_name: pulumi.Output[str]
    processing_queue_url: pulumi.Output[str]
    dead_letter_queue_url: pulumi.Output[str]
    gateway_function_name: pulumi.Output[str]
    processing_function_name: pulumi.Output[str]
    dlq_function_name: pulumi.Output[str]
    sweeper_function_name: pulumi.Output[str]
    digest_function_name: pulumi.Output[str]
    digest_bucket: pulumi.Output[str]
    digest_public_key: pulumi.Output[str]
    digest_signing_key_arn: pulumi.Output[str]
    event_mac_key_arn: pulumi.Output[str]
    dashboard_url: pulumi.Output[str]

    def __init__(self, name: str, args: TaskPipelineArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("tasktrail:index:TaskPipeline", name, None, opts)
        settings, prefix = args.settings, args.name_prefix
        child = pulumi.ResourceOptions(parent=self)

        queues = TaskQueues(
            f"{name}-queues",
            TaskQueuesArgs(
                name_prefix=prefix,
                visibility_timeout=settings.base_visibility_timeout,
                dlq_visibility_timeout=settings.dlq_visibility_timeout,
                max_receive_count=settings.max_receive_count,
            ),
            opts=child,
        )
        table = AuditTable(
            f"{name}-audit",
            AuditTableArgs(name_prefix=prefix, deletion_protection=settings.deletion_protection),
            opts=child,
        ).table
        digests = AuditDigests(
            f"{name}-digests",
            AuditDigestsArgs(name_prefix=prefix, retention_days=settings.digest_retention_days),
            opts=child,
        )
        digest_objects = pulumi.Output.format("{0}/*", digests.bucket.arn)
        # Every function that appends an event MACs it with a key of the day derived from this KMS key; the digest
        # function derives the same keys to check them.
        derive_mac_keys = allow("DeriveEventMacKeys", ["kms:GenerateMac"], [digests.mac_key.arn])

        # One layer version for every function: the locked packages, built for the functions' Python and CPU.
        layer = args.dependencies
        if not layer.bytecode:
            pulumi.log.warn(
                f"no CPython {layer.python_version} on this machine: the functions' layer ships without bytecode, so "
                "every cold start compiles it afresh (about twice as slow). Install it, or set "
                f"{PYTHON_ENV} to its interpreter, and run `pulumi up` again.",
                resource=self,
            )
        dependencies = aws.lambda_.LayerVersion(
            f"{name}-dependencies",
            layer_name=layer_name(prefix),
            description=f"tasktrail's locked dependencies (lock sha256 {layer.lock_sha256[:12]})",
            code=pulumi.FileArchive(str(layer.zip_path)),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            opts=child,
        )

        # Append-only in two halves, because IAM cannot require a PutItem to be conditional: PutItem is the only
        # write any role gets (the audit store always sends it with attribute_not_exists, so an event is never
        # overwritten), and every role carries an explicit Deny of the other writes, which no later Allow undoes.
        append_only = deny("AuditTableAppendOnly", AUDIT_TABLE_FORBIDDEN_ACTIONS, [table.arn])
        append = allow("AuditTableAppend", ["dynamodb:PutItem"], [table.arn])
        read_history = allow("AuditTableReadHistory", ["dynamodb:Query"], [table.arn])
        # GET /tasks lists by status from the sparse index; nothing else reads it.
        list_by_status = allow(
            "AuditTableListByStatus",
            ["dynamodb:Query"],
            [pulumi.Output.format("{0}/index/{1}", table.arn, schema.STATUS_INDEX_NAME)],
        )

        def environment(
            model: type[FunctionSettings], service: Function, **values: pulumi.Input[str] | int | float | bool
        ) -> dict[str, pulumi.Input[str]]:
            # Named by the function's own settings model, so that a misspelt or missing setting fails here.
            return model.environment(
                audit_table_name=table.name,
                event_mac_key_id=digests.mac_key.arn,
                service_name=service_name(service),
                metrics_namespace=METRICS_NAMESPACE,
                log_level=settings.log_level,
                log_payloads=settings.log_payloads,
                **values,
            )

        def function(
            service: Function,
            *,
            timeout: int,
            memory: int,
            environment: dict[str, pulumi.Input[str]],
            statements: tuple[Statement, ...],
            trigger: SqsTrigger | None = None,
            stream: StreamTrigger | None = None,
            schedule: ScheduleTrigger | None = None,
        ) -> TaskFunction:
            function_args = TaskFunctionArgs(
                function_name=function_name(prefix, service),
                handler=f"handlers.{service}.handler",
                code=args.code,
                timeout=timeout,
                memory=memory,
                layers=[dependencies.arn],
                log_retention_days=settings.log_retention_days,
                # The function's AWS calls are budgeted from its timeout (handlers.models.settings.CallBudget).
                environment={**environment, **CallSettings.environment(function_timeout=timeout)},
                statements=statements,
                trigger=trigger,
                stream=stream,
                schedule=schedule,
            )
            return TaskFunction(f"{name}-{service}", function_args, opts=child)

        def consume(queue: aws.sqs.Queue) -> SqsTrigger:
            # Both queues are drained the same way; the DLQ's volume is a trickle unless something is wrong.
            return SqsTrigger(
                queue=queue,
                batch_size=settings.batch_size,
                batching_window=settings.batching_window,
                max_concurrency=settings.max_concurrency,
            )

        gateway = function(
            "gateway",
            timeout=settings.gateway_timeout,
            memory=settings.gateway_memory,
            environment=environment(
                GatewaySettings,
                "gateway",
                processing_queue_url=queues.processing_queue.url,
                max_body_bytes=MAX_BODY_BYTES,
                # A RECEIVED older than the gateway's own timeout with nothing after it, and an empty queue, can
                # only mean the request that wrote it died before enqueueing: a client's retry re-sends the task.
                reenqueue_after_seconds=settings.gateway_timeout,
                stranded_after_seconds=settings.stranded_after_seconds,
                api_auth=settings.api_auth,
                digest_bucket=digests.bucket.bucket,
                signing_key_id=digests.signing_key.arn,
                digest_period_seconds=settings.digest_period_seconds,
                digest_grace_seconds=settings.digest_timeout + CLOCK_SKEW_SECONDS,
            ),
            statements=(
                append,
                read_history,
                list_by_status,
                append_only,
                derive_mac_keys,
                # Submissions and redrives (POST /tasks/{taskId}/redrive) both send to the processing queue; a
                # retried POST reads its depth to tell a lost send from a message waiting in a backlog.
                allow("EnqueueTasks", ["sqs:SendMessage", "sqs:GetQueueAttributes"], [queues.processing_queue.arn]),
                # GET /tasks/{taskId}/proof reads the task's digests (ListBucket: a missing one is a 404, not a 403)
                # and has KMS check their signatures.
                allow("ReadDigests", ["s3:GetObject", "s3:GetObjectVersion"], [digest_objects]),
                allow("FindDigests", ["s3:ListBucket"], [digests.bucket.arn]),
                allow("CheckDigestSignatures", ["kms:Verify"], [digests.signing_key.arn]),
            ),
        )
        processing = function(
            "processing",
            timeout=settings.processing_timeout,
            memory=settings.processing_memory,
            environment=environment(
                ProcessingSettings,
                "processing",
                processing_queue_url=queues.processing_queue.url,
                base_visibility_timeout=settings.base_visibility_timeout,
                max_receive_count=settings.max_receive_count,
                fault_injection=settings.fault_injection,
                task_worker=settings.task_worker,
                dead_letter_queue_url=queues.dead_letter_queue.url,
            ),
            # A message that is not a task at all can never succeed: it goes straight to the DLQ instead of
            # burning maxReceiveCount receives with backoff.
            statements=(
                append,
                append_only,
                derive_mac_keys,
                allow("DeadLetterPoisonMessages", ["sqs:SendMessage"], [queues.dead_letter_queue.arn]),
            ),
            trigger=consume(queues.processing_queue),
        )
        dlq = function(
            "dlq",
            timeout=settings.dlq_timeout,
            memory=settings.dlq_memory,
            environment=environment(DeadLetterSettings, "dlq", max_receive_count=settings.max_receive_count),
            # The Query reads the task's last RETRY_SCHEDULED, so that DEAD_LETTERED can say why it failed.
            statements=(append, read_history, append_only, derive_mac_keys),
            trigger=consume(queues.dead_letter_queue),
        )

        # The outbox's reconciler: RECEIVED, REDRIVEN and REENQUEUED are written before the send, so a task whose send
        # was lost stays QUEUED with no message anywhere; the sweeper reads the status index from its checkpoints
        # (appended to the table) and re-sends such tasks.
        sweeper = function(
            "sweeper",
            timeout=sweeper_timeout(settings.sweep_interval_seconds),
            memory=SWEEPER_MEMORY,
            environment=environment(
                SweeperSettings,
                "sweeper",
                processing_queue_url=queues.processing_queue.url,
                reenqueue_after_seconds=settings.gateway_timeout,
                stranded_after_seconds=settings.stranded_after_seconds,
                sweep_lookback_seconds=SWEEP_LOOKBACK_SECONDS,
            ),
            statements=(
                append,
                read_history,
                list_by_status,
                append_only,
                derive_mac_keys,
                # Up to 100 keys a call: a processed task has an item at a key known in advance, so the entries of
                # tasks processed long ago are told apart in bulk, without a history read each.
                allow("AuditTableFindProcessed", ["dynamodb:BatchGetItem"], [table.arn]),
                # The queue's depth tells a lost send from a message waiting in a backlog.
                allow(
                    "ResendStrandedTasks",
                    ["sqs:SendMessage", "sqs:GetQueueAttributes"],
                    [queues.processing_queue.arn],
                ),
            ),
            schedule=ScheduleTrigger(settings.sweep_schedule),
        )

        # Reads the audit table's stream into chunks, and seals each period into a signed, chained digest.
        digest = function(
            "digest",
            timeout=settings.digest_timeout,
            memory=DIGEST_MEMORY,
            environment=environment(
                DigestSettings,
                "digest",
                digest_bucket=digests.bucket.bucket,
                signing_key_id=digests.signing_key.arn,
                period_seconds=settings.digest_period_seconds,
                grace_seconds=settings.digest_timeout + CLOCK_SKEW_SECONDS,
            ),
            statements=(
                append_only,
                derive_mac_keys,
                # Written once each (If-None-Match), read back to chain them; the bucket's lock keeps them.
                allow("WriteDigests", ["s3:PutObject", "s3:GetObject", "s3:GetObjectVersion"], [digest_objects]),
                allow("ListDigests", ["s3:ListBucket"], [digests.bucket.arn]),
                deny("DigestsAreWrittenOnce", DIGEST_FORBIDDEN_ACTIONS, [digest_objects]),
                allow("SignDigests", ["kms:Sign"], [digests.signing_key.arn]),
            ),
            stream=StreamTrigger(table.stream_arn, DIGEST_BATCH_SIZE, DIGEST_BATCHING_WINDOW),
            schedule=ScheduleTrigger(DIGEST_SEAL_SCHEDULE),
        )

        api = TaskApi(
            f"{name}-api",
            TaskApiArgs(
                name_prefix=prefix,
                function_name=gateway.function_name,
                invoke_arn=gateway.invoke_arn,
                auth=settings.api_auth,
                throttle_rate=settings.api_throttle_rate,
                throttle_burst=settings.api_throttle_burst,
                log_retention_days=settings.log_retention_days,
                manage_account=settings.manage_api_gateway_account,
            ),
            opts=child,
        )
        monitored = Monitored(
            region=settings.region,
            api_name=api.rest_api.name,
            queue_names={"processing": queues.processing_queue.name, "dlq": queues.dead_letter_queue.name},
            function_names={
                "gateway": gateway.function_name,
                "processing": processing.function_name,
                "dlq": dlq.function_name,
                "sweeper": sweeper.function_name,
                "digest": digest.function_name,
            },
        )
        PipelineAlarms(
            f"{name}-alarms",
            PipelineAlarmsArgs(
                name_prefix=prefix,
                monitored=monitored,
                oldest_message_threshold=settings.oldest_message_alarm_threshold,
                dead_letter_handling_seconds=settings.dlq_timeout + settings.dlq_visibility_timeout,
                max_receive_count=settings.max_receive_count,
                digest_lag_threshold=settings.digest_period_seconds
                + settings.digest_timeout
                + CLOCK_SKEW_SECONDS
                + 2 * SEAL_INTERVAL_SECONDS,
                sweep_interval_seconds=settings.sweep_interval_seconds,
                notify=[settings.alarm_topic_arn] if settings.alarm_topic_arn else [],
            ),
            opts=child,
        )
        dashboard = PipelineDashboard(
            f"{name}-dashboard",
            PipelineDashboardArgs(
                name_prefix=prefix,
                monitored=monitored,
                oldest_message_threshold=settings.oldest_message_alarm_threshold,
            ),
            opts=child,
        )

        self.api_url = api.url
        self.api_key = api.api_key
        self.audit_table_name = table.name
        self.processing_queue_url = queues.processing_queue.url
        self.dead_letter_queue_url = queues.dead_letter_queue.url
        self.gateway_function_name = gateway.function_name
        self.processing_function_name = processing.function_name
        self.dlq_function_name = dlq.function_name
        self.sweeper_function_name = sweeper.function_name
        self.digest_function_name = digest.function_name
        self.digest_bucket = digests.bucket.bucket
        self.digest_public_key = digests.public_key_pem
        self.digest_signing_key_arn = digests.signing_key.arn
        self.event_mac_key_arn = digests.mac_key.arn
        self.dashboard_url = dashboard.url
        self.register_outputs(
            {
                "apiUrl": self.api_url,
                "auditTableName": self.audit_table_name,
                "processingQueueUrl": self.processing_queue_url,
                "deadLetterQueueUrl": self.dead_letter_queue_url,
                "dashboardUrl": self.dashboard_url,
            }
        )
