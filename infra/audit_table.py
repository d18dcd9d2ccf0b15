"""The append-only audit table: one partition per task, events sorted by lifecycle, a sharded status index."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from handlers.dal import schema
from infra.naming import table_name


@dataclass(frozen=True)
class AuditTableArgs:
    """Inputs of the audit table."""

    name_prefix: str
    deletion_protection: bool


class AuditTable(pulumi.ComponentResource):
    """The DynamoDB table every handler appends lifecycle events to; its key schema comes from handlers.dal.schema."""

    table: aws.dynamodb.Table

    def __init__(self, name: str, args: AuditTableArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("tasktrail:index:AuditTable", name, None, opts)

        self.table = aws.dynamodb.Table(
            f"{name}-table",
            name=table_name(args.name_prefix),
            billing_mode="PAY_PER_REQUEST",
            hash_key=schema.TABLE_PARTITION_KEY,
            range_key=schema.TABLE_SORT_KEY,
            attributes=[
                aws.dynamodb.TableAttributeArgs(name=key, type=kind) for key, kind in schema.KEY_ATTRIBUTE_TYPES.items()
            ],
            global_secondary_indexes=[
                # Sparse and sharded: only status-setting events carry the shard key, spread over
                # STATUS_SHARDS partitions so that e.g. a burst of dead letters is not one hot key.
                aws.dynamodb.TableGlobalSecondaryIndexArgs(
                    name=schema.STATUS_INDEX_NAME,
                    key_schemas=[
                        aws.dynamodb.TableGlobalSecondaryIndexKeySchemaArgs(
                            attribute_name=schema.STATUS_INDEX_PK, key_type="HASH"
                        ),
                        aws.dynamodb.TableGlobalSecondaryIndexKeySchemaArgs(
                            attribute_name=schema.STATUS_INDEX_SK, key_type="RANGE"
                        ),
                    ],
                    projection_type="ALL",
                )
            ],
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
            # Every write, with the item before and after, feeds the digest function (infra/digests.py): a MODIFY or a
            # REMOVE, which the handlers never make, is seen at once and recorded in that period's digest.
            stream_enabled=True,
            stream_view_type="NEW_AND_OLD_IMAGES",
            # Enabled without a key ARN: the AWS-managed aws/dynamodb KMS key, no key policy to maintain.
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True),
            deletion_protection_enabled=args.deletion_protection,
            # The one fixed name that is not delete-before-replace (infra/naming.py): a replacement of this table
            # would be a new, empty record. Created before the old one is deleted, it fails on the name ("Table
            # already exists") before anything is lost; moving the record to a new table is an operator's decision.
            opts=pulumi.ResourceOptions(parent=self),
        )

        self.register_outputs(
            {"tableName": self.table.name, "tableArn": self.table.arn, "streamArn": self.table.stream_arn}
        )
