"""The audit table's item shape, written out by hand so that the baselines ask DynamoDB for the same work as the
functions (same attributes, same condition, same index entries)."""

import zlib
from datetime import UTC, datetime
from typing import Any

STATUS_SHARDS = 8
TERMINAL_SLOT = 99999


def now_at() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def item(task_id: str, kind: str, slot: int, rank: int = 0, status: str | None = None, **fields: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "taskId": {"S": task_id},
        "sk": {"S": f"0000#{slot:05d}#{rank:03d}"},
        "type": {"S": kind},
        "at": {"S": now_at()},
        "life": {"N": "0"},
    }
    if status is not None:
        values["statusShard"] = {"S": f"{status}#{zlib.crc32(task_id.encode()) % STATUS_SHARDS}"}
    for name, value in fields.items():
        values[name] = {"N": str(value)} if isinstance(value, int) else {"S": value}
    return values


def conditional_put(client: Any, table: str, values: dict[str, Any]) -> None:
    try:
        client.put_item(
            TableName=table,
            Item=values,
            ConditionExpression="attribute_not_exists(#sk)",
            ExpressionAttributeNames={"#sk": "sk"},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except client.exceptions.ConditionalCheckFailedException:
        pass  # a redelivery: already recorded
