"""Scale model of the deployed pipeline: for a stack's configuration and a sustained rate of tasks, the headroom of
every component (AWS's published limits and the figures measured here, all in infra/capacity.py), the first to
saturate, the configuration that lifts it (and then the next, until the rate holds or only a quota or a code change
would lift it), and the cost per million tasks at that rate (bench/cost.py's prices).

    venv/bin/python bench/scale.py                        # the default stack at its throttle, 1,000 and 10,000 tasks/s
    venv/bin/python bench/scale.py --stack local --rate 50
    venv/bin/python bench/scale.py --set maxConcurrency=100 --rate 5000 --examination-rate 2500

A model, not a measurement: each capacity is a steady state (no bursts, no warm-up of Lambda's or DynamoDB's
scaling), for tasks that succeed at once unless --failing-share says otherwise; the task worker's own time is
--worker-ms (0: the measured handler's alone).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH_DIR.parent), str(BENCH_DIR)]  # run as a script, from any directory

from cost import (  # noqa: E402
    API_REST_PER_REQUEST,
    DYNAMODB_PER_RRU,
    DYNAMODB_PER_WRU,
    KMS_KEYS_PER_MONTH,
    LAMBDA_ARM_PER_GB_SECOND,
    LAMBDA_PER_REQUEST,
    SQS_PER_REQUEST,
    digest_path_dollars,
)
from pydantic import ValidationError  # noqa: E402
from pydantic.alias_generators import to_camel  # noqa: E402

from handlers.dal.schema import STATUS_SHARDS  # noqa: E402
from infra import capacity  # noqa: E402
from infra.settings import PipelineSettings  # noqa: E402
from local.deploy.stack_config import load_stack_config  # noqa: E402

DEFAULT_RATES = (1_000.0, 10_000.0)  # after the stack's own throttle
SECONDS_A_MONTH = 30 * 86_400
# Each task's appends reach the digest function as stream records: RECEIVED and SUCCEEDED.
STREAM_RECORDS_PER_TASK = 2
# Lifts applied one after another before the model gives up (each lifts one component).
MAX_LIFTS = 10


def stack_settings(stack: str, overrides: list[str]) -> PipelineSettings:
    """The stack's configuration as the program sees it (Pulumi.yaml defaults, Pulumi.<stack>.yaml, then
    `key=value` overrides), validated as `pulumi up` validates it."""
    pairs = dict(override.split("=", 1) for override in overrides)
    config = load_stack_config(BENCH_DIR.parent, stack, pairs)
    raw: dict[str, Any] = {k.removeprefix("tasktrail:"): v for k, v in config.items() if k.startswith("tasktrail:")}
    raw["region"] = config.get("aws:region", "us-east-1")
    return PipelineSettings.model_validate(raw)


def key_names(update: dict[str, Any]) -> str:
    return ", ".join(f"tasktrail:{to_camel(name)}={value}" for name, value in update.items())


def lifted(
    settings: PipelineSettings, workload: capacity.Workload, rate: float
) -> tuple[list[tuple[capacity.Limit, dict[str, Any] | None]], PipelineSettings]:
    """The components that saturate below `rate`, lowest first, each with the configuration that lifts it (None:
    only a quota or a code change can), applied one after another; and the configuration they lead to."""
    chain: list[tuple[capacity.Limit, dict[str, Any] | None]] = []
    current = settings
    for _ in range(MAX_LIFTS):
        # A component no configuration lifts is named once, and the model goes on to the next as if it were lifted.
        named = {limit.component for limit, _ in chain}
        saturated = [
            limit
            for limit in capacity.limits(current, workload)
            if limit.capacity < rate and limit.component not in named
        ]
        if not saturated:
            break
        first = min(saturated, key=lambda limit: limit.capacity)
        update = capacity.config_lift(first, rate)
        chain.append((first, update))
        if update is not None:
            current = current.model_copy(update=update)
    return chain, current


def cost_per_million(settings: PipelineSettings, workload: capacity.Workload, rate: float) -> dict[str, float]:
    """Dollars per million tasks at a sustained `rate`, by part: what each task costs (the counts measured by
    bench/cost.py), the reconciler's examination of its entry, and the fixed costs shared by the tasks of a month."""
    attempts = 1 + workload.failing_share * (settings.max_receive_count - 1)
    received = workload.received_write_units
    gb = 1 / 1024
    per_task = {
        "API Gateway": API_REST_PER_REQUEST,
        "Lambda": (1 + attempts / capacity.PROCESSING_RECORDS_PER_BATCH) * LAMBDA_PER_REQUEST
        + (
            capacity.GATEWAY_SECONDS * settings.gateway_memory
            + attempts * (capacity.PROCESSING_SECONDS_PER_RECORD + workload.worker_seconds) * settings.processing_memory
        )
        * gb
        * LAMBDA_ARM_PER_GB_SECOND,
        "SQS": capacity.SQS_REQUESTS_PER_TASK * attempts * SQS_PER_REQUEST,
        # Each append is written to the byStatus index too (sparse, ALL projected): twice its write units.
        "DynamoDB writes": 2 * (received + attempts) * DYNAMODB_PER_WRU,
    }
    # The reconciler: its entry read from the index (eventually consistent, half a unit per 4 KB, summed over a page)
    # and its terminal key looked up in a BatchGetItem (half a unit, an item under 4 KB), in the sweeper's time;
    # then per run, one invocation and a checkpoint per shard at least.
    entry_units = 0.5 * (capacity.EVENT_ITEM_BYTES + workload.payload_bytes) / capacity.READ_UNIT_BYTES
    runs_per_task = 1 / (rate * settings.sweep_interval_seconds)
    reconciler = (
        (entry_units + 0.5) * DYNAMODB_PER_RRU
        + capacity.SWEEPER_MEMORY * gb / workload.examination_rate * LAMBDA_ARM_PER_GB_SECOND
        + runs_per_task * (LAMBDA_PER_REQUEST + STATUS_SHARDS * DYNAMODB_PER_WRU)
    )
    digest = sum(digest_path_dollars(STREAM_RECORDS_PER_TASK, rate, capacity.DIGEST_SECONDS * 1000).values()) / 1e6
    fixed = KMS_KEYS_PER_MONTH / (rate * SECONDS_A_MONTH)
    return {
        name: dollars * 1e6
        for name, dollars in {
            **per_task,
            "reconciler": reconciler,
            "digests": digest,
            "KMS keys (fixed)": fixed,
        }.items()
    }


