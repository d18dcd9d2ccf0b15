"""Baseline gateway: POST /tasks records RECEIVED and sends the task (one conditional put, one send)."""

import hashlib
import json
import os
from typing import Any

import boto3

from baseline._items import conditional_put, item

TABLE = os.environ["AUDIT_TABLE_NAME"]
QUEUE_URL = os.environ["PROCESSING_QUEUE_URL"]
dynamodb: Any = boto3.client("dynamodb")  # untyped, as a seed would write it
sqs: Any = boto3.client("sqs")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        body = json.loads(event.get("body") or "")
        task_id, payload = str(body["taskId"]), body["payload"]
        if not isinstance(payload, dict):
            raise TypeError("payload")
    except (ValueError, KeyError, TypeError) as exc:
        return _answer(400, {"error": f"bad request: {exc}"})
    return _answer(202, accept(task_id, payload))


def accept(task_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Record RECEIVED and send the task; the 202's body."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    received = item(
        task_id,
        "RECEIVED",
        slot=0,
        status="QUEUED",
        payload=canonical,
        payloadHash=hashlib.sha256(canonical.encode()).hexdigest(),
    )
    conditional_put(dynamodb, TABLE, received)
    sqs.send_message(QueueUrl=QUEUE_URL, MessageBody=json.dumps({"taskId": task_id, "payload": payload, "life": 0}))
    print(json.dumps({"level": "INFO", "message": "task received", "taskId": task_id}))
    return {"taskId": task_id, "status": "QUEUED", "receivedAt": received["at"]["S"]}


def _answer(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}
