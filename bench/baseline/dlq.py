"""Baseline dead-letter consumer: read the task's history for its last error, record DEAD_LETTERED and CLEANED_UP."""

import json
import os
from typing import Any

import boto3

from baseline._items import TERMINAL_SLOT, conditional_put, item

TABLE = os.environ["AUDIT_TABLE_NAME"]
dynamodb: Any = boto3.client("dynamodb")  # untyped, as a seed would write it


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    failures = []
    for record in event["Records"]:
        try:
            dead_letter(record)
        except Exception:  # noqa: BLE001 - a failed record is reported, the others go on
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}


def dead_letter(record: dict[str, Any]) -> None:
    """Read the task's history for its last error; record DEAD_LETTERED and CLEANED_UP."""
    task_id = str(json.loads(record["body"])["taskId"])
    history = dynamodb.query(
        TableName=TABLE,
        KeyConditionExpression="#pk = :pk",
        ExpressionAttributeNames={"#pk": "taskId"},
        ExpressionAttributeValues={":pk": {"S": task_id}},
        ConsistentRead=True,
    )["Items"]
    retries = [event for event in history if event["type"]["S"] == "RETRY_SCHEDULED"]
    fields: dict[str, Any] = {"attempts": max(2, len(retries)), "message": record["body"]}
    if retries:
        fields["lastError"] = retries[-1].get("error", {}).get("S", "")
    dead = item(task_id, "DEAD_LETTERED", TERMINAL_SLOT, status="DEAD_LETTERED", **fields)
    conditional_put(dynamodb, TABLE, dead)
    conditional_put(dynamodb, TABLE, item(task_id, "CLEANED_UP", TERMINAL_SLOT, rank=1))
    print(json.dumps({"level": "ERROR", "message": "task dead-lettered", "taskId": task_id}))
