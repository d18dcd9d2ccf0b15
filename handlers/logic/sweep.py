"""The stranded-task sweeper: the outbox's reconciler (handlers.logic.outbox), run on a schedule.

A task can be stranded in QUEUED with no message anywhere: its gateway died between the RECEIVED write and the
send, or the send failed and so did the ENQUEUE_FAILED record (the same for a redrive, or for a re-send). The hot
path cannot tell (it writes no event after the send, by design), so the sweeper reads the outbox's entries (RECEIVED,
REDRIVEN and REENQUEUED, each indexed under QUEUED) and re-sends the tasks whose current life has only gateway
events, by the outbox's claim-then-send.

Coverage that does not depend on load: each shard of the QUEUED index is read oldest first, from a durable
checkpoint (appended to the audit table) up to the guaranteed cut-off, `now - STRANDED_AFTER_SECONDS`. So every
entry is examined once, when it has become old enough to be re-sent whatever the queue holds, however many entries
a run finds: a run cut short by its time budget leaves its checkpoint where it stopped, and the next run goes on
from there (the lag it reports says how far behind the cut-off that is). A re-send's own REENQUEUED entry is
examined in its turn, so a re-send that is lost too is found again. The shards are swept in parallel threads.

Most entries belong to tasks that ended long ago. An ended life has its terminal event at a key known in advance
(handlers.dal.keys.terminal_key), so one BatchGetItem tells 100 entries' tasks apart; only the others (still retrying,
or stranded) cost a history read and the outbox's rule (resend_if_stranded). Checking the first retry's key too would
spare the history reads of tasks still retrying at strandedAfterSeconds, at twice the BatchGetItem calls for all.

Re-sending a task whose message is merely waiting in a backlog would run it twice, which is why the guaranteed cut-off
is STRANDED_AFTER_SECONDS. Earlier, as a best-effort extra: when the processing queue was empty before the histories
were read, entries younger than that but older than the gateway's timeout are examined too (without a checkpoint:
the guaranteed pass still examines them when their time comes).
"""

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from handlers.dal.audit_store import BATCH_GET_KEYS, AuditStore, IndexPosition, position_of
from handlers.dal.keys import status_partition, terminal_key
from handlers.dal.queue import TaskQueue
from handlers.dal.schema import STATUS_SHARDS
from handlers.errors import EnqueueFailedError, ServiceUnavailableError
from handlers.logic.history import payload_of
from handlers.logic.outbox import resend_cutoff, resend_if_stranded
from handlers.models.contract import Metric
from handlers.models.events import AuditEvent, TaskStatus
from handlers.models.output import SweepResult
from handlers.models.settings import SweeperSettings
from handlers.models.timestamps import format_at, parse_at
from handlers.observability import logger, seconds

# Index entries read per Query: enough for a few BatchGetItem calls each (DynamoDB also stops a page at 1 MB).
PAGE_SIZE = 500
# A shard's checkpoint is appended after a page once this long has passed since its last one, and at the end of its
# pass: a run that dies loses at most this much of its work (it is done again, idempotently), and a busy shard
# appends a few items a run rather than one a page.
CHECKPOINT_EVERY_SECONDS = 10.0


@dataclass
class ShardPass:
    """What one shard's pass did."""

    reached: str  # the `at` where the guaranteed pass stopped: its last entry, or where it began
    examined: int = 0
    histories: int = 0
    resent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    complete: bool = False  # the guaranteed pass reached the cut-off


@dataclass(frozen=True)
class _Sweep:
    """What every shard's pass shares."""

    store: AuditStore
    queue: TaskQueue
    deadline: float
    due_before: str  # the guaranteed cut-off: every entry at or before it is examined, once
    sent_before: datetime  # the outbox rule's moment (resend_cutoff)
    early_until: str | None  # the best-effort window's end, when the queue was empty
    start_at: str  # where a shard without a checkpoint starts (the lookback)

    def out_of_time(self) -> bool:
        return time.monotonic() > self.deadline


def sweep_stranded(
    settings: SweeperSettings,
    store: AuditStore,
    queue: TaskQueue,
    budget_seconds: float,
    now: datetime | None = None,
) -> SweepResult:
    """Examine, for up to `budget_seconds`, every QUEUED index entry not examined yet whose age has passed
    STRANDED_AFTER_SECONDS (and, when the queue is empty, the younger ones past the gateway's timeout), re-sending
    the stranded tasks; then publish how far behind the cut-off the furthest-behind shard was left."""
    now = now or datetime.now(UTC)
    due_before = now - timedelta(seconds=settings.stranded_after_seconds)
    # The queue first, then the histories: a message processed after this check has its events in them.
    queue_empty, sent_before = resend_cutoff(
        queue, settings.reenqueue_after_seconds, settings.stranded_after_seconds, now
    )
    sweep = _Sweep(
        store=store,
        queue=queue,
        deadline=time.monotonic() + budget_seconds,
        due_before=format_at(due_before),
        sent_before=sent_before,
        early_until=format_at(sent_before) if queue_empty and sent_before > due_before else None,
        start_at=format_at(now - timedelta(seconds=settings.sweep_lookback_seconds)),
    )
    with ThreadPoolExecutor(STATUS_SHARDS) as pool:
        passes = list(pool.map(lambda shard: _sweep_shard(sweep, shard), range(STATUS_SHARDS)))
    lag = max(_lag(each, due_before) for each in passes)
    seconds(Metric.RECONCILER_LAG_SECONDS, lag)
    return SweepResult(
        queueEmpty=queue_empty,
        examined=sum(each.examined for each in passes),
        historiesRead=sum(each.histories for each in passes),
        resent=[task for each in passes for task in each.resent],
        failed=[task for each in passes for task in each.failed],
        complete=all(each.complete for each in passes),
        lagSeconds=round(lag, 3),
    )


