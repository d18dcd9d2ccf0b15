"""The time budget of the functions' AWS calls, derived from each function's timeout (handlers.models.settings)."""

from __future__ import annotations

import pytest

from handlers.models.settings import CallBudget, CallSettings


@pytest.mark.parametrize("timeout", [1, 2, 3, 5, 10, 29, 30, 60, 300, 900])
def test_a_whole_attempt_of_a_call_fits_before_the_reserve(timeout: int) -> None:
    budget = CallBudget(timeout)
    assert budget.shortest_attempt < budget.attempt_seconds
    assert budget.attempt_seconds + budget.reserve < timeout
    assert budget.connect_timeout <= 2 and budget.read_timeout <= 5  # never longer than the SDK's usual ones


def test_a_stalled_call_leaves_the_gateway_time_to_answer_503() -> None:
    # The deployed gateway (10 s): a stalled attempt costs at most 3.5 s, and every attempt is cut to the invocation's
    # deadline, half a second before its end; botocore's defaults here (2 s + 5 s, four attempts) could take 28 s.
    budget = CallBudget(10)
    assert (budget.connect_timeout, budget.read_timeout, budget.reserve) == pytest.approx((0.5, 3.0, 0.5))
    assert 4 * (2 + 5) > 10


def test_a_worst_case_call_is_every_attempt_stalled_plus_the_longest_backoffs() -> None:
    budget = CallBudget(60)
    assert budget.worst_case_call == pytest.approx(3 * (2.0 + 5.0) + 1 + 2)  # 60 s: the caps, 2 s and 5 s


def test_the_budget_comes_from_the_functions_timeout_setting() -> None:
    assert CallSettings.from_environment({"FUNCTION_TIMEOUT": "30"}).call_budget == CallBudget(30)
    assert CallSettings.from_environment({}).call_budget == CallBudget(3)  # Lambda's default timeout
    assert CallSettings.environment(function_timeout=10) == {"FUNCTION_TIMEOUT": "10"}
