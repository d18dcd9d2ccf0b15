"""The processing queue and its dead-letter queue, wired with a redrive policy in both directions."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.naming import fixed_name_options, queue_name

# The most SQS keeps a message; a dead letter should outlive any investigation.
DLQ_RETENTION_SECONDS = 14 * 24 * 3600
# SQS counts retention from the original enqueue, also on the DLQ, so the source must keep messages for less.
PROCESSING_RETENTION_SECONDS = 4 * 24 * 3600
# Long polling: fewer empty receives for any consumer that is not Lambda (Lambda long-polls by itself).
RECEIVE_WAIT_SECONDS = 20


@dataclass(frozen=True)
class TaskQueuesArgs:
    """Inputs of the queue pair."""

    name_prefix: str
    visibility_timeout: int
    dlq_visibility_timeout: int
    max_receive_count: int


class TaskQueues(pulumi.ComponentResource):
    """The processing queue, whose failures go to the dead-letter queue after `max_receive_count` receives."""

    processing_queue: aws.sqs.Queue
    dead_letter_queue: aws.sqs.Queue

    def __init__(self, name: str, args: TaskQueuesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("tasktrail:index:TaskQueues", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.dead_letter_queue = aws.sqs.Queue(
            f"{name}-dlq",
            name=queue_name(args.name_prefix, "dlq"),
            visibility_timeout_seconds=args.dlq_visibility_timeout,
            message_retention_seconds=DLQ_RETENTION_SECONDS,
            receive_wait_time_seconds=RECEIVE_WAIT_SECONDS,
            sqs_managed_sse_enabled=True,
            opts=fixed_name_options(self),
        )
        self.processing_queue = aws.sqs.Queue(
            f"{name}-processing",
            name=queue_name(args.name_prefix, "processing"),
            visibility_timeout_seconds=args.visibility_timeout,
            message_retention_seconds=PROCESSING_RETENTION_SECONDS,
            receive_wait_time_seconds=RECEIVE_WAIT_SECONDS,
            sqs_managed_sse_enabled=True,
            redrive_policy=pulumi.Output.json_dumps(
                {"deadLetterTargetArn": self.dead_letter_queue.arn, "maxReceiveCount": args.max_receive_count}
            ),
            opts=fixed_name_options(self),
        )
        # A resource of its own: on the DLQ it would need the processing queue's ARN, which needs the DLQ's.
        self.redrive_allow_policy = aws.sqs.RedriveAllowPolicy(
            f"{name}-dlq-redrive-allow",
            queue_url=self.dead_letter_queue.url,
            redrive_allow_policy=pulumi.Output.json_dumps(
                {"redrivePermission": "byQueue", "sourceQueueArns": [self.processing_queue.arn]}
            ),
            opts=child,
        )

        self.register_outputs(
            {
                "processingQueueUrl": self.processing_queue.url,
                "deadLetterQueueUrl": self.dead_letter_queue.url,
            }
        )