def _lag(shard: ShardPass, due_before: datetime) -> float:
    """How far behind the cut-off the shard's guaranteed pass stopped: 0 when it reached it."""
    if shard.complete:
        return 0.0
    return max(0.0, (due_before - parse_at(shard.reached)).total_seconds())


def _sweep_shard(sweep: _Sweep, shard: int) -> ShardPass:
    partition = status_partition(TaskStatus.QUEUED, shard)
    # Until its checkpoint is read, a shard counts as behind by the whole lookback.
    result = ShardPass(reached=sweep.start_at)
    try:
        checkpoint = sweep.store.last_checkpoint(partition)
        result.reached = checkpoint.at if checkpoint else sweep.start_at
        # A checkpoint may be past the cut-off (strandedAfterSeconds raised since it was recorded): nothing is due.
        result.complete = _walk(sweep, partition, result.reached, sweep.due_before, checkpoint, result, record=True)
        if result.complete and sweep.early_until and not sweep.out_of_time():
            # From the cut-off, or from a checkpoint past it: what lies before that has been examined.
            since = max(sweep.due_before, result.reached)
            _walk(sweep, partition, since, sweep.early_until, None, result, record=False)
    except ServiceUnavailableError:
        # The table or the queue failed: the checkpoint stays before the first entry that could not be examined.
        logger.exception("sweep of an index shard stopped", extra={"partition": partition})
    return result


def _walk(
    sweep: _Sweep,
    partition: str,
    since: str,
    until: str,
    after: IndexPosition | None,
    result: ShardPass,
    *,
    record: bool,
) -> bool:
    """Examine the partition's entries from `since` (after `after`, when given) to `until`, oldest first, while time
    is left; with `record`, append checkpoints on the way and where it stops, and keep that place in
    result.reached. True when it reached `until`."""
    recorded, recorded_at = after, time.monotonic()
    try:
        while not sweep.out_of_time():
            entries, more = sweep.store.status_page(partition, since, after, PAGE_SIZE, until, newest_first=False)
            examined = 0
            for entry in _examined(sweep, entries, result):
                after, examined = position_of(entry), examined + 1
                if record:
                    result.reached = entry.at
            if examined < len(entries):
                return False  # out of time within the page
            if not more or not entries:
                return True
            if record and after is not None and time.monotonic() - recorded_at >= CHECKPOINT_EVERY_SECONDS:
                sweep.store.append_checkpoint(partition, after)
                recorded, recorded_at = after, time.monotonic()
        return False
    finally:
        # Also when an entry could not be examined: the checkpoint then stays at the last entry that was.
        if record and after is not None and after != recorded:
            sweep.store.append_checkpoint(partition, after)


def _examined(sweep: _Sweep, entries: list[AuditEvent], result: ShardPass) -> Iterator[AuditEvent]:
    """Examine the entries in order, yielding each once it is done, while time is left: one BatchGetItem per
    BATCH_GET_KEYS entries tells the ended lives apart; every other entry's task has its history read and the outbox's
    rule applied."""
    for start in range(0, len(entries), BATCH_GET_KEYS):
        if sweep.out_of_time():
            return
        batch = entries[start : start + BATCH_GET_KEYS]
        ended = sweep.store.existing_keys((entry.task_id, terminal_key(entry.life)) for entry in batch)
        for entry in batch:
            if (entry.task_id, terminal_key(entry.life)) not in ended:
                result.histories += 1
                _sweep_one(sweep, entry.task_id, sweep.store.history(entry.task_id), result)
            result.examined += 1
            yield entry


def _sweep_one(sweep: _Sweep, task_id: str, events: list[AuditEvent], result: ShardPass) -> None:
    try:
        payload = payload_of(events, events[-1].life)
        if resend_if_stranded(sweep.store, sweep.queue, events, payload, sweep.sent_before):
            result.resent.append(task_id)
    except EnqueueFailedError:
        # Its REENQUEUED claim is written (ENQUEUE_FAILED too, when the table allowed it): that entry of the index is
        # examined in its turn, and the task re-sent then.
        logger.exception("could not re-send a stranded task", extra={"taskId": task_id})
        result.failed.append(task_id)
