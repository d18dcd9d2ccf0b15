"""Sort keys sort as the lifecycle; status shards are stable and bounded; the reconciler's checkpoints and the keys
it looks processed lives up at."""

from __future__ import annotations

import re

import pytest

from handlers.dal.keys import (
    checkpoint_partition,
    is_task_partition,
    parse_sort_key,
    sort_key,
    status_partition,
    status_shard,
    terminal_key,
)
from handlers.dal.schema import GATEWAY_SLOT, STATUS_SHARDS, TERMINAL_SLOT
from handlers.models.input import TASK_ID_PATTERN


def test_keys_sort_as_the_lifecycle() -> None:
    lifecycle = [
        (0, GATEWAY_SLOT, 0),  # RECEIVED
        (0, GATEWAY_SLOT, 1),  # ENQUEUE_FAILED
        (0, 1, 0),  # RETRY_SCHEDULED 1
        (0, 2, 0),
        (0, 10, 0),  # numbers, not text: 10 after 2
        (0, TERMINAL_SLOT, 0),  # DEAD_LETTERED
        (0, TERMINAL_SLOT, 1),  # CLEANED_UP
        (1, GATEWAY_SLOT, 0),  # REDRIVEN
        (1, 1, 0),
        (1, TERMINAL_SLOT, 0),
    ]
    keys = [sort_key(*place) for place in lifecycle]

    assert sorted(keys) == keys
    assert [parse_sort_key(key) for key in keys] == lifecycle


def test_same_event_same_key() -> None:
    assert sort_key(0, 3, 0) == sort_key(0, 3, 0) == "0000#00003#000"


@pytest.mark.parametrize("place", [(-1, 0, 0), (10_000, 0, 0), (0, 100_000, 0), (0, 0, 1000)])
def test_out_of_range_is_refused(place: tuple[int, int, int]) -> None:
    with pytest.raises(ValueError, match="out of range"):
        sort_key(*place)


def test_status_shard_is_stable_and_bounded() -> None:
    shards = {status_shard("DEAD_LETTERED", f"task-{n}") for n in range(200)}

    assert status_shard("QUEUED", "a") == status_shard("QUEUED", "a")
    assert shards == {f"DEAD_LETTERED#{n}" for n in range(STATUS_SHARDS)}


def test_no_task_id_can_name_a_checkpoint_partition() -> None:
    # The reconciler's checkpoints are appended to the audit table: their partitions must never be a task's.
    for shard in range(STATUS_SHARDS):
        partition = checkpoint_partition(status_partition("QUEUED", shard))
        assert re.fullmatch(TASK_ID_PATTERN, partition) is None
        assert not is_task_partition(partition)
    assert is_task_partition("task-1") and is_task_partition("0")


def test_an_ended_life_is_looked_for_at_its_terminal_event() -> None:
    assert terminal_key(2) == sort_key(2, TERMINAL_SLOT, 0) == "0002#99999#000"
