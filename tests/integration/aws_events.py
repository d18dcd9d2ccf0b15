"""Real-shaped Lambda events for the handlers' tests, built by the local cloud's own builders (one set of AWS event
shapes for both): API Gateway REST proxy requests, SQS batches from messages actually received from moto's SQS (so
receipt handles and receive counts are real), and EventBridge's scheduled event."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from handlers.models.contract import STAGE_NAME
from local.deploy.topology import ApiSpec, RouteSpec, ScheduleSpec
from local.emulator.account import ACCOUNT_ID, REGION
from local.services.apigateway import proxy_event
from local.services.events import scheduled_event as eventbridge_scheduled_event
from local.services.lambda_.event_source_mapping.sqs_poller import sqs_record

__all__ = ["FakeLambdaContext", "api_event", "get_task_event", "post_task_event", "scheduled_event", "sqs_record"]

ACCOUNT = ACCOUNT_ID
API = ApiSpec(id="abc123", stage=STAGE_NAME, routes=[], api_keys=[])


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
    """A REST API (v1) AWS_PROXY event as API Gateway sends it for `path` (the full /api/v1/... path). Bytes that
    are not UTF-8 go base64-encoded, as API Gateway sends them; `base64_body` marks a str body as base64 as is."""
    headers = [("Host", f"{API.id}.execute-api.{REGION}.amazonaws.com"), ("User-Agent", "pytest"), ("Accept", "*/*")]
    if content_type is not None:
        headers.append(("Content-Type", content_type))
    route = RouteSpec(resource or path, "res123", method, None, api_key_required=False, authorization="NONE")
    raw = body.encode() if isinstance(body, str) else (body or b"")
    event = proxy_event(API, route, method, path, "", headers, raw, path_parameters or {}, "127.0.0.1")
    if base64_body:
        event["body"], event["isBase64Encoded"] = body, True
    elif isinstance(body, bytes) and not event["isBase64Encoded"]:
        event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    return event


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


SWEEPER_SCHEDULE = ScheduleSpec(
    rule_name="tasktrail-test-sweeper-schedule",
    rule_arn=f"arn:aws:events:{REGION}:{ACCOUNT}:rule/tasktrail-test-sweeper-schedule",
    expression="rate(5 minutes)",
    function_name="tasktrail-test-sweeper",
    enabled=True,
)


def scheduled_event() -> dict[str, Any]:
    """What EventBridge sends a scheduled rule's target (the sweeper) on each tick."""
    return eventbridge_scheduled_event(SWEEPER_SCHEDULE, at=datetime(2026, 11, 29, 4, 0, tzinfo=UTC))
