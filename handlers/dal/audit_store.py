"""The audit store: append-only, idempotent writes of task events and paged, ordered reads of a history."""

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from handlers.dal.keys import checkpoint_partition, parse_sort_key, sort_key, status_shard
from handlers.dal.mac_keys import MacKeys, mac_keys
from handlers.dal.schema import (
    STATUS_INDEX_NAME,
    STATUS_INDEX_PK,
    STATUS_INDEX_SK,
    TABLE_PARTITION_KEY,
    TABLE_SORT_KEY,
)
from handlers.errors import AuditStoreUnavailableError
from handlers.models.events import STATUS_SET_BY, AuditEvent, EventType
from handlers.models.integrity import MAC_ATTRIBUTE, event_mac, mac_day
from handlers.models.settings import FunctionSettings
from handlers.models.timestamps import now_at

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, QueryInputTypeDef


# BatchGetItem's limit of keys per call (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html).
BATCH_GET_KEYS = 100
UNPROCESSED_RETRIES = 3
UNPROCESSED_BACKOFF_SECONDS = 0.05
# The `type` of a reconciler checkpoint item: not an event, and in no task's history.
CHECKPOINT_TYPE = "RECONCILER_CHECKPOINT"


class IndexPosition(NamedTuple):
    """Where a read of a status index partition stopped: the last event read, by its keys."""

    at: str
    task_id: str
    sort_key: str


def position_of(event: AuditEvent) -> IndexPosition:
    """The status index position of a stored event."""
    return IndexPosition(event.at, event.task_id, sort_key(event.life, event.slot, event.rank))


# What every event item has (and an index entry is read with): the rest are the event's own fields.
ENTRY_ATTRIBUTES = (TABLE_PARTITION_KEY, TABLE_SORT_KEY, "type", STATUS_INDEX_SK, "life", "attempt", STATUS_INDEX_PK)
_BASE_ATTRIBUTES = {*ENTRY_ATTRIBUTES, MAC_ATTRIBUTE}


