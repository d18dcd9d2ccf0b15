"""Real-shaped Lambda events for the handlers: API Gateway REST proxy requests, and SQS batches built from
messages actually received from moto's SQS (so receipt handles and receive counts are real)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"


@dataclass
class FakeLambdaContext:
    """The attributes Powertools reads from Lambda's context object."""

    function_name: str = "tasktrail-test"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:tasktrail-test"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/tasktrail-test"
    log_stream_name: str = "2026/11/29/[$LATEST]0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def api_event(
    method: str,
    path: str,
    body: str | bytes | None = None,
    *,
    content_type: str | None = "application/json",
    base64_body: bool = False,
    resource: str | None = None,
    path_parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A REST API (v1) AWS_PROXY event as API Gateway sends it for `path` (the full /api/v1/... path)."""
    headers = {"Host": "abc123.execute-api.us-east-1.amazonaws.com", "User-Agent": "pytest", "Accept": "*/*"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    if isinstance(body, bytes):  # sent base64-encoded, as API Gateway does for binary media; a str is sent as is
        body, base64_body = base64.b64encode(body).decode(), True
    return {
        "resource": resource or path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "abc123",
            "httpMethod": method,
            "path": f"/prod{path}",
            "protocol": "HTTP/1.1",
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(time.time() * 1000),
            "resourceId": "res123",
            "resourcePath": resource or path,
            "stage": "prod",
            "identity": {"sourceIp": "127.0.0.1", "userAgent": "pytest", "apiKey": "test-key"},
        },
        "body": body,
        "isBase64Encoded": base64_body,
    }


def post_task_event(body: Any, **kwargs: Any) -> dict[str, Any]:
    """POST /api/v1/tasks with `body` as JSON (or as given, when it is already str or bytes)."""
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    return api_event("POST", "/api/v1/tasks", raw, **kwargs)


def get_task_event(task_id: str) -> dict[str, Any]:
    """GET /api/v1/tasks/{taskId}."""
    return api_event(
        "GET",
        f"/api/v1/tasks/{task_id}",
        content_type=None,
        resource="/api/v1/tasks/{taskId}",
        path_parameters={"taskId": task_id},
    )


def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """One record of an SQS event source mapping batch, from a ReceiveMessage result."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message["Attributes"],
        "messageAttributes": {
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": value.get("BinaryValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value["DataType"],
            }
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def scheduled_event() -> dict[str, Any]:
    """What EventBridge sends a scheduled rule's target (the sweeper) on each tick."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": "2026-11-29T04:00:00Z",
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/tasktrail-test-sweeper-schedule"],
        "detail": {},
    }
