"""Pure key helpers of the audit table: the deterministic sort key and the status index shard."""

import zlib

from handlers.dal.schema import (
    CHECKPOINT_PARTITION_PREFIX,
    FIRST_ATTEMPT_SLOT,
    MAX_LIFE,
    MAX_RANK,
    SORT_KEY_FORMAT,
    STATUS_SHARDS,
    TERMINAL_SLOT,
)


def sort_key(life: int, slot: int, rank: int) -> str:
    """The event's sort key; equal inputs give equal keys, so a redelivery rewrites the same key."""
    if not (0 <= life <= MAX_LIFE and 0 <= slot <= TERMINAL_SLOT and 0 <= rank <= MAX_RANK):
        raise ValueError(f"sort key out of range: life={life} slot={slot} rank={rank}")
    return SORT_KEY_FORMAT.format(life=life, slot=slot, rank=rank)


def parse_sort_key(value: str) -> tuple[int, int, int]:
    """(life, slot, rank) of a sort key written by sort_key."""
    life, slot, rank = value.split("#")
    return int(life), int(slot), int(rank)


def status_shard(status: str, task_id: str) -> str:
    """Status index partition: crc32 is stable across processes, unlike hash(), so a task always maps alike."""
    return status_partition(status, zlib.crc32(task_id.encode()) % STATUS_SHARDS)


def status_partition(status: str, shard: int) -> str:
    """The status index partition key of one shard of a status, e.g. DEAD_LETTERED#3."""
    return f"{status}#{shard}"


def processed_keys(life: int) -> tuple[str, str]:
    """Where a life that reached processing usually left an item: its first attempt's RETRY_SCHEDULED, or its one
    terminal event (SUCCEEDED or DEAD_LETTERED). An item at either proves the life is past its outbox; neither
    proves nothing (a first attempt may have died without a record), so the history decides then."""
    return sort_key(life, FIRST_ATTEMPT_SLOT, 0), sort_key(life, TERMINAL_SLOT, 0)


def checkpoint_partition(index_partition: str) -> str:
    """The audit table partition that holds the reconciler's checkpoints of one status index partition."""
    return f"{CHECKPOINT_PARTITION_PREFIX}{index_partition}"


def is_task_partition(partition: str) -> bool:
    """Whether an audit table partition is a task's history (and not the reconciler's checkpoints)."""
    return not partition.startswith(CHECKPOINT_PARTITION_PREFIX)
