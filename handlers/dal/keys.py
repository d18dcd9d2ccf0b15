"""Pure key helpers of the audit table: the deterministic sort key and the status index shard."""

import zlib

from handlers.dal.schema import (
    CHECKPOINT_PARTITION_PREFIX,
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


def terminal_key(life: int) -> str:
    """Where a life that has ended keeps its one terminal event (SUCCEEDED or DEAD_LETTERED): an item there proves
    the life is past its outbox; none proves nothing (it may still be retrying), and the history decides then."""
    return sort_key(life, TERMINAL_SLOT, 0)


def checkpoint_partition(index_partition: str) -> str:
    """The audit table partition that holds the reconciler's checkpoints of one status index partition."""
    return f"{CHECKPOINT_PARTITION_PREFIX}{index_partition}"


def is_task_partition(partition: str) -> bool:
    """Whether an audit table partition is a task's history (and not the reconciler's checkpoints)."""
    return not partition.startswith(CHECKPOINT_PARTITION_PREFIX)
