"""The stranded-task sweeper: the reconciler of a transactional outbox whose entries are RECEIVED and REDRIVEN.

A task can be stranded in QUEUED with no message anywhere: its gateway died between the RECEIVED write and the
send, or the send failed and so did the ENQUEUE_FAILED record (the same for a redrive). The hot path cannot tell
(it writes no event after the send, by design), so the sweeper looks for QUEUED tasks whose current life has only
gateway events, and re-sends each through the gateway's own claim-then-send (handlers.logic.submit).

Re-sending a task whose message is merely waiting in a backlog would run it twice, so a task is re-sent only when
its last gateway event is older than the gateway's timeout (any send that followed it has happened) and the
processing queue was empty before its history was read (so the message is not there, and the processing events
it would have led to are in the history read after); or, whatever the queue holds, when it is older than
STRANDED_AFTER_SECONDS.
"""

import json
import time
from datetime import datetime

from handlers.errors import EnqueueFailedError
from handlers.logic.listing import index_time, list_tasks
from handlers.logic.redrive import original_payload
from handlers.logic.submit import resend_cutoff, resend_if_stranded
from handlers.models.events import AuditEvent, EventType, TaskStatus
from handlers.models.output import SweepResult
from handlers.models.settings import SweeperSettings
from handlers.observability import logger

# Tasks asked of the listing per page; it examines at most listing.MAX_EXAMINED index entries per call anyway.
PAGE_SIZE = 100


def sweep_stranded(settings: SweeperSettings, budget_seconds: float) -> SweepResult:
    """Re-send every stranded task the status index lists as QUEUED within the lookback, for up to
    `budget_seconds`; a sweep cut short leaves the rest to the next one."""
    deadline = time.monotonic() + budget_seconds
    # The queue first, then the histories: a message processed after this check has its events in them.
    queue_empty, sent_before = resend_cutoff(
        settings.processing_queue_url, settings.reenqueue_after_seconds, settings.stranded_after_seconds
    )
    # Only tasks whose last gateway event is older than `sent_before` can be re-sent, so the index is read from
    # there back: reading from now would spend each sweep's budget on tasks too young to touch (under steady load,
    # every task since the cut-off) and never reach the stranded ones behind them.
    until = index_time(sent_before)
    result = SweepResult(queueEmpty=queue_empty, examined=0, resent=[], failed=[], complete=False)
    cursor: str | None = None
    # Each listed task's history, read by the listing to check that QUEUED is its current status, after the queue
    # check above: what the re-send decides on, with no second read.
    histories: dict[str, list[AuditEvent]] = {}
    while True:
        page = list_tasks(
            settings.audit_table_name,
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
            _sweep_one(settings, summary.taskId, histories[summary.taskId], sent_before, result)
        cursor = page.nextCursor
        if cursor is None:
            result.complete = True
            return result
        if time.monotonic() > deadline:
            return result


def _sweep_one(
    settings: SweeperSettings, task_id: str, events: list[AuditEvent], sent_before: datetime, result: SweepResult
) -> None:
    try:
        if resend_if_stranded(
            settings.audit_table_name, settings.processing_queue_url, events, _payload(events), sent_before
        ):
            result.resent.append(task_id)
    except EnqueueFailedError:
        # Recorded as ENQUEUE_FAILED when the table allowed it; either way the next sweep sees it stranded still.
        logger.exception("could not re-send a stranded task", extra={"taskId": task_id})
        result.failed.append(task_id)


def _payload(events: list[AuditEvent]) -> dict[str, object]:
    life = events[-1].life
    if life > 0:
        return original_payload(events, life - 1)
    received = next(event for event in events if event.type is EventType.RECEIVED)
    payload: dict[str, object] = json.loads(str(received.fields["payload"]))
    return payload
