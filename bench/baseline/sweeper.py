"""Baseline sweeper: the processing queue's depth, then each QUEUED shard of the status index within the lookback."""

import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from baseline._items import STATUS_SHARDS

TABLE = os.environ["AUDIT_TABLE_NAME"]
QUEUE_URL = os.environ["PROCESSING_QUEUE_URL"]
REENQUEUE_AFTER = float(os.environ.get("REENQUEUE_AFTER_SECONDS", "30"))
STRANDED_AFTER = float(os.environ.get("STRANDED_AFTER_SECONDS", "900"))
LOOKBACK = int(os.environ.get("SWEEP_LOOKBACK_SECONDS", "86400"))
DEPTH = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"]
dynamodb: Any = boto3.client("dynamodb")  # untyped, as a seed would write it
sqs: Any = boto3.client("sqs")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    depth = sqs.get_queue_attributes(QueueUrl=QUEUE_URL, AttributeNames=DEPTH)["Attributes"]
    empty = all(int(depth.get(name, "0")) == 0 for name in DEPTH)
    wait = min(REENQUEUE_AFTER, STRANDED_AFTER) if empty else STRANDED_AFTER
    since, until = _at(now - timedelta(seconds=LOOKBACK)), _at(now - timedelta(seconds=wait))
    examined = 0
    for shard in range(STATUS_SHARDS):
        page = dynamodb.query(
            TableName=TABLE,
            IndexName="byStatus",
            KeyConditionExpression="#pk = :pk AND #at BETWEEN :since AND :until",
            ExpressionAttributeNames={"#pk": "statusShard", "#at": "at"},
            ExpressionAttributeValues={":pk": {"S": f"QUEUED#{shard}"}, ":since": {"S": since}, ":until": {"S": until}},
            ScanIndexForward=False,
            Limit=50,
        )
        examined += len(page["Items"])
    result = {"queueEmpty": empty, "examined": examined, "resent": [], "failed": [], "complete": True}
    print(json.dumps({"level": "INFO", "message": "sweep done", **result}))
    return result


def _at(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
