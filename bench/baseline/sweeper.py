"""Baseline sweeper: the processing queue's depth, then each QUEUED shard of the status index from its checkpoint,
as the checkpointed reconciler reads it (handlers/logic/sweep.py): the shard's last checkpoint, the entries from
there (or the lookback) up to the guaranteed cut-off, and, when the queue is empty, the younger entries up to the
gateway's timeout. One shard after another, as a seed would write it."""

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
ENTRY = ["taskId", "sk", "type", "at", "life", "attempt", "statusShard"]
dynamodb: Any = boto3.client("dynamodb")  # untyped, as a seed would write it
sqs: Any = boto3.client("sqs")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = sweep()
    print(json.dumps({"level": "INFO", "message": "sweep done", **result}))
    return result


def sweep() -> dict[str, Any]:
    """Read what the reconciler reads; what it found."""
    now = datetime.now(UTC)
    depth = sqs.get_queue_attributes(QueueUrl=QUEUE_URL, AttributeNames=DEPTH)["Attributes"]
    empty = all(int(depth.get(name, "0")) == 0 for name in DEPTH)
    due = _at(now - timedelta(seconds=STRANDED_AFTER))
    early = _at(now - timedelta(seconds=min(REENQUEUE_AFTER, STRANDED_AFTER))) if empty else None
    examined = 0
    for shard in range(STATUS_SHARDS):
        partition = f"QUEUED#{shard}"
        checkpoint = dynamodb.query(
            TableName=TABLE,
            KeyConditionExpression="#pk = :pk",
            ExpressionAttributeNames={"#pk": "taskId"},
            ExpressionAttributeValues={":pk": {"S": f"#checkpoint#{partition}"}},
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        )["Items"]
        since = checkpoint[0]["indexAt"]["S"] if checkpoint else _at(now - timedelta(seconds=LOOKBACK))
        examined += _entries(partition, since, due)
        if early is not None and early > due:
            examined += _entries(partition, due, early)
    return {"queueEmpty": empty, "examined": examined, "resent": [], "failed": [], "complete": True}


def _entries(partition: str, since: str, until: str) -> int:
    page = dynamodb.query(
        TableName=TABLE,
        IndexName="byStatus",
        KeyConditionExpression="#pk = :pk AND #at BETWEEN :since AND :until",
        ProjectionExpression=", ".join(f"#{n}" for n in range(len(ENTRY))),
        ExpressionAttributeNames={"#pk": "statusShard", "#at": "at", **{f"#{n}": name for n, name in enumerate(ENTRY)}},
        ExpressionAttributeValues={":pk": {"S": partition}, ":since": {"S": since}, ":until": {"S": until}},
        ScanIndexForward=True,
        Limit=500,
    )
    return len(page["Items"])


def _at(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
