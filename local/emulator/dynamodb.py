"""Narrow patches of moto's DynamoDB for the embedded emulator: a query reads its own partition (an index's from a
grouping kept up to date, a page from its key range), as DynamoDB does, and is refused when its key condition's
BETWEEN bounds cross, as DynamoDB refuses it; a scan page starts where the last one ended, as DynamoDB's do; the items
a read (or a stream) returns are written as the JSON they already are; and a request is authorised against the
table (or index, or stream) it names, as IAM does, not against "*" (so that a policy that allows an exact table or
stream ARN is honoured:
https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazondynamodb.html)."""

from __future__ import annotations

import base64
import calendar
import threading
from bisect import bisect_left
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from moto.core.responses import ActionContext, ActionResult
from moto.core.serialize import XFormedAttributePicker
from moto.dynamodb.comparisons import OpDefault
from moto.dynamodb.exceptions import MockValidationException
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import RESULT_SIZE_LIMIT, Table
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
    if getattr(_scan_scope, "table", None) is self:
        return list(_scan_scope.items)
    if getattr(_query_scope, "table", None) is not self:
        return _sorted_all_items(self)
    hash_key, index_hash = _query_scope.hash_key, _query_scope.index_hash
    if index_hash is not None:
        name, wanted = index_hash
        partition = _index_partitions(self, name).get((wanted.type, wanted.value), [])
        window = getattr(_query_scope, "window", None)
        return window.narrow(partition) if window else list(partition)
    parts = [self.items.get(hash_key, {})] if hash_key is not None else list(self.items.values())
    # A hash-only table keeps the item itself under its hash key.
    return (
        [p for p in parts if isinstance(p, Item)] if not self.range_key_attr else [i for p in parts for i in p.values()]
    )


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
    _refuse_reversed_between(given)
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


def _refuse_reversed_between(given: dict[str, Any]) -> None:
    """DynamoDB refuses a key condition `BETWEEN :a AND :b` with :a above :b as a ValidationException; moto answers it
    with no items, so a caller that let its bounds cross passed here and failed on AWS (github.com/architect/dynalite
    issue 55 has DynamoDB's answer side by side with an emulator's)."""
    bounds = given.get("range_objs") or []
    if str(given.get("range_comparison")).upper() != "BETWEEN" or len(bounds) != 2:
        return
    low, high = bounds
    if low.type == high.type and low > high:
        raise MockValidationException(
            "Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to "
            f"lower bound; lower bound operand: AttributeValue: {{{low.type}:{low.value}}}, upper bound operand: "
            f"AttributeValue: {{{high.type}:{high.value}}}"
        )


# moto's Table.scan sorts the whole table, and hashes every item's segment, on each page, then walks past every item
# before the page's ExclusiveStartKey: a page cost O(N log N), a whole scan O(N² / page). At 100,000 items
# (`tasktrail verify` of a large trail) a scan took minutes. Here a base-table scan reads a sorted list of its
# segment's items, kept per table until an item is put or deleted, from the first key at or after the start key;
# moto's own loop then builds the page exactly as before (the start key itself skipped, limits, filters, copies).
_scan_scope = threading.local()
_table_scan = Table.scan
_table_put = Table.put_item
_table_delete = Table.delete_item


def _scan_key(table: Table, values: Any) -> tuple[Any, ...]:
    return (values[0], values[1]) if table.range_key_attr else (values[0],)


def _item_key(table: Table) -> Any:
    return lambda item: _scan_key(table, (item.hash_key, item.range_key))


def _sorted_segment(table: Table, segments: Any) -> list[Item]:
    cache = table.__dict__.setdefault("_tasktrail_scan_cache", {})
    found = cache.get(tuple(segments))
    if found is None:
        ordered = sorted(
            (item for item in _all_items_for_query(table) if item.is_within_segment(segments)), key=_item_key(table)
        )
        found = cache[tuple(segments)] = ordered
    return list(found)


def _scan_from_start_key(self: Table, *args: Any, **kwargs: Any) -> Any:
    names = (
        "filters",
        "limit",
        "exclusive_start_key",
        "filter_expression",
        "index_name",
        "consistent_read",
        "projection",
    )
    given = dict(zip(names, args, strict=False)) | kwargs
    if given.get("index_name"):
        return _table_scan(self, *args, **kwargs)  # an index scan: moto's own path (nothing here scans an index)
    ordered = _sorted_segment(self, kwargs.get("segments", (None, None)))
    start_key, start = given.get("exclusive_start_key"), 0
    if start_key:
        hash_value = DynamoType(start_key[self.hash_key_attr])
        range_value = DynamoType(start_key[self.range_key_attr]) if self.range_key_attr else None
        start_key = _scan_key(self, (hash_value, range_value))
        start = bisect_left(ordered, start_key, key=_item_key(self))
    unfiltered = given.get("filter_expression") is None or isinstance(given["filter_expression"], OpDefault)
    if unfiltered and not given.get("filters") and not given.get("projection"):
        return _plain_page(self, ordered, start, start_key, given.get("limit"))
    _scan_scope.table, _scan_scope.items = self, ordered[start:]
    try:
        return _table_scan(self, *args, **kwargs)
    finally:
        _scan_scope.table = None


