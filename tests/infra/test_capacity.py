"""The scale model (infra/capacity.py) as the configuration's policy: a stage throttle the processing side can never
drain is refused before any resource exists, naming the keys; a rate a quota or the reconciler's measured pace would
not hold is warned about; and each lift the model proposes does lift its component."""

from __future__ import annotations

import logging

import pytest

from infra import capacity
from infra.settings import ConfigError, PipelineSettings
from tests.infra.harness import PROJECT_DIR, RecordingMocks, run_program


def settings(**overrides: str) -> PipelineSettings:
    from local.deploy.stack_config import load_stack_config

    config = load_stack_config(PROJECT_DIR, "test", overrides)
    raw = {key.removeprefix("tasktrail:"): value for key, value in config.items() if key.startswith("tasktrail:")}
    return PipelineSettings.model_validate({**raw, "region": "us-east-1"})


def test_a_throttle_the_processing_side_can_never_drain_is_refused_naming_the_keys() -> None:
    # maxConcurrency 10 batches at once drain 10 / 6 ms = 1,667 tasks/s at best, whatever the worker does.
    mocks = RecordingMocks()
    with pytest.raises(ConfigError) as raised:
        run_program("test", {"apiThrottleRate": "2000"}, mocks=mocks)
    message = str(raised.value)
    assert "tasktrail:apiThrottleRate (2000/s)" in message
    assert "tasktrail:maxConcurrency" in message and "processing (SQS mapping)" in message
    assert mocks.resources == []


def test_the_same_throttle_with_the_concurrency_to_drain_it_is_accepted_and_the_reconciler_warned_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        run = run_program("test", {"apiThrottleRate": "2000", "maxConcurrency": "20"})
    assert run.of_type("aws:lambda/function:Function")
    warnings = [record.getMessage() for record in caplog.records if "reconciler (sweeper)" in record.getMessage()]
    assert len(warnings) == 1
    assert "tasktrail:sweepSchedule" in warnings[0] and "tasktrail:apiThrottleRate (2000/s)" in warnings[0]


@pytest.mark.parametrize("stack", ["test", "local"])
def test_the_shipped_stacks_hold_their_own_throttle(stack: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        run_program(stack)
    assert not [record for record in caplog.records if "can take" in record.getMessage()]


def test_processing_capacity_is_max_concurrency_batches_over_a_records_time() -> None:
    (processing,) = [limit for limit in capacity.limits(settings(), capacity.Workload()) if limit.refused]
    assert processing.capacity == pytest.approx(10 / capacity.PROCESSING_SECONDS_PER_RECORD)
    slower = capacity.Workload(worker_seconds=0.044)  # a worker of 44 ms: 50 ms a record
    (slow,) = [limit for limit in capacity.limits(settings(), slower) if limit.refused]
    assert slow.capacity == pytest.approx(10 / 0.05)


def test_the_reconciler_keeps_up_with_what_it_examines_in_its_runs() -> None:
    # A run may work until the next is due, less the reserve and one worst-case call.
    assert capacity.sweeper_timeout(300) == 300 and capacity.sweeper_timeout(3600) == capacity.LAMBDA_MAX_TIMEOUT
    run = capacity.reconciler_run_seconds(300)
    assert 0 < run < 300
    assert capacity.reconciler_capacity(1000, 300) == pytest.approx(1000 * run / 300)
    assert capacity.stranded_wait_bound(900, 300) == 900 + 300 + 300


@pytest.mark.parametrize("rate", [1_000.0, 5_000.0])
def test_every_lift_the_model_proposes_lifts_its_component(rate: float) -> None:
    current = settings()
    workload = capacity.Workload(examination_rate=20_000)
    for limit in capacity.limits(current, workload):
        update = capacity.config_lift(limit, rate)
        if limit.capacity >= rate or update is None:
            continue
        lifted = current.model_copy(update=update)
        (after,) = [each for each in capacity.limits(lifted, workload) if each.component == limit.component]
        assert after.capacity >= rate, (limit.component, update)


def test_the_default_stack_saturates_first_at_its_own_throttle() -> None:
    first = capacity.first_to_saturate(settings(), capacity.Workload())
    assert (first.component, first.capacity) == ("API Gateway stage throttle", 100)


def test_the_readme_scaling_section_is_what_bench_scale_prints(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The README quotes `bench/scale.py` for the default stack (its throttle, then 1,000 and 10,000 tasks/s):
    # a change to the model or its figures must regenerate it.
    import sys

    from bench import scale

    monkeypatch.setattr(sys, "argv", ["bench/scale.py"])
    scale.main()
    printed = capsys.readouterr().out.strip()
    readme = (PROJECT_DIR / "README.md").read_text(encoding="utf-8")
    assert f"```\n$ venv/bin/python bench/scale.py\n{printed}\n```" in readme
