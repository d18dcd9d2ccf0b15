"""Narrow patches of moto's DynamoDB for the embedded emulator: a query reads its own partition, as DynamoDB does; the
reads that return items are answered in the JSON they are stored in; and a request is authorised against the table
(or index, or stream) it names, as IAM does, not against "*" (so that a policy that allows an exact table or stream ARN
is honoured: https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazondynamodb.html)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from moto.core.responses import ActionContext
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler, DynamoResult
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

# moto's Table.query reads its candidates from all_items(), which sorts every item of the table on each call, then
# compares each item's key through DynamoType: a history read cost ~60 ms at 5,000 items and a byStatus read ~90 ms,
# so a listing on a soak-sized stack overran the gateway's timeout. Within a query the pre-sort is wasted (both paths
# sort their matches by the full key), and the candidates can be cut to the queried partition up front, which is
# what DynamoDB reads too: the base table's by its hash key, an index's by plain comparison of its hash attribute.
_query_scope = threading.local()
_sorted_all_items = Table.all_items
_table_query = Table.query


def _all_items_for_query(self: Table) -> list[Any]:
    if getattr(_query_scope, "table", None) is not self:
        return _sorted_all_items(self)
    hash_key, index_hash = _query_scope.hash_key, _query_scope.index_hash
    parts = [self.items.get(hash_key, {})] if hash_key is not None else list(self.items.values())
    # A hash-only table keeps the item itself under its hash key.
    items = (
        [p for p in parts if isinstance(p, Item)] if not self.range_key_attr else [i for p in parts for i in p.values()]
    )
    if index_hash is None:
        return items
    name, wanted = index_hash
    partition = _index_partitions(self, name).get((wanted.type, wanted.value), [])
    window = getattr(_query_scope, "window", None)
    return window.narrow(partition) if window else list(partition)


_STRING_RANGES = {
    "EQ": lambda v, lo, hi: v == lo,
    "=": lambda v, lo, hi: v == lo,
    "LE": lambda v, lo, hi: v <= lo,
    "<=": lambda v, lo, hi: v <= lo,
    "LT": lambda v, lo, hi: v < lo,
    "<": lambda v, lo, hi: v < lo,
    "GE": lambda v, lo, hi: v >= lo,
    ">=": lambda v, lo, hi: v >= lo,
    "GT": lambda v, lo, hi: v > lo,
    ">": lambda v, lo, hi: v > lo,
    "BETWEEN": lambda v, lo, hi: lo <= v <= hi,
    "BEGINS_WITH": lambda v, lo, hi: v.startswith(lo),
}


@dataclass(frozen=True)
class _Window:
    """The part of an index partition one page can answer from: the entries in its key condition's range, past its
    ExclusiveStartKey in its direction, the first `limit` + 1 of them (one more, so that moto still says whether more
    follow). moto sorts its candidates and walks past the start key on each page: over a whole partition (22,500
    entries a byStatus shard at half an hour of 100 tasks/s) a page took seconds. Only for string keys, a key condition
    on the index's own range key, and no legacy QueryFilter; anything else reads the whole partition, as before."""

    names: tuple[str, str, str]  # the index's range key, then the table's hash and range keys: the index's order
    matches: Any
    bounds: tuple[str, str | None]
    start: tuple[str, ...] | None
    forward: bool
    limit: int | None

    @staticmethod
    def of(table: Table, index_name: str, given: dict[str, Any]) -> _Window | None:
        index = table.get_index(index_name)
        ranges = [key["AttributeName"] for key in index.schema if key["KeyType"] == "RANGE"]
        comparison, values = given.get("range_comparison"), given.get("range_objs") or []
        if len(ranges) != 1 or not table.range_key_attr or given.get("filter_kwargs"):
            return None
        if comparison and (comparison not in _STRING_RANGES or any(v.type != "S" for v in values)):
            return None
        names = (ranges[0], table.hash_key_attr, table.range_key_attr)
        start = None
        if given.get("exclusive_start_key"):
            key = given["exclusive_start_key"]
            if any("S" not in key.get(name, {}) for name in names):
                return None
            start = tuple(key[name]["S"] for name in names)
        texts = [v.value for v in values]
        return _Window(
            names=names,
            matches=_STRING_RANGES[comparison] if comparison else (lambda v, lo, hi: True),
            bounds=(texts[0], texts[1] if len(texts) > 1 else None) if texts else ("", None),
            start=start,
            forward=given.get("scan_index_forward") is not False,
            limit=given.get("limit"),
        )

    def narrow(self, partition: list[Item]) -> list[Item]:
        keyed = []
        for item in partition:
            values = [item.attrs.get(name) for name in self.names]
            if any(value is None or value.type != "S" for value in values):
                return list(partition)  # not the shape this was made for: moto's own way
            key = tuple(value.value for value in values)  # type: ignore[union-attr]
            if not self.matches(key[0], *self.bounds):
                continue
            if self.start is not None and (key <= self.start if self.forward else key >= self.start):
                continue
            keyed.append((key, item))
        keyed.sort(key=lambda pair: pair[0], reverse=not self.forward)
        chosen = keyed if self.limit is None else keyed[: self.limit + 1]
        return [item for _, item in chosen]


