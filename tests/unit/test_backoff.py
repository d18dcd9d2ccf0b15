"""The retry backoff: n x base, capped at what is left of SQS's 12 hours."""

from __future__ import annotations

import pytest

from handlers.logic.processing import retry_visibility_timeout


@pytest.mark.parametrize(("attempt", "base", "expected"), [(1, 30, 30), (2, 30, 60), (5, 2, 10), (3, 0, 0)])
def test_n_times_base(attempt: int, base: int, expected: int) -> None:
    assert retry_visibility_timeout(attempt, base) == expected


def test_capped_just_under_12_hours() -> None:
    assert retry_visibility_timeout(1000, 900) == 43199
    assert retry_visibility_timeout(2, 43200) == 43199


def test_the_cap_counts_the_time_since_the_send() -> None:
    assert retry_visibility_timeout(2, 43200, seconds_since_sent=100.2) == 43200 - 101 - 1
