"""Narrow patches of moto's DynamoDB for the embedded emulator: a query reads its own partition, as DynamoDB does; a
scan page starts where the last one ended, as DynamoDB's do; the items a read (or a stream) returns are written as
the JSON they already are; and a request is authorised against the table (or index, or stream) it names, as IAM
does, not against "*" (so that a policy that allows an exact table or stream ARN is honoured:
https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazondynamodb.html)."""

from __future__ import annotations

import base64
import calendar
import threading
from bisect import bisect_left
from datetime import datetime
from typing import Any

from moto.core.responses import ActionContext, ActionResult
from moto.core.serialize import XFormedAttributePicker
from moto.dynamodb.comparisons import OpDefault
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
    parts = [self.items.get(hash_key, {})] if hash_key is not None else list(self.items.values())
    # A hash-only table keeps the item itself under its hash key.
    items = (
        [p for p in parts if isinstance(p, Item)] if not self.range_key_attr else [i for p in parts for i in p.values()]
    )
    if index_hash is None:
        return items
    name, wanted = index_hash
    return [
        i for i in items if (v := i.attrs.get(name)) is not None and (v.type, v.value) == (wanted.type, wanted.value)
    ]


def _query_unsorted(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
    index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)  # noqa: PLR2004 - query's 8th parameter
    conditions = kwargs.get("hash_key_conditions") or []
    _query_scope.table = self
    _query_scope.hash_key = None if index_name else hash_key
    _query_scope.index_hash = conditions[0] if index_name and len(conditions) == 1 else None
    try:
        return _table_query(self, hash_key, *args, **kwargs)
    finally:
        _query_scope.table = None


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


# moto 5.2 serialises every response by walking botocore's output shape, attribute by attribute: a 1 MB scan page took
# about a second of the server's time, a 100,000-event `tasktrail verify` spent most of its minutes there, and the
# digest function's stream reads fell behind a few hundred events a second. The items a read returns, and the
# records a stream returns, are already in the wire form (`{"S": ...}` maps); the shape changes two types only:
# binary (raw bytes here, base64 on the wire) and timestamps (epoch seconds, to the millisecond, in JSON protocols).
# So those answers are written as JSON directly, with the status, headers and body writer of moto's own serializer.
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
    if not table:
        return "*"  # ListTables; and Batch*/Transact*, which name several tables (moto checks one resource)
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
    Table.put_item = _forgetting_scans(_table_put)  # type: ignore[method-assign]
    Table.delete_item = _forgetting_scans(_table_delete)  # type: ignore[method-assign]
    DynamoResult.execute_result = _items_as_json  # type: ignore[method-assign,assignment]
    DynamoDBStreamsHandler.get_records = _records_as_json  # type: ignore[method-assign]
