"""Key schema of the audit table: the one source of truth for the infrastructure, the data access layer and tests."""

# Partition: one task's whole history; sort: a deterministic event key, ordered as the task's lifecycle.
TABLE_PARTITION_KEY = "taskId"
TABLE_SORT_KEY = "sk"

# Sparse index of status-setting events, sharded so that no status is a hot partition.
STATUS_INDEX_NAME = "byStatus"
STATUS_INDEX_PK = "statusShard"
STATUS_INDEX_SK = "at"
STATUS_SHARDS = 8
