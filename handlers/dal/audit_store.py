"""The audit store: append-only, idempotent writes of task events and paged, ordered reads of a history."""

from typing import TYPE_CHECKING, Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from handlers.dal.keys import parse_sort_key, sort_key, status_shard
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

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, QueryInputTypeDef


class IndexPosition(NamedTuple):
    """Where a read of a status index partition stopped: the last event read, by its keys."""

    at: str
    task_id: str
    sort_key: str


def position_of(event: AuditEvent) -> IndexPosition:
    """The status index position of a stored event."""
    return IndexPosition(event.at, event.task_id, sort_key(event.life, event.slot, event.rank))


_BASE_ATTRIBUTES = {
    TABLE_PARTITION_KEY,
    TABLE_SORT_KEY,
    "type",
    STATUS_INDEX_SK,
    "life",
    "attempt",
    STATUS_INDEX_PK,
    MAC_ATTRIBUTE,
}


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
        item = _to_item(event)
        if self.mac_keys is not None:
            item[MAC_ATTRIBUTE] = {"S": event_mac(self.mac_keys.key_for(mac_day(event.at)), item)}
        return item

    def append(self, event: AuditEvent) -> AuditEvent | None:
        """Write the event unless its key is taken. None when written; else the event already stored under that key
        (a redelivery, a duplicate POST, or the other terminal event of the life), learnt from the failed put."""
        try:
            self.client.put_item(
                TableName=self.table,
                Item=self.item(event),
                ConditionExpression="attribute_not_exists(#sk)",
                ExpressionAttributeNames={"#sk": TABLE_SORT_KEY},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise AuditStoreUnavailableError(f"audit table write failed: {exc}") from exc
            stored: dict[str, Any] | None = exc.response.get("Item")  # type: ignore[assignment]
            # DynamoDB returns the stored item when asked (ALL_OLD); were it missing, the key's event is taken as ours.
            return _from_item(stored) if stored else event
        except BotoCoreError as exc:
            raise AuditStoreUnavailableError(f"audit table write failed: {exc}") from exc
        return None

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
    ) -> tuple[list[AuditEvent], bool]:
        """One page of a status index partition (e.g. `DEAD_LETTERED#3`), newest first: events recorded at or after
        `since` and at or before `until`, continuing after the event `after`; and whether more may follow."""
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
            "ExpressionAttributeNames": {
                "#pk": STATUS_INDEX_PK,
                **({"#at": STATUS_INDEX_SK} if since or until else {}),
            },
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
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
