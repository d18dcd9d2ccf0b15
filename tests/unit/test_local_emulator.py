"""The embedded emulator's query shortcut (one partition read, no whole-table sort) answers exactly what DynamoDB's
semantics ask: each page in key order, both directions, with key conditions, limits and ExclusiveStartKey paging,
on the base table, on a global secondary index, and on a hash-only table. Expected answers are computed here. And
its HTTP server answers `Expect: 100-continue` at once."""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from local.emulator.server import Emulator
from tests.e2e.cloud import free_port

TASKS = 60
SHARDS = ["QUEUED#0", "QUEUED#1", "SUCCEEDED#0", "DEAD_LETTERED#3"]


@pytest.fixture(scope="module")
def dynamodb() -> Iterator[Any]:
    emulator = Emulator(free_port())
    emulator.start()
    client = boto3.client(
        "dynamodb",
        endpoint_url=emulator.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - the emulator's dummy credentials
    )
    yield client
    emulator.stop()


@pytest.fixture(scope="module")
def items(dynamodb: Any) -> list[dict[str, str]]:
    dynamodb.create_table(
        TableName="events",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("taskId", "sk", "shard", "at")],
        KeySchema=[{"AttributeName": "taskId", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "byShard",
                "KeySchema": [
                    {"AttributeName": "shard", "KeyType": "HASH"},
                    {"AttributeName": "at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    rng = random.Random(7)
    written: list[dict[str, str]] = []
    for task in rng.sample(range(1000), TASKS):  # written out of key order on purpose
        for step in rng.sample(range(6), rng.randint(1, 6)):
            item = {"taskId": f"t{task:03d}", "sk": f"0000#{step:05d}#000"}
            if rng.random() < 0.7:  # sparse index: not every item carries its keys
                item |= {"shard": rng.choice(SHARDS), "at": f"2026-11-29T05:{rng.randint(0, 5):02d}:00Z"}
            dynamodb.put_item(TableName="events", Item={k: {"S": v} for k, v in item.items()})
            written.append(item)
    return written


def _all_pages(dynamodb: Any, **request: Any) -> list[list[tuple[str, str]]]:
    pages = []
    while True:
        page = dynamodb.query(TableName="events", **request)
        pages.append([(i["taskId"]["S"], i["sk"]["S"]) for i in page["Items"]])
        if "LastEvaluatedKey" not in page:
            return pages
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@pytest.mark.parametrize("forward", [True, False])
def test_a_base_table_query_reads_one_partition_in_sort_key_order(
    dynamodb: Any, items: list[dict[str, str]], forward: bool
) -> None:
    for task_id in sorted({i["taskId"] for i in items})[:10]:
        expected = sorted(((i["taskId"], i["sk"]) for i in items if i["taskId"] == task_id), reverse=not forward)
        pages = _all_pages(
            dynamodb,
            KeyConditionExpression="taskId = :t",
            ExpressionAttributeValues={":t": {"S": task_id}},
            ScanIndexForward=forward,
            Limit=2,
        )
        assert [key for page in pages for key in page] == expected
        assert all(len(page) <= 2 for page in pages)
        between = _all_pages(
            dynamodb,
            KeyConditionExpression="taskId = :t AND sk BETWEEN :a AND :b",
            ExpressionAttributeValues={":t": {"S": task_id}, ":a": {"S": "0000#00001"}, ":b": {"S": "0000#00004"}},
            ScanIndexForward=forward,
        )
        assert [key for page in between for key in page] == [
            k for k in expected if "0000#00001" <= k[1] <= "0000#00004"
        ]


def test_a_missing_partition_is_empty(dynamodb: Any, items: list[dict[str, str]]) -> None:
    assert _all_pages(
        dynamodb, KeyConditionExpression="taskId = :t", ExpressionAttributeValues={":t": {"S": "none"}}
    ) == [[]]


@pytest.mark.parametrize("forward", [True, False])
@pytest.mark.parametrize("shard", SHARDS)
def test_an_index_query_reads_its_partition_in_index_key_order(
    dynamodb: Any, items: list[dict[str, str]], forward: bool, shard: str
) -> None:
    indexed = [i for i in items if i.get("shard") == shard]
    # An index orders by its own sort key, ties by the table's key.
    expected = [
        (i["taskId"], i["sk"])
        for i in sorted(indexed, key=lambda i: (i["at"], i["taskId"], i["sk"]), reverse=not forward)
    ]
    pages = _all_pages(
        dynamodb,
        IndexName="byShard",
        KeyConditionExpression="shard = :s",
        ExpressionAttributeValues={":s": {"S": shard}},
        ScanIndexForward=forward,
        Limit=3,
    )
    assert [key for page in pages for key in page] == expected
    since = _all_pages(
        dynamodb,
        IndexName="byShard",
        KeyConditionExpression="shard = :s AND #at >= :since",
        ExpressionAttributeNames={"#at": "at"},
        ExpressionAttributeValues={":s": {"S": shard}, ":since": {"S": "2026-11-29T05:03:00Z"}},
        ScanIndexForward=forward,
    )
    kept = {(i["taskId"], i["sk"]) for i in indexed if i["at"] >= "2026-11-29T05:03:00Z"}
    assert [key for page in since for key in page] == [key for key in expected if key in kept]
    # A window and small pages, as the reconciler reads a shard (the emulator answers a page from its window alone).
    window = ("2026-11-29T05:01:00Z", "2026-11-29T05:04:00Z")
    between = _all_pages(
        dynamodb,
        IndexName="byShard",
        KeyConditionExpression="shard = :s AND #at BETWEEN :a AND :b",
        ExpressionAttributeNames={"#at": "at"},
        ExpressionAttributeValues={":s": {"S": shard}, ":a": {"S": window[0]}, ":b": {"S": window[1]}},
        ScanIndexForward=forward,
        Limit=2,
    )
    inside = {(i["taskId"], i["sk"]) for i in indexed if window[0] <= i["at"] <= window[1]}
    assert [key for page in between for key in page] == [key for key in expected if key in inside]
    assert all(len(page) <= 2 for page in between)


def test_a_hash_only_table_answers_its_one_item(dynamodb: Any) -> None:
    dynamodb.create_table(
        TableName="keys",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )
    for name in ("b", "a", "c"):
        dynamodb.put_item(TableName="keys", Item={"id": {"S": name}, "v": {"S": name * 2}})
    page = dynamodb.query(
        TableName="keys", KeyConditionExpression="id = :i", ExpressionAttributeValues={":i": {"S": "a"}}
    )
    assert page["Items"] == [{"id": {"S": "a"}, "v": {"S": "aa"}}]
    scanned = dynamodb.scan(TableName="keys")["Items"]  # a scan still sees the whole table
    assert sorted(i["id"]["S"] for i in scanned) == ["a", "b", "c"]


def test_a_put_that_expects_100_continue_is_told_to_continue_at_once() -> None:
    """botocore sends S3 PUTs with `Expect: 100-continue` and waits up to a second for the interim answer before it
    sends the body: the emulator must send it at once (it sat in a buffer: every PutObject took a second)."""
    emulator = Emulator(free_port())
    emulator.start()
    try:
        host, port = emulator.endpoint.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as connection:
            connection.sendall(
                b"PUT /bucket/key HTTP/1.1\r\nHost: s3.amazonaws.com\r\nContent-Length: 2\r\n"
                b"Expect: 100-continue\r\n\r\n"
            )
            connection.settimeout(0.5)  # botocore's own wait is 1 s
            interim = connection.recv(64)
        assert interim.startswith(b"HTTP/1.1 100 Continue"), interim
    finally:
        emulator.stop()


def test_a_segmented_paged_scan_reads_every_item_once_and_sees_writes_between_pages(dynamodb: Any) -> None:
    """The scan shortcut (a sorted segment list kept until a write) pages exactly as DynamoDB does."""
    dynamodb.create_table(
        TableName="scan-segmented",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk")],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    )
    keys = {(f"t{n % 37:02d}", f"e{n:04d}") for n in range(300)}
    for pk, sk in keys:
        dynamodb.put_item(TableName="scan-segmented", Item={"pk": {"S": pk}, "sk": {"S": sk}})

    def scan(segment: int, total: int, write_after_first_page: bool) -> list[tuple[str, str]]:
        seen: list[tuple[str, str]] = []
        request: dict[str, Any] = {
            "TableName": "scan-segmented",
            "Limit": 17,
            "Segment": segment,
            "TotalSegments": total,
        }
        while True:
            page = dynamodb.scan(**request)
            seen += [(i["pk"]["S"], i["sk"]["S"]) for i in page["Items"]]
            if write_after_first_page:  # a write between pages: the next page reads the table as it is now
                dynamodb.put_item(TableName="scan-segmented", Item={"pk": {"S": "t99"}, "sk": {"S": "late"}})
                write_after_first_page = False
            if "LastEvaluatedKey" not in page:
                return seen
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    whole = scan(0, 1, write_after_first_page=True)
    assert len(whole) == len(set(whole)) and set(whole) == keys | {("t99", "late")}
    assert whole == sorted(whole, key=lambda key: key)  # one partition after another, each in sort key order
    segments = [scan(n, 4, write_after_first_page=False) for n in range(4)]
    assert sorted(k for part in segments for k in part) == sorted(keys | {("t99", "late")})


def test_a_paged_scan_sorts_its_segment_once_not_once_per_page(dynamodb: Any, monkeypatch: Any) -> None:
    """moto sorts and segments the whole table on every page (a 100,000-item scan took minutes); the patch once per
    table version."""
    from moto.dynamodb.models.dynamo_type import Item

    dynamodb.create_table(
        TableName="scan-paged-once",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )
    for n in range(400):
        dynamodb.put_item(TableName="scan-paged-once", Item={"pk": {"S": f"k{n:03d}"}})
    examined = 0
    within = Item.is_within_segment

    def counted(self: Any, segments: Any) -> bool:
        nonlocal examined
        examined += 1
        return within(self, segments)

    copied = 0
    deepcopy = Item.__deepcopy__

    def counted_copy(self: Any, memo: Any) -> Any:
        nonlocal copied
        copied += 1
        return deepcopy(self, memo)

    monkeypatch.setattr(Item, "is_within_segment", counted)
    monkeypatch.setattr(Item, "__deepcopy__", counted_copy)
    pages, request = 0, {"TableName": "scan-paged-once", "Limit": 20}
    while True:
        page = dynamodb.scan(**request)
        pages += 1
        if "LastEvaluatedKey" not in page:
            break
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    assert pages >= 20  # 400 items, 20 a page (DynamoDB may add an empty last page)
    # Once each to build the sorted segment, once more as its page is read: 2N (moto alone: N per page, read again).
    assert examined <= 2 * 400 + 2 * pages, f"{examined} segment checks for 400 items over {pages} pages"
    assert copied == 0, f"{copied} items deep-copied for a scan with no filter and no projection"
    # A filter or a projection takes moto's own path, and answers as DynamoDB does.
    filtered = dynamodb.scan(
        TableName="scan-paged-once",
        FilterExpression="begins_with(pk, :p)",
        ExpressionAttributeValues={":p": {"S": "k01"}},
        ProjectionExpression="pk",
    )
    assert sorted(i["pk"]["S"] for i in filtered["Items"]) == [f"k{n:03d}" for n in range(10, 20)]


def shape_walks(monkeypatch: Any) -> list[object]:
    """Each walk of a botocore output shape by moto's serializer, from now on (a structure each)."""
    from moto.core.serialize import ResponseSerializer

    walks: list[object] = []
    structure = ResponseSerializer._serialize_type_structure

    def counted(self: Any, *args: Any) -> Any:
        walks.append(args[1] if len(args) > 1 else None)
        return structure(self, *args)

    monkeypatch.setattr(ResponseSerializer, "_serialize_type_structure", counted)
    return walks


def test_item_reads_answer_in_dynamodbs_wire_form_without_walking_the_output_shape(
    dynamodb: Any, monkeypatch: Any
) -> None:
    """The reads that return items are written as the JSON they already are (moto's shape walk cost about a second
    per 1 MB page); every attribute type comes back as written, binary included."""
    dynamodb.create_table(
        TableName="item-wire-form",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )
    item = {
        "pk": {"S": "one"},
        "n": {"N": "12.5"},
        "b": {"B": b"\x00\xffmac"},
        "bs": {"BS": [b"\x01", b"\x02"]},
        "ss": {"SS": ["a", "b"]},
        "ns": {"NS": ["1", "2"]},
        "flag": {"BOOL": True},
        "none": {"NULL": True},
        "list": {"L": [{"S": "x"}, {"N": "3"}, {"B": b"\x03"}]},
        "map": {"M": {"inner": {"S": "y"}, "bin": {"B": b"\x04"}}},
    }
    dynamodb.put_item(TableName="item-wire-form", Item=item)
    walks = shape_walks(monkeypatch)
    key = {"pk": {"S": "one"}}

    def same(found: dict[str, Any]) -> dict[str, Any]:  # sets come back in any order
        return {
            name: {k: sorted(v) if k in ("BS", "SS", "NS") else v for k, v in value.items()}
            for name, value in found.items()
        }

    scanned = dynamodb.scan(TableName="item-wire-form")
    assert scanned["Count"] == 1 and scanned["ScannedCount"] == 1
    assert same(scanned["Items"][0]) == same(item)
    queried = dynamodb.query(
        TableName="item-wire-form", KeyConditionExpression="pk = :k", ExpressionAttributeValues={":k": {"S": "one"}}
    )
    assert same(queried["Items"][0]) == same(item)
    assert same(dynamodb.get_item(TableName="item-wire-form", Key=key)["Item"]) == same(item)
    batch = dynamodb.batch_get_item(RequestItems={"item-wire-form": {"Keys": [key]}})
    assert same(batch["Responses"]["item-wire-form"][0]) == same(item) and batch["UnprocessedKeys"] == {}
    assert walks == [], f"moto's shape walk ran {len(walks)} times for four item reads"


def test_stream_records_answer_in_the_wire_form_without_walking_the_output_shape(
    dynamodb: Any, monkeypatch: Any
) -> None:
    """GetRecords is written as the JSON it already is (the digest function's reads fell behind on the shape walk):
    images, keys and sequence numbers as DynamoDB Streams sends them, the creation time a timestamp."""
    from datetime import UTC, datetime, timedelta

    dynamodb.create_table(
        TableName="stream-wire-form",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    item = {"pk": {"S": "one"}, "mac": {"B": b"\x00\xff"}, "n": {"N": "7"}, "m": {"M": {"x": {"L": [{"S": "y"}]}}}}
    dynamodb.put_item(TableName="stream-wire-form", Item=item)
    dynamodb.put_item(TableName="stream-wire-form", Item=item | {"n": {"N": "8"}})
    arn = dynamodb.describe_table(TableName="stream-wire-form")["Table"]["LatestStreamArn"]
    streams = boto3.client(
        "dynamodbstreams",
        endpoint_url=dynamodb.meta.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - the emulator's dummy credentials
    )
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    walks = shape_walks(monkeypatch)
    answer = streams.get_records(ShardIterator=iterator["ShardIterator"])
    assert walks == [], f"moto's shape walk ran {len(walks)} times for one GetRecords"
    inserted, modified = answer["Records"]
    assert (inserted["eventName"], modified["eventName"]) == ("INSERT", "MODIFY")
    assert inserted["dynamodb"]["NewImage"] == item and inserted["dynamodb"]["Keys"] == {"pk": {"S": "one"}}
    assert modified["dynamodb"]["OldImage"] == item and modified["dynamodb"]["NewImage"]["n"] == {"N": "8"}
    assert int(modified["dynamodb"]["SequenceNumber"]) > int(inserted["dynamodb"]["SequenceNumber"])
    created = inserted["dynamodb"]["ApproximateCreationDateTime"]
    assert isinstance(created, datetime) and abs(datetime.now(UTC) - created) < timedelta(minutes=1)
    assert answer["NextShardIterator"]


def test_item_reads_answer_every_attribute_type_as_it_was_put(dynamodb: Any) -> None:
    """GetItem, BatchGetItem, Query and Scan are written straight from moto's stored JSON (local/emulator/dynamodb.py):
    every DynamoDB type comes back as put, binary included, with a projection, and paging keys intact."""
    dynamodb.create_table(
        TableName="typed",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk")],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    )
    item = {
        "pk": {"S": "p"},
        "s": {"S": 'é "quoted" \\ text'},
        "n": {"N": "-12.5"},
        "b": {"B": b"\x00\xffbinary"},
        "yes": {"BOOL": True},
        "none": {"NULL": True},
        "list": {"L": [{"S": "a"}, {"N": "1"}, {"M": {"inner": {"BOOL": False}}}]},
        "map": {"M": {"k": {"S": "v"}, "deep": {"L": [{"NULL": True}]}}},
        "ss": {"SS": ["x", "y"]},
        "ns": {"NS": ["1", "2.5"]},
        "bs": {"BS": [b"\x01", b"\x02"]},
    }
    items = [item | {"sk": {"S": f"{n}"}} for n in range(3)]
    for each in items:
        dynamodb.put_item(TableName="typed", Item=each)

    def normal(found: dict[str, Any]) -> dict[str, Any]:
        # A set's members come back in no promised order.
        return {
            k: {t: sorted(v) if t in ("SS", "NS", "BS") else v for t, v in value.items()} for k, value in found.items()
        }

    expected = [normal(each) for each in items]
    key = {"pk": {"S": "p"}, "sk": {"S": "1"}}
    assert normal(dynamodb.get_item(TableName="typed", Key=key)["Item"]) == expected[1]
    batch = dynamodb.batch_get_item(RequestItems={"typed": {"Keys": [key, {"pk": {"S": "p"}, "sk": {"S": "9"}}]}})
    assert [normal(found) for found in batch["Responses"]["typed"]] == [expected[1]]
    assert batch["UnprocessedKeys"] == {}
    pages = _all_pages_of(
        dynamodb, "query", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": item["pk"]}
    )
    assert [normal(found) for found in pages] == expected
    assert sorted((normal(found) for found in _all_pages_of(dynamodb, "scan")), key=lambda i: i["sk"]["S"]) == expected
    projected = dynamodb.query(
        TableName="typed",
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": item["pk"]},
        ProjectionExpression="sk, b, #m.k",
        ExpressionAttributeNames={"#m": "map"},
    )["Items"]
    assert projected == [{"sk": {"S": f"{n}"}, "b": item["b"], "map": {"M": {"k": {"S": "v"}}}} for n in range(3)]


def _all_pages_of(dynamodb: Any, operation: str, **request: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while True:
        page = getattr(dynamodb, operation)(TableName="typed", Limit=2, **request)
        found += page["Items"]
        if "LastEvaluatedKey" not in page:
            return found
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_an_index_query_sees_every_write_since_the_last(dynamodb: Any, items: list[dict[str, str]]) -> None:
    """The index's partitions are kept between queries (local/emulator/dynamodb.py): a put, an overwrite, an update that
    moves an item to another partition, a delete and a transaction are each seen by the next query."""

    def shard(name: str) -> set[str]:
        pages = _all_pages(
            dynamodb,
            IndexName="byShard",
            KeyConditionExpression="shard = :s",
            ExpressionAttributeValues={":s": {"S": name}},
        )
        return {task for page in pages for task, _ in page}

    def item(task: str, name: str) -> dict[str, Any]:
        return {"taskId": {"S": task}, "sk": {"S": "x"}, "shard": {"S": name}, "at": {"S": "2026-11-29T06:00:00Z"}}

    key = {"taskId": {"S": "w1"}, "sk": {"S": "x"}}
    assert "w1" not in shard("NEW#0")
    dynamodb.put_item(TableName="events", Item=item("w1", "NEW#0"))
    assert "w1" in shard("NEW#0")
    dynamodb.update_item(
        TableName="events",
        Key=key,
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "shard"},
        ExpressionAttributeValues={":s": {"S": "NEW#1"}},
    )
    assert "w1" not in shard("NEW#0") and "w1" in shard("NEW#1")
    dynamodb.delete_item(TableName="events", Key=key)
    assert "w1" not in shard("NEW#1")
    dynamodb.transact_write_items(TransactItems=[{"Put": {"TableName": "events", "Item": item("w2", "NEW#1")}}])
    dynamodb.batch_write_item(RequestItems={"events": [{"PutRequest": {"Item": item("w3", "NEW#1")}}]})
    assert shard("NEW#1") == {"w2", "w3"}
    # A put over an item moves it; a put its condition refuses changes nothing.
    dynamodb.put_item(TableName="events", Item=item("w3", "NEW#2"))
    assert shard("NEW#1") == {"w2"} and shard("NEW#2") == {"w3"}
    with pytest.raises(dynamodb.exceptions.ConditionalCheckFailedException):
        dynamodb.put_item(
            TableName="events", Item=item("w3", "NEW#3"), ConditionExpression="attribute_not_exists(taskId)"
        )
    assert shard("NEW#2") == {"w3"} and shard("NEW#3") == set()


def test_a_key_condition_between_crossed_bounds_is_refused_as_dynamodb_refuses_it(
    dynamodb: Any, items: list[dict[str, str]]
) -> None:
    request = {
        "TableName": "events",
        "IndexName": "byShard",
        "KeyConditionExpression": "shard = :s AND #at between :a AND :b",
        "ExpressionAttributeNames": {"#at": "at"},
    }
    bounds = {":a": {"S": "2026-11-29T05:04:00Z"}, ":b": {"S": "2026-11-29T05:01:00Z"}}
    with pytest.raises(dynamodb.exceptions.ClientError, match="BETWEEN operator requires upper bound") as refused:
        dynamodb.query(**request, ExpressionAttributeValues={":s": {"S": SHARDS[0]}} | bounds)
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    # Equal bounds are a range of one moment, and answer.
    same = {":a": bounds[":a"], ":b": bounds[":a"]}
    dynamodb.query(**request, ExpressionAttributeValues={":s": {"S": SHARDS[0]}} | same)