def show(settings: PipelineSettings, workload: capacity.Workload, rate: float) -> None:
    print(f"\n=== {rate:,.0f} tasks/s ===")
    print(f"{'component':<34}{'tasks/s':>12}{'headroom':>10}  basis")
    for limit in sorted(capacity.limits(settings, workload), key=lambda limit: limit.capacity):
        room = limit.capacity / rate
        capacity_text = "unbounded" if math.isinf(limit.capacity) else f"{limit.capacity:,.0f}"
        room_text = "-" if math.isinf(room) else f"{room:.2f}x"
        mark = "  <-- saturated" if limit.capacity < rate else ""
        print(f"{limit.component:<34}{capacity_text:>12}{room_text:>10}  {limit.basis}{mark}")
    chain, final = lifted(settings, workload, rate)
    if not chain:
        first = capacity.first_to_saturate(settings, workload)
        print(
            f"holds: every component has headroom; the first to saturate is the {first.component} at "
            f"{first.capacity:,.0f} tasks/s ({first.lift})"
        )
    for step, (limit, update) in enumerate(chain):
        lead = "first to saturate" if step == 0 else "then"
        lift = key_names(update) if update else f"no configuration: {limit.lift}"
        print(f"{lead}: the {limit.component} at {limit.capacity:,.0f} tasks/s; lifted by {lift}")
    changes = {
        name: getattr(final, name)
        for name in PipelineSettings.model_fields
        if getattr(final, name) != getattr(settings, name)
    }
    if chain and all(update is not None for _, update in chain):
        beyond = min(capacity.limits(final, workload), key=lambda limit: limit.capacity)
        print(
            f"the configuration that holds {rate:,.0f} tasks/s: {key_names(changes)}; its first to saturate "
            f"beyond: the {beyond.component} at {beyond.capacity:,.0f} tasks/s"
        )
    elif chain:
        print(
            f"no configuration alone holds {rate:,.0f} tasks/s: "
            + (f"with {key_names(changes)}, " if changes else "")
            + "the components above that no configuration lifts need a quota raised or a code change"
        )
    needed = capacity.concurrency(final, workload, rate)
    print("Lambda concurrency at this rate: " + ", ".join(f"{name} {value:,.1f}" for name, value in needed.items()))
    dollars = cost_per_million(final, workload, rate)
    print(
        f"cost per million tasks at this rate: ${sum(dollars.values()):.2f} = "
        + ", ".join(f"{name} {value:.3f}" for name, value in dollars.items())
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", default="default", help="Pulumi.<stack>.yaml over the project's defaults")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a config key (repeatable)")
    parser.add_argument(
        "--rate",
        type=float,
        action="append",
        help="tasks/s (repeatable; default: the stack's apiThrottleRate, then 1,000 and 10,000)",
    )
    parser.add_argument("--payload-bytes", type=int, default=capacity.Workload.payload_bytes)
    parser.add_argument("--failing-share", type=float, default=0.0, help="share of tasks that fail every attempt")
    parser.add_argument("--worker-ms", type=float, default=0.0, help="the task worker's own ms per task")
    parser.add_argument("--account-concurrency", type=int, default=capacity.LAMBDA_ACCOUNT_CONCURRENCY)
    parser.add_argument(
        "--examination-rate",
        type=float,
        default=capacity.EXAMINATION_RATE,
        help="reconciler entries/s (default: measured by bench/reconciler.py)",
    )
    args = parser.parse_args()
    try:
        settings = stack_settings(args.stack, args.set)
    except ValidationError as exc:
        sys.exit(f"the configuration is refused, as `pulumi up` would refuse it:\n{exc}")
    workload = capacity.Workload(
        payload_bytes=args.payload_bytes,
        failing_share=args.failing_share,
        account_concurrency=args.account_concurrency,
        worker_seconds=args.worker_ms / 1000,
        examination_rate=args.examination_rate,
    )
    print(
        f"scale model: stack {args.stack}"
        + (f" with {', '.join(args.set)}" if args.set else "")
        + f"; apiThrottleRate {settings.api_throttle_rate}/s, maxConcurrency {settings.max_concurrency}, batchSize "
        f"{settings.batch_size}, sweepSchedule {settings.sweep_schedule}; payload {workload.payload_bytes:,} B, "
        f"failing share {workload.failing_share:.0%}, worker {args.worker_ms:g} ms, account concurrency "
        f"{workload.account_concurrency:,}, reconciler {workload.examination_rate:,.0f} entries/s"
    )
    _, warnings = capacity.problems(settings, workload)
    for warning in warnings:
        print(f"warning at the stack's own throttle: {warning}")
    for rate in args.rate or (float(settings.api_throttle_rate), *DEFAULT_RATES):
        show(settings, workload, rate)


if __name__ == "__main__":
    main()
