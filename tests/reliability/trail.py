"""Reading the audit table and the queues straight from the emulator, and the invariants every history must keep."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from handlers.dal.schema import TABLE_PARTITION_KEY, TABLE_SORT_KEY

TERMINAL = ("SUCCEEDED", "DEAD_LETTERED")
QUEUE_COUNTS = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")


@dataclass(frozen=True)
class Item:
    """One audit event as stored."""

    task_id: str
    sk: str
    type: str
    at: str
    life: int
    attempt: int | None


def scan(dynamodb: Any, table: str, prefix: str = "") -> dict[str, list[Item]]:
    """Every event of the tasks whose id starts with `prefix`, per task in sort key order (a full, paged scan)."""
    by_task: dict[str, list[Item]] = defaultdict(list)
    request: dict[str, Any] = {"TableName": table}
    while True:
        page = dynamodb.scan(**request)
        for raw in page.get("Items", []):
            task_id = raw[TABLE_PARTITION_KEY]["S"]
            if task_id.startswith(prefix):
                by_task[task_id].append(
                    Item(
                        task_id=task_id,
                        sk=raw[TABLE_SORT_KEY]["S"],
                        type=raw["type"]["S"],
                        at=raw["at"]["S"],
                        life=int(raw["life"]["N"]),
                        attempt=int(raw["attempt"]["N"]) if "attempt" in raw else None,
                    )
                )
        if "LastEvaluatedKey" not in page:
            break
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return {task_id: sorted(items, key=lambda item: item.sk) for task_id, items in by_task.items()}


def keys(dynamodb: Any, table: str) -> set[tuple[str, str]]:
    """(taskId, sk) of every item: a snapshot to prove that a request recorded nothing."""
    found: set[tuple[str, str]] = set()
    request: dict[str, Any] = {"TableName": table, "ProjectionExpression": "taskId, sk"}
    while True:
        page = dynamodb.scan(**request)
        found |= {(raw["taskId"]["S"], raw["sk"]["S"]) for raw in page.get("Items", [])}
        if "LastEvaluatedKey" not in page:
            return found
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def settled(items: list[Item]) -> bool:
    """Terminal in its current life; a dead-lettered task also has CLEANED_UP (the DLQ function is done)."""
    life = items[-1].life
    types = {item.type for item in items if item.life == life}
    return "SUCCEEDED" in types or {"DEAD_LETTERED", "CLEANED_UP"} <= types


def terminal(items: list[Item]) -> str | None:
    """SUCCEEDED or DEAD_LETTERED, if the task has ended."""
    ends = [item.type for item in items if item.type in TERMINAL]
    return ends[-1] if ends else None


def violations(task_id: str, items: list[Item]) -> list[str]:
    """What is wrong with one task's stored history: doubled events, a missing or doubled terminal, disorder."""
    problems = []
    received = [item for item in items if item.type == "RECEIVED"]
    if len(received) != 1:
        problems.append(f"{len(received)} RECEIVED events")
    per_slot = Counter((item.life, item.attempt, item.type) for item in items)
    doubled = [(slot, n) for slot, n in per_slot.items() if n > 1]
    problems += [f"{kind} written {n}x in life {life}, attempt {att}" for (life, att, kind), n in doubled]
    for life in sorted({item.life for item in items}):
        events = [item for item in items if item.life == life]
        ends = [item.type for item in events if item.type in TERMINAL]
        if len(ends) != 1:
            problems.append(f"life {life} has terminal events {ends}")
        stamps = [item.at for item in events]
        if stamps != sorted(stamps):
            problems.append(f"life {life}: `at` goes backwards: {[(i.type, i.at) for i in events]}")
    return [f"{task_id}: {problem}" for problem in problems]


def check_api_history(task_id: str, history: dict[str, Any], items: list[Item]) -> list[str]:
    """The API's view agrees with the table: same events in the same order, seq 1..n, the derived status."""
    problems = []
    seqs = [event["seq"] for event in history["events"]]
    if seqs != list(range(1, len(items) + 1)):
        problems.append(f"seq {seqs} for {len(items)} stored events")
    if [event["type"] for event in history["events"]] != [item.type for item in items]:
        problems.append(f"API events {[e['type'] for e in history['events']]} != table {[i.type for i in items]}")
    if history["status"] != terminal(items):
        problems.append(f"status {history['status']} but terminal event {terminal(items)}")
    return [f"{task_id}: {problem}" for problem in problems]


def queue_counts(sqs: Any, url: str) -> tuple[int, int]:
    """(visible, in flight) messages of a queue."""
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(QUEUE_COUNTS))["Attributes"]
    visible, hidden = (int(attributes[name]) for name in QUEUE_COUNTS)
    return visible, hidden


def wait_until(condition: Callable[[], bool], timeout: float, what: Callable[[], str], every: float = 0.5) -> float:
    """Poll `condition` until it holds; the seconds it took. Fails with `what()` once `timeout` has passed."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout:.0f}s: {what()}")
        time.sleep(every)
    return time.monotonic() - started


def wait_queues_empty(sqs: Any, urls: Iterable[str], timeout: float = 60) -> float:
    """Both queues hold nothing, visible or in flight."""
    urls = list(urls)
    counts: dict[str, tuple[int, int]] = {}

    def empty() -> bool:
        counts.update({url: queue_counts(sqs, url) for url in urls})
        return all(count == (0, 0) for count in counts.values())

    return wait_until(empty, timeout, lambda: f"queues still hold (visible, in flight): {counts}")


def plan_payload(i: int) -> dict[str, Any]:
    """A tenth fail on every attempt, a tenth fail once, the rest succeed at once."""
    if i % 10 == 0:
        return {"simulate": "fail", "i": i}
    if i % 10 == 1:
        return {"simulate": "fail-once", "i": i}
    return {"i": i, "note": "load"}


def expected_end(payload: dict[str, Any]) -> str:
    return "DEAD_LETTERED" if payload.get("simulate") == "fail" else "SUCCEEDED"
