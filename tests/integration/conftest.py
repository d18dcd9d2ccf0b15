"""Handlers under moto: the audit table built from handlers.dal.schema, the two queues with their redrive, the
functions' environment, and an event source mapping stand-in that delivers real received messages."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core.botocore_stubber import BotocoreStubber

# Read by Powertools when the handler modules are imported, so set before any test module imports them.
os.environ.update(
    {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_SERVICE_NAME": "tasktrail-test",
        "POWERTOOLS_METRICS_NAMESPACE": "tasktrail",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
)
os.environ.pop("AWS_ENDPOINT_URL", None)

from handlers import dlq, gateway, processing, sweeper  # noqa: E402 - after the environment above
from handlers.dal import clients, schema  # noqa: E402
from handlers.dal.audit_store import AuditStore  # noqa: E402
from handlers.dal.queue import TaskQueue  # noqa: E402
from handlers.logic.worker import load_worker  # noqa: E402
from handlers.models import settings  # noqa: E402
from local.emulator import dynamodb as emulated_dynamodb  # noqa: E402
from tests.integration.aws_events import (  # noqa: E402
    FakeLambdaContext,
    get_task_event,
    post_task_event,
    scheduled_event,
    sqs_record,
)

# moto's backends are not thread-safe, and the sweeper reads its index shards from a thread each: one request at a
# time, as the local cloud's emulator serialises them (local/emulator/server.py).
_moto_lock = threading.Lock()
_process_request = BotocoreStubber.process_request


def _one_request_at_a_time(self: BotocoreStubber, request: Any) -> Any:
    with _moto_lock:
        return _process_request(self, request)


BotocoreStubber.process_request = _one_request_at_a_time  # type: ignore[method-assign]

# DynamoDB as the local cloud's emulator answers it: moto with the narrow patches that make it answer as AWS does
# (a key condition whose BETWEEN bounds cross is refused, for one), so that a handler that passes here does not fail
# there, nor on AWS.
emulated_dynamodb.install()

TABLE = "tasktrail-test-audit"
BASE_VISIBILITY = 30
MAX_RECEIVE_COUNT = 2


def create_audit_table(dynamodb: Any, name: str) -> None:
    """The audit table as infra declares it, from the same schema constants."""
    dynamodb.create_table(**schema.create_table_request(name))


def clear_settings() -> None:
    """Settings and the worker are cached per process, as on Lambda: drop them when the environment changes."""
    for cached in (
        settings.call_settings,
        settings.gateway_settings,
        settings.processing_settings,
        settings.dead_letter_settings,
        settings.sweeper_settings,
        load_worker,
    ):
        cached.cache_clear()


def clear_clients() -> None:
    """Each test gets boto3 clients of its own moto account."""
    clients.dynamodb.cache_clear()
    clients.sqs.cache_clear()


@dataclass
class Cloud:
    """moto's AWS with tasktrail's table and queues, and ways to drive the three handlers."""

    dynamodb: Any
    sqs: Any
    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str
    monkeypatch: pytest.MonkeyPatch

    @property
    def store(self) -> AuditStore:
        """The audit table through the handlers' own DynamoDB client, as the functions reach it."""
        return AuditStore(clients.dynamodb(), TABLE)

    def task_queue(self, queue_url: str | None = None) -> TaskQueue:
        """The processing queue (or another) through the handlers' own SQS client."""
        return TaskQueue(clients.sqs(), queue_url or self.queue_url)

    def setenv(self, **values: str) -> None:
        """Change the functions' environment (as a redeploy would) and drop the cached settings."""
        for name, value in values.items():
            self.monkeypatch.setenv(name, value)
        clear_settings()

    # --- gateway ---------------------------------------------------------------------------------------------
    def invoke_gateway(self, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Invoke the gateway; (status, JSON body)."""
        response = gateway.handler(event, FakeLambdaContext(function_name="tasktrail-test-gateway"))
        return response["statusCode"], json.loads(response["body"])

    def post(self, body: Any, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        """POST /api/v1/tasks."""
        return self.invoke_gateway(post_task_event(body, **kwargs))

    def get(self, task_id: str) -> tuple[int, dict[str, Any]]:
        """GET /api/v1/tasks/{taskId}."""
        return self.invoke_gateway(get_task_event(task_id))

    # --- sweeper ---------------------------------------------------------------------------------------------
    def sweep(self) -> dict[str, Any]:
        """One tick of the sweeper's schedule: its result (queueEmpty, examined, resent, failed, complete)."""
        result: dict[str, Any] = sweeper.handler(
            scheduled_event(), FakeLambdaContext(function_name="tasktrail-test-sweeper")
        )
        return result

    # --- queues ----------------------------------------------------------------------------------------------
    def receive(self, queue_url: str | None = None, max_messages: int = 10) -> list[dict[str, Any]]:
        """Receive as the event source mapping does (all attributes), without waiting."""
        response = self.sqs.receive_message(
            QueueUrl=queue_url or self.queue_url,
            MaxNumberOfMessages=max_messages,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
            WaitTimeSeconds=0,
        )
        return list(response.get("Messages", []))

    def batch(self, messages: list[dict[str, Any]], queue_arn: str | None = None) -> dict[str, Any]:
        """The Lambda event for these received messages."""
        return {"Records": [sqs_record(message, queue_arn or self.queue_arn) for message in messages]}

    def deliver(
        self, handler: Callable[[dict[str, Any], Any], dict[str, Any]], messages: list[dict[str, Any]], arn: str
    ) -> dict[str, Any]:
        """Invoke `handler` with the batch, then delete what it did not report failed, as the mapping does."""
        result = handler(self.batch(messages, arn), FakeLambdaContext())
        failed = {item["itemIdentifier"] for item in result["batchItemFailures"]}
        url = self.queue_url if arn == self.queue_arn else self.dlq_url
        for message in messages:
            if message["MessageId"] not in failed:
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return result

    def process(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        """One processing invocation over these processing-queue messages."""
        return self.deliver(processing.handler, messages, self.queue_arn)

    def drain_dlq(self) -> dict[str, Any]:
        """One DLQ invocation over what the dead-letter queue holds."""
        return self.deliver(dlq.handler, self.receive(self.dlq_url), self.dlq_arn)

    def fast_forward(self, message: dict[str, Any]) -> None:
        """End the message's backoff now (instead of sleeping n x base seconds)."""
        self.sqs.change_message_visibility(
            QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )

    def queue_depth(self, queue_url: str | None = None) -> int:
        """Visible plus in-flight messages."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=queue_url or self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])

    # --- audit table -----------------------------------------------------------------------------------------
    def items(self, task_id: str | None = None) -> list[dict[str, Any]]:
        """Raw audit items (of one task, in key order; or all of them)."""
        if task_id is None:
            return list(self.dynamodb.scan(TableName=TABLE).get("Items", []))
        return list(
            self.dynamodb.query(
                TableName=TABLE,
                KeyConditionExpression="#pk = :pk",
                ExpressionAttributeNames={"#pk": schema.TABLE_PARTITION_KEY},
                ExpressionAttributeValues={":pk": {"S": task_id}},
            )["Items"]
        )

    def types(self, task_id: str) -> list[str]:
        """The task's event types in history order."""
        return [item["type"]["S"] for item in self.items(task_id)]


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[Cloud]:
    """A fresh moto account with tasktrail's resources and the functions' environment."""
    clear_clients()
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        create_audit_table(dynamodb, TABLE)
        dlq_url = sqs.create_queue(QueueName="tasktrail-test-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}
        queue_url = sqs.create_queue(
            QueueName="tasktrail-test-processing",
            Attributes={"VisibilityTimeout": str(BASE_VISIBILITY), "RedrivePolicy": json.dumps(redrive)},
        )["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        environment = {
            "AUDIT_TABLE_NAME": TABLE,
            "LOG_PAYLOADS": "false",
            "PROCESSING_QUEUE_URL": queue_url,
            "DEAD_LETTER_QUEUE_URL": dlq_url,
            "MAX_BODY_BYTES": "262144",
            "BASE_VISIBILITY_TIMEOUT": str(BASE_VISIBILITY),
            "MAX_RECEIVE_COUNT": str(MAX_RECEIVE_COUNT),
            "FAULT_INJECTION": "true",
            "TASK_WORKER": "handlers.logic.work:run_task",
        }
        cloud = Cloud(dynamodb, sqs, queue_url, queue_arn, dlq_url, dlq_arn, monkeypatch)
        cloud.setenv(**environment)
        yield cloud
    clear_settings()
    clear_clients()
