"""Listing tasks by their current status, newest first and paged, from the sharded status index (never a scan).

The index holds every status-setting event, not only each task's latest: a task that dead-lettered and was then
redriven still has its DEAD_LETTERED entry. So each entry read is checked against the task's replayed history,
and a task is listed only at the event that set its status: once, and only under the status it is in.

A listing is read as of one moment, its first page's: the index is read up to it, and each history is replayed up
to it. The index is read before the histories, and a cursor's pages one after another, so a task that moves on
meanwhile has its old entry read and its new one written too late for the listing (newer than where the merge
is): judged by its whole history it would be listed under neither, judged as of the moment it is listed once, in
the status it was in then. A new listing shows it as it is now. What this cannot see is an event stamped before
the moment and not in the index when its partition is read (a write in flight; on AWS, the index's propagation):
its task is missing from the listing, never listed twice (README, "Not guaranteed").
"""

import base64
import binascii
import json
import re
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import takewhile
from typing import Any

from handlers.dal.audit_store import AuditStore, IndexPosition, position_of
from handlers.dal.keys import status_partition
from handlers.dal.schema import STATUS_SHARDS
from handlers.errors import InvalidQueryError
from handlers.logic.history import replay, status_event
from handlers.models.events import AuditEvent, EventType, TaskStatus
from handlers.models.output import TaskPage, TaskSummary
from handlers.models.timestamps import format_at, parse_at

SINCE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
SINCE_PATTERN = re.compile(r"^(\d{1,9})([smhdw])$")
# 2: the listing's moment and one merge position (1 kept a position per partition, and no moment).
CURSOR_VERSION = 2
# Rows read per partition and request: more than a page needs after filtering, few enough to stay cheap.
INDEX_PAGE_SIZE = 50
# Index entries examined per request at most: each costs a history read when its task was not seen yet, and
# entries of tasks that have moved on (e.g. thousands redriven since) must not run a request into its timeout.
# A page cut short still has a cursor, so nothing is skipped.
# 400 did not: GET /tasks?status=QUEUED after a few hundred tasks had run read 300 histories and overran the local
# stack's 6 s gateway timeout (a 502); at ~15 ms a read on a loaded emulator, 100 stays near 1.5 s.
MAX_EXAMINED = 100


def parse_since(text: str | None, now: datetime | None = None) -> str | None:
    """`90s`, `15m`, `1h`, `2d`, `1w` back from now, or an ISO 8601 time, as the index's sortable text
    (UTC, milliseconds, `Z`); None for no bound."""
    if not text:
        return None
    found = SINCE_PATTERN.match(text.strip())
    try:
        if found:
            moment = (now or datetime.now(UTC)) - timedelta(seconds=int(found[1]) * SINCE_UNITS[found[2]])
        else:
            moment = parse_at(text)
        return format_at(moment)
    except (ValueError, OverflowError) as exc:
        raise InvalidQueryError(f"since must be like 30m, 1h, 2d or an ISO 8601 time, not {text!r}") from exc


def partitions(status: TaskStatus | None) -> list[str]:
    """Every shard of the status, or of every status when none is given."""
    statuses = [status] if status else list(TaskStatus)
    return [status_partition(each, shard) for each in statuses for shard in range(STATUS_SHARDS)]


@dataclass
class _Partition:
    name: str
    fetch_after: IndexPosition | None = None  # the last entry read from DynamoDB: where its next read starts
    more: bool = True
    buffer: deque[AuditEvent] = field(default_factory=deque)


