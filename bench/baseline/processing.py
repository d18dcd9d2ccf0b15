"""Baseline processing: each record's task runs (a no-op, as the default worker's) and SUCCEEDED is recorded."""

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
            process(record)
        except Exception:  # noqa: BLE001 - a failed record is reported, the others go on
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}


def process(record: dict[str, Any]) -> None:
    """Run the record's task and record SUCCEEDED."""
    task = json.loads(record["body"])
    attempt = int(record["attributes"].get("ApproximateReceiveCount", "1"))
    succeeded = item(str(task["taskId"]), "SUCCEEDED", TERMINAL_SLOT, status="SUCCEEDED", attempt=attempt)
    conditional_put(dynamodb, TABLE, succeeded)
    print(json.dumps({"level": "INFO", "message": "task succeeded", "taskId": task["taskId"]}))
