"""Policies on the audit table: the schema constants, on-demand, PITR, encryption, deletion protection."""

from __future__ import annotations

from handlers.dal import schema
from tests.infra.harness import ProgramRun

TABLE = "aws:dynamodb/table:Table"


def test_table_keys_come_from_the_shared_schema(default_run: ProgramRun) -> None:
    table = default_run.named(TABLE, default_run.physical("audit"))
    assert (table["hashKey"], table["rangeKey"]) == ("taskId", "sk")
    assert (table["hashKey"], table["rangeKey"]) == (schema.TABLE_PARTITION_KEY, schema.TABLE_SORT_KEY)
    assert sorted((attribute["name"], attribute["type"]) for attribute in table["attributes"]) == [
        ("at", "S"),
        ("sk", "S"),
        ("statusShard", "S"),
        ("taskId", "S"),
    ]


def test_status_index_is_sharded_and_projects_everything(default_run: ProgramRun) -> None:
    table = default_run.named(TABLE, default_run.physical("audit"))
    (index,) = table["globalSecondaryIndexes"]
    assert index["name"] == schema.STATUS_INDEX_NAME == "byStatus"
    assert [(key["attributeName"], key["keyType"]) for key in index["keySchemas"]] == [
        (schema.STATUS_INDEX_PK, "HASH"),
        (schema.STATUS_INDEX_SK, "RANGE"),
    ]
    assert index["projectionType"] == "ALL"


def test_table_is_on_demand_recoverable_and_encrypted(default_run: ProgramRun) -> None:
    table = default_run.named(TABLE, default_run.physical("audit"))
    assert table["billingMode"] == "PAY_PER_REQUEST"
    assert table["pointInTimeRecovery"] == {"enabled": True}
    assert table["serverSideEncryption"]["enabled"] is True


def test_deletion_protection_follows_config(default_run: ProgramRun, local_run: ProgramRun) -> None:
    assert default_run.named(TABLE, default_run.physical("audit"))["deletionProtectionEnabled"] is True
    assert local_run.named(TABLE, local_run.physical("audit"))["deletionProtectionEnabled"] is False