@dataclass
class _Listing:
    """A merge, newest first, of the partitions' entries up to the listing's moment; its state is what the cursor
    carries."""

    store: AuditStore
    status: TaskStatus | None
    since: str | None
    until: str  # the listing's moment
    partitions: dict[str, _Partition]
    # The last entry handed out, whichever partition it came from. Every entry newer than it has been handed out, so
    # the next page reads every partition from there: one that restarted from its own last entry (or its top) would
    # hand out an entry written meanwhile but stamped before the moment, and list its task a second time.
    last: IndexPosition | None = None

    def head(self, partition: _Partition) -> AuditEvent | None:
        while not partition.buffer and partition.more:
            events, more = self.store.status_page(
                partition.name, self.since, partition.fetch_after, INDEX_PAGE_SIZE, self.until
            )
            partition.buffer.extend(events)
            partition.more = more and bool(events)
            if events:
                partition.fetch_after = position_of(events[-1])
        return partition.buffer[0] if partition.buffer else None

    def pop(self) -> AuditEvent | None:
        heads = [(event, part) for part in self.partitions.values() if (event := self.head(part)) is not None]
        if not heads:
            return None
        event, partition = max(heads, key=lambda pair: position_of(pair[0]))
        partition.buffer.popleft()
        self.last = position_of(event)
        return event

    def exhausted(self) -> bool:
        return all(self.head(partition) is None for partition in self.partitions.values())

    def cursor(self) -> str:
        state = {
            "v": CURSOR_VERSION,
            "status": self.status.value if self.status else None,
            "since": self.since,
            "until": self.until,
            "last": list(self.last) if self.last else None,
            "done": [name for name, part in self.partitions.items() if not part.more and not part.buffer],
        }
        raw = json.dumps(state, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _start(
    store: AuditStore, status: TaskStatus | None, since: str | None, cursor: str | None, until: str | None
) -> _Listing:
    names = partitions(status)
    if not cursor:
        now = datetime.now(UTC)
        moment = until or format_at(now)
        return _Listing(store, status, parse_since(since, now), moment, {name: _Partition(name) for name in names})
    try:
        state = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if state["v"] != CURSOR_VERSION or state["status"] != (status.value if status else None):
            raise ValueError("the cursor belongs to another listing")
        last = IndexPosition(*map(_text, state["last"])) if state["last"] is not None else None
        since = _text(state["since"]) if state["since"] is not None else None
        resumed = {name: _Partition(name, fetch_after=last, more=name not in state["done"]) for name in names}
        listing = _Listing(store, status, since, _text(state["until"]), resumed, last)
    except (ValueError, TypeError, KeyError, binascii.Error) as exc:
        raise InvalidQueryError("cursor is not one this listing returned (same status, unchanged)") from exc
    return listing


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"not text: {value!r}")
    return value


def list_tasks(
    store: AuditStore,
    status: TaskStatus | None,
    since: str | None,
    limit: int,
    cursor: str | None = None,
    budget_seconds: float | None = None,
    until: str | None = None,
) -> TaskPage:
    """Up to `limit` tasks whose status is `status` (any, when None), newest status change first, that entered it
    at or after `since`, as of `until` (index text; now, when not given); with a cursor, the page after the one that
    returned it (its bounds and moment apply).
    A page may hold fewer tasks than `limit` and still have a next one: it stops at MAX_EXAMINED entries, or
    once `budget_seconds` have passed, so that a slow table cuts the page short instead of timing it out."""
    deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
    listing = _start(store, status, since, cursor, until)
    histories: dict[str, list[AuditEvent]] = {}
    tasks: list[TaskSummary] = []
    examined = 0
    while (
        len(tasks) < limit
        and examined < MAX_EXAMINED
        and not (examined and _past(deadline))
        and (entry := listing.pop())
    ):
        examined += 1
        summary = _if_current(store, entry, histories, listing.until)
        if summary is not None:
            tasks.append(summary)
    return TaskPage(tasks=tasks, nextCursor=None if listing.exhausted() else listing.cursor())


def _past(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() > deadline


def _if_current(
    store: AuditStore, entry: AuditEvent, histories: dict[str, list[AuditEvent]], until: str
) -> TaskSummary | None:
    # One history read per task and request: a retrying task has one index entry per retry.
    if entry.task_id not in histories:
        histories[entry.task_id] = store.history(entry.task_id)
    events = _as_of(histories[entry.task_id], until)
    setter = status_event(events)
    if setter is None or position_of(setter) != position_of(entry):
        return None  # an older status of the task: it had moved on by the listing's moment
    state = replay(events)
    error = setter.fields.get("lastError" if setter.type is EventType.DEAD_LETTERED else "error")
    return TaskSummary(
        taskId=entry.task_id,
        status=state.status,
        life=state.life,
        attempts=state.attempts,
        statusAt=setter.at,
        lastError=str(error) if error is not None else None,
    )


def _as_of(events: list[AuditEvent], until: str) -> list[AuditEvent]:
    """The history as it stood at the listing's moment: its events before the first one recorded after it."""
    return list(takewhile(lambda event: event.at <= until, events))
