"""Pure parts of the listing: `since`, the event that sets the current status, the status partitions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from handlers.dal.schema import GATEWAY_SLOT, STATUS_SHARDS, TERMINAL_SLOT
from handlers.errors import InvalidQueryError
from handlers.logic.history import replay, status_event
from handlers.logic.listing import parse_since, partitions
from handlers.models.events import STATUS_SET_BY, AuditEvent, EventType, TaskStatus

NOW = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", "2026-11-29T09:58:30.000Z"),
        ("30m", "2026-11-29T09:30:00.000Z"),
        ("1h", "2026-11-29T09:00:00.000Z"),
        ("2d", "2026-11-27T10:00:00.000Z"),
        ("1w", "2026-11-22T10:00:00.000Z"),
        ("2026-11-29T08:00:00Z", "2026-11-29T08:00:00.000Z"),
        ("2026-11-29T09:00:00+01:00", "2026-11-29T08:00:00.000Z"),
        ("2026-11-29", "2026-11-29T00:00:00.000Z"),
        (None, None),
        ("", None),
    ],
)
def test_since_is_a_duration_back_or_a_time_as_the_index_sorts_it(text: str | None, expected: str | None) -> None:
    assert parse_since(text, now=NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "1y", "-1h", "h", "999999999w", "2026-13-01"])
def test_a_bad_since_is_an_invalid_query(text: str) -> None:
    with pytest.raises(InvalidQueryError, match="since must be"):
        parse_since(text, now=NOW)


def test_partitions_cover_every_shard_of_the_status_or_of_all() -> None:
    assert partitions(TaskStatus.DEAD_LETTERED) == [f"DEAD_LETTERED#{n}" for n in range(STATUS_SHARDS)]
    assert len(partitions(None)) == len(TaskStatus) * STATUS_SHARDS


def event(kind: EventType, life: int = 0, slot: int = GATEWAY_SLOT, rank: int = 0) -> AuditEvent:
    return AuditEvent("t", kind, life=life, slot=slot, rank=rank)


def test_status_event_is_the_one_replay_ends_on() -> None:
    received = event(EventType.RECEIVED)
    retry1, retry2 = event(EventType.RETRY_SCHEDULED, slot=1), event(EventType.RETRY_SCHEDULED, slot=2)
    dead = event(EventType.DEAD_LETTERED, slot=TERMINAL_SLOT)
    cleaned = event(EventType.CLEANED_UP, slot=TERMINAL_SLOT, rank=1)
    redriven = event(EventType.REDRIVEN, life=1)
    failed_send = event(EventType.ENQUEUE_FAILED, life=1, rank=1)
    succeeded = event(EventType.SUCCEEDED, life=1, slot=TERMINAL_SLOT)
    cases = [
        ([], None),
        ([received], received),
        ([received, retry1, retry2], retry2),
        ([received, retry1, retry2, dead, cleaned], dead),
        ([received, retry1, dead, cleaned, redriven, failed_send], redriven),
        ([received, retry1, dead, cleaned, redriven, succeeded], succeeded),
    ]
    for events, expected in cases:
        assert status_event(events) == expected
        if events:
            assert expected is not None and STATUS_SET_BY[expected.type] == replay(events).status