def _plain_page(table: Table, ordered: list[Item], start: int, start_key: Any, limit: int | None) -> Any:
    """A page with no filter and no projection, as moto's loop builds it (the start key skipped, at most `limit`
    items and 1 MB), without its deep copy of every item: nothing alters a page's items before the response copies
    them into its own dicts."""
    if start_key and start < len(ordered) and _item_key(table)(ordered[start]) == start_key:
        start += 1
    page: list[Item] = []
    size = 0
    for item in ordered[start:]:
        item_size = item.size()
        if len(page) == limit or size + item_size > RESULT_SIZE_LIMIT:
            return page, len(page), table._get_last_evaluated_key(page[-1], None)
        page.append(item)
        size += item_size
    return page, len(page), None


def _forgetting_scans(write: Any) -> Any:
    def changed(self: Table, *args: Any, **kwargs: Any) -> Any:
        self.__dict__.pop("_tasktrail_scan_cache", None)
        return write(self, *args, **kwargs)

    return changed


# moto 5.2 serialises every response by walking botocore's output shape, attribute by attribute (~0.7 ms an item): a
# 1 MB scan page took about a second of the server's time, a 100,000-event `tasktrail verify` spent most of its
# minutes there, the reconciler examined 500 index entries a second, and the digest function's stream reads fell
# behind. The items a read returns, and the records a stream returns, are already in the wire form (`{"S": ...}`
# maps); the shape changes two types only: binary (raw bytes here, base64 on the wire) and timestamps (epoch seconds,
# to the millisecond, in JSON protocols). So those answers are written as JSON directly, with the status, headers and
# body writer of moto's own serializer.
_ITEM_READS = frozenset({"Scan", "Query", "GetItem", "BatchGetItem"})
_dynamo_result = DynamoResult.execute_result
_get_records = DynamoDBStreamsHandler.get_records


def _on_the_wire(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _on_the_wire(inner) for key, inner in value.items() if inner is not None}
    if isinstance(value, list):
        return [_on_the_wire(inner) for inner in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, datetime):  # as moto's serializer writes "unixtimestamp"
        return calendar.timegm(value.timetuple()) + (value.microsecond // 1000) / 1000.0
    return value


class _WireJsonResult(ActionResult):
    """A result already in its service's JSON wire form, bar bytes and datetimes."""

    def execute_result(self, context: ActionContext) -> Any:
        serializer = context.serializer_class(
            operation_model=context.operation_model, value_picker=XFormedAttributePicker(response_transformers=None)
        )
        answer = serializer._create_default_response()
        answer = serializer._serialized_result_to_response(answer, self.result, None, _on_the_wire(self.result))
        return answer["status_code"], answer["headers"], answer["body"]


def _items_as_json(self: DynamoResult, context: ActionContext) -> Any:
    if context.operation_model.name not in _ITEM_READS or not isinstance(self.result, dict):
        return _dynamo_result(self, context)
    return _WireJsonResult(self.result).execute_result(context)


def _records_as_json(self: DynamoDBStreamsHandler) -> ActionResult:
    return _WireJsonResult(_get_records(self).result)


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
    Table.scan = _scan_from_start_key  # type: ignore[method-assign]
    # Every write of items: a put (the index partitions kept up to date, the scan order forgotten) or a delete
    # (both forgotten; BatchWriteItem and TransactWriteItems go through them too), and an update, which changes a
    # stored item in place (the partitions forgotten; the scan order holds the same item, at the same key).
    Table.put_item = _put_keeping_partitions(_forgetting_scans(_table_put))  # type: ignore[method-assign]
    Table.delete_item = _forgetting_partitions(  # type: ignore[method-assign]
        _forgetting_scans(_table_delete), lambda table, *_, **__: table
    )
    DynamoDBBackend.update_item = _forgetting_partitions(  # type: ignore[method-assign]
        DynamoDBBackend.update_item, lambda backend, table_name, *_, **__: backend.tables.get(table_name)
    )
    DynamoResult.execute_result = _items_as_json  # type: ignore[method-assign,assignment]
    DynamoDBStreamsHandler.get_records = _records_as_json  # type: ignore[method-assign]