class AuditStore:
    """The audit table of one stack, through one DynamoDB client: the functions' (handlers.dal.clients), or an
    operator's own for a deployed or local stack. With `mac_keys`, every event it appends carries its MAC."""

    def __init__(self, client: "DynamoDBClient", table: str, mac_keys: MacKeys | None = None) -> None:
        self.client = client
        self.table = table
        self.mac_keys = mac_keys

    @classmethod
    def of_function(cls, settings: FunctionSettings) -> "AuditStore":
        """The store a function appends to: its table, through the functions' client, with its MAC keys."""
        from handlers.dal import clients

        keys = mac_keys(settings.event_mac_key_id, settings.audit_table_name) if settings.event_mac_key_id else None
        return cls(clients.dynamodb(), settings.audit_table_name, keys)

    def item(self, event: AuditEvent) -> dict[str, "AttributeValueTypeDef"]:
        """The item `append` writes for the event, its MAC included when the store has keys."""
        return self._signed(_to_item(event))

    def _signed(self, item: dict[str, "AttributeValueTypeDef"]) -> dict[str, "AttributeValueTypeDef"]:
        if self.mac_keys is not None:
            at = str(item[STATUS_INDEX_SK]["S"])
            item[MAC_ATTRIBUTE] = {"S": event_mac(self.mac_keys.key_for(mac_day(at)), item)}
        return item

    def append(self, event: AuditEvent) -> AuditEvent | None:
        """Write the event unless its key is taken. None when written; else the event already stored under that key
        (a redelivery, a duplicate POST, or the other terminal event of the life), learnt from the failed put."""
        stored = self._put_new(self.item(event))
        if stored is None:
            return None
        # DynamoDB returns the stored item when asked (ALL_OLD); were it missing, the key's event is taken as ours.
        return _from_item(stored) if stored else event

    def _put_new(self, item: dict[str, "AttributeValueTypeDef"]) -> dict[str, Any] | None:
        """Put the item unless its key is taken: None when written, else what is stored there (empty if unknown)."""
        try:
            self.client.put_item(
                TableName=self.table,
                Item=item,
                ConditionExpression="attribute_not_exists(#sk)",
                ExpressionAttributeNames={"#sk": TABLE_SORT_KEY},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise AuditStoreUnavailableError(f"audit table write failed: {exc}") from exc
            stored: dict[str, Any] = exc.response.get("Item") or {}  # type: ignore[assignment]
            return stored
        except BotoCoreError as exc:
            raise AuditStoreUnavailableError(f"audit table write failed: {exc}") from exc
        return None

    def existing_keys(self, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of these (task id, sort key) pairs hold an item, in BatchGetItem calls of up to BATCH_GET_KEYS keys,
        eventually consistent (half the read units of a consistent read). Keys DynamoDB leaves unprocessed after
        UNPROCESSED_RETRIES retries count as missing: a caller that treats a miss as "read the history" loses
        nothing by it."""
        wanted = list(dict.fromkeys(keys))
        found: set[tuple[str, str]] = set()
        names = {"#pk": TABLE_PARTITION_KEY, "#sk": TABLE_SORT_KEY}
        try:
            for start in range(0, len(wanted), BATCH_GET_KEYS):
                chunk = wanted[start : start + BATCH_GET_KEYS]
                request: dict[str, Any] = {
                    self.table: {
                        "Keys": [{TABLE_PARTITION_KEY: {"S": pk}, TABLE_SORT_KEY: {"S": sk}} for pk, sk in chunk],
                        "ProjectionExpression": "#pk, #sk",
                        "ExpressionAttributeNames": names,
                    }
                }
                for retry in range(UNPROCESSED_RETRIES + 1):
                    page = self.client.batch_get_item(RequestItems=request)
                    items = page.get("Responses", {}).get(self.table, [])
                    found |= {(item[TABLE_PARTITION_KEY]["S"], item[TABLE_SORT_KEY]["S"]) for item in items}
                    request = dict(page.get("UnprocessedKeys") or {})
                    if not request or retry == UNPROCESSED_RETRIES:
                        break
                    # AWS asks for a backoff before retrying unprocessed keys (throttling is their usual cause).
                    time.sleep(UNPROCESSED_BACKOFF_SECONDS * 2**retry)
        except (BotoCoreError, ClientError) as exc:
            raise AuditStoreUnavailableError(f"audit table batch read failed: {exc}") from exc
        return found

    def append_checkpoint(self, index_partition: str, position: "IndexPosition") -> None:
        """Record that the reconciler has examined every entry of the index partition up to `position`: a new item
        each time (the table is append-only), keyed by the position, so that the newest is the furthest, and two
        runs that reach the same entry write it once."""
        at = now_at()
        item: dict[str, AttributeValueTypeDef] = {
            TABLE_PARTITION_KEY: {"S": checkpoint_partition(index_partition)},
            TABLE_SORT_KEY: {"S": f"{position.at}#{position.task_id}#{position.sort_key}"},
            "type": {"S": CHECKPOINT_TYPE},
            STATUS_INDEX_SK: {"S": at},
            "indexAt": {"S": position.at},
            "indexTaskId": {"S": position.task_id},
            "indexSk": {"S": position.sort_key},
        }
        self._put_new(self._signed(item))

    def last_checkpoint(self, index_partition: str) -> "IndexPosition | None":
        """The furthest position the reconciler recorded for the index partition; None before its first."""
        try:
            page = self.client.query(
                TableName=self.table,
                KeyConditionExpression="#pk = :pk",
                ExpressionAttributeNames={"#pk": TABLE_PARTITION_KEY},
                ExpressionAttributeValues={":pk": {"S": checkpoint_partition(index_partition)}},
                ScanIndexForward=False,
                Limit=1,
                ConsistentRead=True,  # the previous run's last checkpoint, not an older one
            )
        except (BotoCoreError, ClientError) as exc:
            raise AuditStoreUnavailableError(f"audit table read failed: {exc}") from exc
        items = page.get("Items", [])
        if not items:
            return None
        item = items[0]
        return IndexPosition(item["indexAt"]["S"], item["indexTaskId"]["S"], item["indexSk"]["S"])

    def history(self, task_id: str, page_size: int | None = None) -> list[AuditEvent]:
        """Every event of the task in lifecycle order, following LastEvaluatedKey over as many pages as it takes."""
        return [_from_item(item) for item in self.items(task_id, page_size)]

    def items(self, task_id: str, page_size: int | None = None) -> list[dict[str, Any]]:
        """The task's items as stored, in key order (what a verifier hashes)."""
        request: QueryInputTypeDef = {
            "TableName": self.table,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": TABLE_PARTITION_KEY},
            "ExpressionAttributeValues": {":pk": {"S": task_id}},
            "ConsistentRead": True,  # read-your-writes: a retried POST must see the events its first try wrote
        }
        if page_size:
            request["Limit"] = page_size
        items: list[dict[str, Any]] = []
        try:
            while True:
                page = self.client.query(**request)
                items.extend(page.get("Items", []))
                if "LastEvaluatedKey" not in page:
                    return items
                request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        except (BotoCoreError, ClientError) as exc:
            raise AuditStoreUnavailableError(f"audit table read failed: {exc}") from exc

    def all_items(self, segments: int = 4) -> list[dict[str, Any]]:
        """Every item of the table, read in `segments` parallel scans: for a verifier of the whole stack, never for
        a function (which reads a task's history, or the status index)."""
        from concurrent.futures import ThreadPoolExecutor

        def segment(number: int) -> list[dict[str, Any]]:
            request: dict[str, Any] = {"TableName": self.table, "Segment": number, "TotalSegments": segments}
            found: list[dict[str, Any]] = []
            while True:
                page = self.client.scan(**request)
                found.extend(page.get("Items", []))
                if "LastEvaluatedKey" not in page:
                    return found
                request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

        try:
            with ThreadPoolExecutor(segments) as pool:
                return [item for part in pool.map(segment, range(segments)) for item in part]
        except (BotoCoreError, ClientError) as exc:
            raise AuditStoreUnavailableError(f"audit table scan failed: {exc}") from exc

    def status_page(
        self,
        partition: str,
        since: str | None,
        after: IndexPosition | None,
        limit: int,
        until: str | None = None,
        newest_first: bool = True,
    ) -> tuple[list[AuditEvent], bool]:
        """One page of a status index partition (e.g. `DEAD_LETTERED#3`), newest first (or oldest first): events
        recorded at or after `since` and at or before `until`, continuing after the event `after`; and whether more
        may follow."""
        if since and until and since > until:
            # Nothing lies between crossed bounds, and DynamoDB refuses to be asked (a ValidationException): a listing's
            # `since` after its moment, or a reconciler checkpoint past a cut-off that strandedAfterSeconds moved back.
            return [], False
        bounds = {":since": since, ":until": until}
        values: dict[str, AttributeValueTypeDef] = {":pk": {"S": partition}}
        values |= {name: {"S": moment} for name, moment in bounds.items() if moment}
        condition = "#pk = :pk"
        if since and until:
            condition += " AND #at BETWEEN :since AND :until"
        elif since or until:
            condition += " AND #at >= :since" if since else " AND #at <= :until"
        request: QueryInputTypeDef = {
            "TableName": self.table,
            "IndexName": STATUS_INDEX_NAME,
            "KeyConditionExpression": condition,
            # An entry places a task (its keys, type, life, time): its payload and MAC stay behind, which halves what
            # the reconciler's pages carry (the read units are the same: DynamoDB counts the items it reads).
            "ProjectionExpression": ", ".join(f"#{number}" for number in range(len(ENTRY_ATTRIBUTES))),
            "ExpressionAttributeNames": {
                "#pk": STATUS_INDEX_PK,
                **({"#at": STATUS_INDEX_SK} if since or until else {}),
                **{f"#{number}": name for number, name in enumerate(ENTRY_ATTRIBUTES)},
            },
            "ExpressionAttributeValues": values,
            "ScanIndexForward": not newest_first,
            "Limit": limit,
        }
        if after is not None:
            request["ExclusiveStartKey"] = {
                TABLE_PARTITION_KEY: {"S": after.task_id},
                TABLE_SORT_KEY: {"S": after.sort_key},
                STATUS_INDEX_PK: {"S": partition},
                STATUS_INDEX_SK: {"S": after.at},
            }
        try:
            page = self.client.query(**request)
        except (BotoCoreError, ClientError) as exc:
            raise AuditStoreUnavailableError(f"status index read failed: {exc}") from exc
        return [_from_item(item) for item in page.get("Items", [])], "LastEvaluatedKey" in page


def _to_item(event: AuditEvent) -> dict[str, "AttributeValueTypeDef"]:
    item: dict[str, AttributeValueTypeDef] = {
        TABLE_PARTITION_KEY: {"S": event.task_id},
        TABLE_SORT_KEY: {"S": sort_key(event.life, event.slot, event.rank)},
        "type": {"S": event.type.value},
        STATUS_INDEX_SK: {"S": event.at},
        "life": {"N": str(event.life)},
    }
    if event.attempt is not None:
        item["attempt"] = {"N": str(event.attempt)}
    status = STATUS_SET_BY.get(event.type)
    if status is not None:
        item[STATUS_INDEX_PK] = {"S": status_shard(status, event.task_id)}
    for name, value in event.fields.items():
        item[name] = {"N": str(value)} if isinstance(value, int) else {"S": value}
    return item


def _from_item(item: dict[str, Any]) -> AuditEvent:
    life, slot, rank = parse_sort_key(item[TABLE_SORT_KEY]["S"])
    return AuditEvent(
        task_id=item[TABLE_PARTITION_KEY]["S"],
        type=EventType(item["type"]["S"]),
        life=life,
        slot=slot,
        rank=rank,
        attempt=int(item["attempt"]["N"]) if "attempt" in item else None,
        at=item[STATUS_INDEX_SK]["S"],
        fields={name: _value(value) for name, value in item.items() if name not in _BASE_ATTRIBUTES},
    )


def _value(value: dict[str, str]) -> str | int:
    return int(value["N"]) if "N" in value else value["S"]
