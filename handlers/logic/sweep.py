"""The stranded-task sweeper: the outbox's reconciler (handlers.logic.outbox), run on a schedule.

A task can be stranded in QUEUED with no message anywhere: its gateway died between the RECEIVED write and the
send, or the send failed and so did the ENQUEUE_FAILED record (the same for a redrive). The hot path cannot tell
(it writes no event after the send, by design), so the sweeper looks for QUEUED tasks whose current life has only
gateway events, and re-sends each by the outbox's claim-then-send.

Re-sending a task whose message is merely waiting in a backlog would run it twice, so a task is re-sent only when
its last gateway event is older than the gateway's timeout (any send that followed it has happened) and the
processing queue was empty before its history was read (so the message is not there, and the processing events
it would have led to are in the history read after); or, whatever the queue holds, when it is older than
STRANDED_AFTER_SECONDS.
"""

import time
from datetime import datetime

from handlers.dal.audit_store import AuditStore
from handlers.dal.queue import TaskQueue
from handlers.errors import EnqueueFailedError
from handlers.logic.history import payload_of
from handlers.logic.listing import list_tasks
from handlers.logic.outbox import resend_cutoff, resend_if_stranded
from handlers.models.events import AuditEvent, TaskStatus
from handlers.models.output import SweepResult
from handlers.models.settings import SweeperSettings
from handlers.models.timestamps import format_at
from handlers.observability import logger

# Tasks asked of the listing per page; it examines at most listing.MAX_EXAMINED index entries per call anyway.
PAGE_SIZE = 100


def sweep_stranded(
    settings: SweeperSettings, store: AuditStore, queue: TaskQueue, budget_seconds: float
) -> SweepResult:
    """Re-send every stranded task the status index lists as QUEUED within the lookback, for up to
    `budget_seconds`; a sweep cut short leaves the rest to the next one."""
    deadline = time.monotonic() + budget_seconds
    # The queue first, then the histories: a message processed after this check has its events in them.
    queue_empty, sent_before = resend_cutoff(queue, settings.reenqueue_after_seconds, settings.stranded_after_seconds)
    # Only tasks whose last gateway event is older than `sent_before` can be re-sent, so the index is read from
    # there back: reading from now would spend each sweep's budget on tasks too young to touch (under steady load,
    # every task since the cut-off) and never reach the stranded ones behind them.
    until = format_at(sent_before)
    result = SweepResult(queueEmpty=queue_empty, examined=0, resent=[], failed=[], complete=False)
    cursor: str | None = None
    # Each listed task's history, read by the listing to check that QUEUED is its current status, after the queue
    # check above: what the re-send decides on, with no second read.
    histories: dict[str, list[AuditEvent]] = {}
    while True:
        page = list_tasks(
            store,
            TaskStatus.QUEUED,
            f"{settings.sweep_lookback_seconds}s",
            PAGE_SIZE,
            cursor,
            budget_seconds=max(0.0, deadline - time.monotonic()),
            until=until,
            histories=histories,
        )
        for summary in page.tasks:
            if time.monotonic() > deadline:
                return result
            result.examined += 1
            _sweep_one(store, queue, summary.taskId, histories[summary.taskId], sent_before, result)
        cursor = page.nextCursor
        if cursor is None:
            result.complete = True
            return result
        if time.monotonic() > deadline:
            return result


def _sweep_one(
    store: AuditStore,
    queue: TaskQueue,
    task_id: str,
    events: list[AuditEvent],
    sent_before: datetime,
    result: SweepResult,
) -> None:
    try:
        if resend_if_stranded(store, queue, events, payload_of(events, events[-1].life), sent_before):
            result.resent.append(task_id)
    except EnqueueFailedError:
        # Recorded as ENQUEUE_FAILED when the table allowed it; either way the next sweep sees it stranded still.
        logger.exception("could not re-send a stranded task", extra={"taskId": task_id})
        result.failed.append(task_id)
