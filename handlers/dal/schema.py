"""Key schema of the audit table: the one source of truth for the infrastructure, the data access layer and tests."""

from typing import Any

# Partition: one task's whole history; sort: a deterministic event key, ordered as the task's lifecycle.
TABLE_PARTITION_KEY = "taskId"
TABLE_SORT_KEY = "sk"

# Sparse index of status-setting events, sharded so that no status is a hot partition.
STATUS_INDEX_NAME = "byStatus"
STATUS_INDEX_PK = "statusShard"
STATUS_INDEX_SK = "at"
STATUS_SHARDS = 8

# Every key attribute above is a string (DynamoDB type "S").
KEY_ATTRIBUTE_TYPES = {
    TABLE_PARTITION_KEY: "S",
    TABLE_SORT_KEY: "S",
    STATUS_INDEX_PK: "S",
    STATUS_INDEX_SK: "S",
}

# Sort key layout "LLLL#SSSSS#RRR": life (redrive generation), slot, rank within the slot; zero-padded so that the
# string order is the lifecycle order. Slot 0 holds the gateway's events (RECEIVED or REDRIVEN first), slot n
# attempt n, and TERMINAL_SLOT the one terminal event of a life (SUCCEEDED or DEAD_LETTERED share its key, so a
# conditional put lets only the first of them in) followed by CLEANED_UP.
SORT_KEY_FORMAT = "{life:04d}#{slot:05d}#{rank:03d}"
GATEWAY_SLOT = 0
TERMINAL_SLOT = 99999
MAX_LIFE = 9999
MAX_RANK = 999

# The outbox reconciler's checkpoints (handlers.logic.sweep) are appended to the audit table too, one partition per
# status index shard, under keys no task can have: "#" is outside the task id alphabet (handlers.models.input).
CHECKPOINT_PARTITION_PREFIX = "#checkpoint#"


def create_table_request(name: str) -> dict[str, Any]:
    """A CreateTable request for the audit table with these keys and index, on demand: what the tests and the benches
    create in an emulator (infra/audit_table.py declares the deployed one from the same constants)."""
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": attribute, "AttributeType": kind} for attribute, kind in KEY_ATTRIBUTE_TYPES.items()
        ],
        "KeySchema": [
            {"AttributeName": TABLE_PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": TABLE_SORT_KEY, "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": STATUS_INDEX_NAME,
                "KeySchema": [
                    {"AttributeName": STATUS_INDEX_PK, "KeyType": "HASH"},
                    {"AttributeName": STATUS_INDEX_SK, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    }