# An index query still read every item of the table to find its partition's: at 360,000 items (half an hour of tasks
# at 100/s, bench/reconciler.py) a page of the byStatus index took seconds, and eight at once outran the clients' read
# timeout. The table's items are grouped by the index's hash attribute once, and the grouping kept until the table is
# written (DynamoDB requests run one at a time, under the service's lock: local/emulator/locks.py).
_PARTITIONS = "_tasktrail_index_partitions"


def _index_partitions(table: Table, name: str) -> dict[tuple[str, Any], list[Item]]:
    cached = table.__dict__.setdefault(_PARTITIONS, {})
    if name not in cached:
        groups: dict[tuple[str, Any], list[Item]] = {}
        part: Any
        for part in table.items.values():
            for item in part.values() if table.range_key_attr else (part,):
                if (value := item.attrs.get(name)) is not None:
                    groups.setdefault((value.type, value.value), []).append(item)
        cached[name] = groups
    return cached[name]


def _put_keeping_partitions(put: Any) -> Any:
    """Table.put_item, keeping the index partitions up to date: the reconciler appends a checkpoint every few seconds
    a shard, and grouping the whole table again after each took most of the emulator's time at 360,000 items."""

    def put_item(table: Table, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        cached = table.__dict__.get(_PARTITIONS)
        if not cached or table.hash_key_attr not in item_attrs:
            return put(table, item_attrs, *args, **kwargs)
        part: Any = table.items.get(DynamoType(item_attrs[table.hash_key_attr]))
        ranged = table.range_key_attr is not None
        range_value = (
            DynamoType(item_attrs[table.range_key_attr]) if ranged and table.range_key_attr in item_attrs else None
        )
        old: Any = (part.get(range_value) if ranged else part) if part is not None else None
        item = put(table, item_attrs, *args, **kwargs)  # a refused condition raises, and changes nothing
        for name, groups in cached.items():
            if old is not None and (value := old.attrs.get(name)) is not None:
                group = groups.get((value.type, value.value), [])
                groups[(value.type, value.value)] = [each for each in group if each is not old]
            if (value := item.attrs.get(name)) is not None:
                groups.setdefault((value.type, value.value), []).append(item)
        return item

    return put_item


def _forgetting_partitions(write: Any, table_of: Any) -> Any:
    """`write`, which changes a table's items, then forgets that table's index partitions."""

    def written(*args: Any, **kwargs: Any) -> Any:
        try:
            return write(*args, **kwargs)
        finally:
            table = table_of(*args, **kwargs)
            if table is not None:
                table.__dict__.pop(_PARTITIONS, None)

    return written


_QUERY_PARAMETERS = (
    "range_comparison",
    "range_objs",
    "limit",
    "exclusive_start_key",
    "scan_index_forward",
    "projection_expressions",
    "index_name",
)


def _query_unsorted(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
    given = dict(zip(_QUERY_PARAMETERS, args, strict=False)) | kwargs
    index_name = given.get("index_name")
    conditions = kwargs.get("hash_key_conditions") or []
    _query_scope.table = self
    _query_scope.hash_key = None if index_name else hash_key
    _query_scope.index_hash = conditions[0] if index_name and len(conditions) == 1 else None
    _query_scope.window = _Window.of(self, index_name, given) if index_name and _query_scope.index_hash else None
    try:
        return _table_query(self, hash_key, *args, **kwargs)
    finally:
        _query_scope.table = None
        _query_scope.window = None


# moto writes every answer by walking botocore's model of the output, attribute value by attribute value: ~0.7 ms an
# item, so a page of 500 index entries took 0.35 s and the reconciler examined 500 entries a second, most of it here.
# DynamoDB's JSON protocol carries items as they are stored (typed attribute values), which moto already holds as
# plain JSON: the reads that return items are written with json.dumps, as DynamoDB sends them. What json cannot hold
# (a binary value) goes moto's way; tests/unit/test_local_emulator.py holds both ways to the same answers.
ITEM_READS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan"})
_execute_result = DynamoResult.execute_result


def _execute_item_read(self: DynamoResult, context: ActionContext) -> Any:
    operation = context.operation_model
    if operation.name in ITEM_READS:
        try:
            body = json.dumps(self.result)
        except (TypeError, ValueError):
            pass
        else:
            version = operation.service_model.metadata.get("jsonVersion", "1.0")
            status = operation.http.get("responseCode", 200)
            return status, {"Content-Type": f"application/x-amz-json-{version}"}, body
    return _execute_result(self, context)


def _authorised_resource(self: DynamoHandler) -> str:
    params = getattr(self, "params", None) or {}
    table = params.get("TableName")
    batch_tables = list(params.get("RequestItems") or {})
    if not table and len(batch_tables) == 1:
        # A BatchGetItem/BatchWriteItem is authorised on each table it names; with one, on that table.
        (table,) = batch_tables
    if not table:
        # ListTables; Transact*, and a batch over several tables (moto checks one resource per request: stricter than
        # IAM, which checks each table; the handlers name one).
        return "*"
    arn = f"arn:aws:dynamodb:{self.region}:{self.current_account}:table/{table}"
    return f"{arn}/index/{params['IndexName']}" if params.get("IndexName") else arn


def _authorised_stream(self: DynamoDBStreamsHandler) -> str:
    # GetRecords names only its iterator; moto's iterators begin with their stream's ARN ("<stream arn>|1|<id>").
    arn = self._get_param("StreamArn") or str(self._get_param("ShardIterator") or "").split("|", 1)[0]
    return str(arn) or "*"


def install() -> None:
    """Apply the patches (idempotent)."""
    DynamoDBStreamsHandler._determine_resource = _authorised_stream  # type: ignore[attr-defined]
    DynamoHandler._determine_resource = _authorised_resource  # type: ignore[attr-defined]
    Table.all_items = _all_items_for_query  # type: ignore[method-assign]
    Table.query = _query_unsorted  # type: ignore[method-assign]
    # Every write of items: a put (kept up to date) or a delete (forgotten; BatchWriteItem and TransactWriteItems go
    # through them too), and an update, which changes a stored item in place (forgotten).
    Table.put_item = _put_keeping_partitions(Table.put_item)  # type: ignore[method-assign]
    Table.delete_item = _forgetting_partitions(  # type: ignore[method-assign]
        Table.delete_item, lambda table, *_, **__: table
    )
    DynamoDBBackend.update_item = _forgetting_partitions(  # type: ignore[method-assign]
        DynamoDBBackend.update_item, lambda backend, table_name, *_, **__: backend.tables.get(table_name)
    )
    DynamoResult.execute_result = _execute_item_read  # type: ignore[method-assign,assignment]
