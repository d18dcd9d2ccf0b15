"""The scale model: the sustained rate of tasks each component of the pipeline can take for a configuration, from
AWS's published limits (each with its page) and the figures measured on this machine; the first component to saturate
and what lifts it. `bench/scale.py` prints it (and the cost per million tasks); `infra/settings.py` refuses a
configuration it shows cannot hold, and warns where refusing would be too strict (an account's quotas can be raised,
and the figures measured here are a local emulator's)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from handlers.dal.schema import STATUS_SHARDS
from handlers.models.contract import SQS_MAX_VISIBILITY_TIMEOUT
from handlers.models.settings import CallBudget

if TYPE_CHECKING:
    from infra.settings import PipelineSettings

# --- AWS's published limits: default quotas, most adjustable ------------------------------------------------------
# API Gateway: 10,000 requests/s per account and Region, across all its APIs (5,000 burst).
# https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html
API_ACCOUNT_RPS = 10_000
API_ACCOUNT_BURST = 5_000
# Lambda: 1,000 concurrent executions per account and Region by default (new accounts may get less).
# https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
LAMBDA_ACCOUNT_CONCURRENCY = 1_000
# An SQS event source mapping runs at most 1,000 batches at once, adding up to 300 a minute while messages wait.
# https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html
SQS_MAPPING_MAX_BATCHES = 1_000
# About 120,000 messages in flight (received, not yet deleted: retries waiting out their backoff included).
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-queues.html
SQS_IN_FLIGHT = 120_000
# Each DynamoDB partition serves at most 1,000 write units a second (and 3,000 read units), whatever the table's
# capacity; a partition key whose sort key only grows (an index shard keyed by time) cannot be split for heat.
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput-scenarios.html
PARTITION_WRITE_UNITS = 1_000
# An on-demand table's throughput is bounded by the account's table-level quota: 40,000 write units a second.
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/on-demand-capacity-mode-max-throughput.html
TABLE_WRITE_UNITS = 40_000
# A write unit is 1 KB of item; a read unit 4 KB, strongly consistent (half as much eventually consistent).
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html
WRITE_UNIT_BYTES = 1_024
READ_UNIT_BYTES = 4_096

# --- Measured here ---------------------------------------------------------------------------------------------------
# bench/cost.py (README "Cost per million tasks"): the gateway handler's median per task, and the processing
# handler's median per batch (24 ms for batches of 4.0 records), on the local cloud.
GATEWAY_SECONDS = 0.015
PROCESSING_SECONDS_PER_RECORD = 0.006
PROCESSING_RECORDS_PER_BATCH = 4.0
# bench/cost.py, per succeeded task: SendMessage 1, non-empty ReceiveMessage 0.25, DeleteMessageBatch 0.25.
SQS_REQUESTS_PER_TASK = 1.5
# The digest function's duration per invocation: bench/cost.py's figure when its run measured none.
DIGEST_SECONDS = 0.1
# An event's item without its payload: keys, type, time, life, attempt, index key, and its 64-hex-digit MAC.
EVENT_ITEM_BYTES = 300
# bench/reconciler.py (README "The outbox reconciler at scale"): QUEUED index entries the reconciler examined per
# second of a run, its 8 shard threads against the local emulator: the median of the six full runs (30,000 entries
# each) over 30 minutes of 100 tasks/s. A floor for DynamoDB: the emulator serves one DynamoDB request at a time here.
EXAMINATION_RATE = 657.0

# --- The deployment's own constants the model reads ------------------------------------------------------------------
# Lambda's longest function timeout. https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html
LAMBDA_MAX_TIMEOUT = 900
SWEEPER_MEMORY = 256
# Beside the processing and dlq mappings' batches: the sweeper, and the digest function (one batch per stream shard).
OTHER_CONCURRENCY = 2


def sweeper_timeout(interval_seconds: int) -> int:
    """The sweeper's timeout: one run may work until the next is due (Lambda allows 900 s at most). A run that has
    reached its cut-off ends at once, so the long timeout costs nothing when the reconciler keeps up; under load it
    examines for most of every interval, rather than a fixed minute of it. Runs do not overlap: each starts new work
    only while one worst-case AWS call still fits before its end, and leaves the rest to the next (from its
    checkpoints)."""
    return min(interval_seconds, LAMBDA_MAX_TIMEOUT)


def reconciler_run_seconds(interval_seconds: int) -> float:
    """How long one run of the reconciler examines entries: new work starts until one worst-case AWS call before
    the end of its invocation, less the reserve (handlers/sweeper.py, CallBudget)."""
    timeout = sweeper_timeout(interval_seconds)
    budget = CallBudget(timeout)
    return timeout - budget.reserve - budget.worst_case_call


# The interval at which a run examines for the largest share of it: the longest whose run Lambda's timeout still
# covers whole (a longer one leaves the rest of each interval idle).
RECONCILER_BEST_INTERVAL = LAMBDA_MAX_TIMEOUT


def reconciler_capacity(examination_rate: float, interval_seconds: int) -> float:
    """The sustained rate of tasks whose QUEUED entries the reconciler examines as fast as they come: one run per
    interval, each examining for reconciler_run_seconds() at `examination_rate` entries a second."""
    return examination_rate * reconciler_run_seconds(interval_seconds) / interval_seconds


def stranded_wait_bound(stranded_after_seconds: int, interval_seconds: int) -> int:
    """The longest a stranded task waits for its re-send while the reconciler keeps up: its entry is due
    strandedAfterSeconds after its last gateway event, the next run starts within one interval and reaches it
    before its own end."""
    return stranded_after_seconds + interval_seconds + sweeper_timeout(interval_seconds)


def write_units(item_bytes: float) -> int:
    """Write units of one item of this size."""
    return max(1, math.ceil(item_bytes / WRITE_UNIT_BYTES))


@dataclass(frozen=True)
class Workload:
    """What the model assumes of the traffic besides its rate."""

    payload_bytes: int = 1_024
    # Tasks whose every attempt fails (dead-lettered after maxReceiveCount attempts and their backoffs).
    failing_share: float = 0.0
    # The account's Lambda concurrency quota in the Region.
    account_concurrency: int = LAMBDA_ACCOUNT_CONCURRENCY
    # The task worker's own time per task, on top of the measured per-record cost.
    worker_seconds: float = 0.0
    examination_rate: float = EXAMINATION_RATE

    @property
    def received_write_units(self) -> int:
        """A RECEIVED item holds the payload; the index projects it whole (ALL), so it writes as much again."""
        return write_units(EVENT_ITEM_BYTES + self.payload_bytes)


@dataclass(frozen=True)
class Limit:
    """One component: the sustained tasks per second at which it saturates (math.inf: none within reach), how that
    follows, and what raises it."""

    component: str
    capacity: float
    basis: str
    lift: str
    # The configuration keys its capacity follows from, named when a configuration is refused or warned about.
    keys: str
    # Saturated at the stage's own throttle, it loses or can never drain work, whatever the account: refused. The
    # others are warned about: an account's quotas can be raised, and the reconciler's rate measured here is a local
    # emulator's, below DynamoDB's.
    refused: bool = False
    # The configuration (PipelineSettings fields) that lifts it to a given rate; None when only a quota or a code change
    # can, or when no value of its keys reaches the rate.
    lift_to: Callable[[float], dict[str, Any] | None] | None = None


def config_lift(limit: Limit, rate: float) -> dict[str, Any] | None:
    """The configuration that lifts this component to `rate`, if any."""
    return limit.lift_to(rate) if limit.lift_to else None


def _attempts(settings: PipelineSettings, workload: Workload) -> float:
    """Processing attempts per task: one, or maxReceiveCount for a failing one."""
    return 1 + workload.failing_share * (settings.max_receive_count - 1)


def _record_seconds(workload: Workload) -> float:
    return PROCESSING_SECONDS_PER_RECORD + workload.worker_seconds


def concurrency(settings: PipelineSettings, workload: Workload, rate: float) -> dict[str, float]:
    """Concurrent executions each function needs at `rate` (rate x duration), the mappings' capped at maxConcurrency."""
    processing = rate * _attempts(settings, workload) * _record_seconds(workload)
    dead_letters = rate * workload.failing_share * PROCESSING_SECONDS_PER_RECORD
    return {
        "gateway": rate * GATEWAY_SECONDS,
        "processing": min(float(settings.max_concurrency), processing),
        "dlq": min(float(settings.max_concurrency), dead_letters),
        "sweeper and digest": OTHER_CONCURRENCY,
    }


def _largest_rate(fits: Callable[[float], bool], ceiling: float = 1e7) -> float:
    """The largest rate for which `fits` holds (it holding for every smaller one), to 0.1 %; math.inf past ceiling."""
    if fits(ceiling):
        return math.inf
    low, high = 0.0, ceiling
    while high - low > max(0.001 * low, 0.01):
        middle = (low + high) / 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return low


def limits(settings: PipelineSettings, workload: Workload) -> list[Limit]:
    """Every component's limit for the configuration: what bench/scale.py prints and the README tabulates."""
    attempts, record = _attempts(settings, workload), _record_seconds(workload)
    received = workload.received_write_units
    backoffs = sum(
        min(attempt * settings.base_visibility_timeout, SQS_MAX_VISIBILITY_TIMEOUT)
        for attempt in range(1, settings.max_receive_count + 1)
    )
    in_flight_per_task = settings.batch_size * record + workload.failing_share * backoffs
    account = workload.account_concurrency
    interval = settings.sweep_interval_seconds
    return [
        Limit(
            "API Gateway stage throttle",
            settings.api_throttle_rate,
            f"apiThrottleRate {settings.api_throttle_rate}/s: more is answered 429",
            "tasktrail:apiThrottleRate (and apiThrottleBurst)",
            "tasktrail:apiThrottleRate",
            lift_to=lambda rate: _throttle_lift(settings, rate),
        ),
        Limit(
            "API Gateway account quota",
            API_ACCOUNT_RPS,
            f"{API_ACCOUNT_RPS:,} requests/s per account and Region, all APIs together",
            "Service Quotas: API Gateway throttle rate (L-8A5B8E43)",
            "tasktrail:apiThrottleRate",
        ),
        Limit(
            "Lambda account concurrency",
            _largest_rate(lambda rate: sum(concurrency(settings, workload, rate).values()) <= account),
            f"{account:,} concurrent executions shared: gateway rate x {GATEWAY_SECONDS * 1000:.0f} ms, processing "
            f"and dlq up to maxConcurrency {settings.max_concurrency} each, sweeper and digest",
            "Service Quotas: Lambda concurrent executions (L-B99A9384); or a lower tasktrail:maxConcurrency",
            "tasktrail:maxConcurrency",
        ),
        Limit(
            "processing (SQS mapping)",
            min(settings.max_concurrency, SQS_MAPPING_MAX_BATCHES) / (attempts * record),
            f"maxConcurrency {settings.max_concurrency} batches at once, {record * 1000:.1f} ms a record"
            + (f", {attempts:.2f} attempts a task" if attempts > 1 else ""),
            "tasktrail:maxConcurrency (up to 1,000)",
            "tasktrail:maxConcurrency",
            # A throttle above it fills the queue for as long as it lasts, until SQS's retention drops tasks.
            refused=True,
            lift_to=lambda rate: _concurrency_lift(rate * attempts * record),
        ),
        Limit(
            "SQS messages in flight",
            SQS_IN_FLIGHT / in_flight_per_task if in_flight_per_task else math.inf,
            f"{SQS_IN_FLIGHT:,} in flight: each task's run"
            + (f", and failing tasks' backoffs ({backoffs:,} s each)" if workload.failing_share else ""),
            "shorter backoffs: tasktrail:visibilityTimeout, tasktrail:maxReceiveCount",
            "tasktrail:maxReceiveCount, tasktrail:visibilityTimeout",
        ),
        Limit(
            "DynamoDB byStatus QUEUED shard",
            STATUS_SHARDS * PARTITION_WRITE_UNITS / received,
            f"{STATUS_SHARDS} shards x {PARTITION_WRITE_UNITS:,} write units/s, {received} a RECEIVED "
            f"({workload.payload_bytes:,} B payload, projected whole)",
            "STATUS_SHARDS (handlers/dal/schema.py): a code change, no config; or smaller payloads",
            "tasktrail:apiThrottleRate",
        ),
        Limit(
            "DynamoDB byStatus SUCCEEDED shard",
            STATUS_SHARDS * PARTITION_WRITE_UNITS,
            f"{STATUS_SHARDS} shards x {PARTITION_WRITE_UNITS:,} write units/s, 1 a SUCCEEDED",
            "STATUS_SHARDS (handlers/dal/schema.py)",
            "tasktrail:apiThrottleRate",
        ),
        Limit(
            "DynamoDB table (on demand)",
            TABLE_WRITE_UNITS / (received + attempts),
            f"{TABLE_WRITE_UNITS:,} write units/s per table; {received} + {attempts:.2f} a task",
            "Service Quotas: DynamoDB table-level write throughput",
            "tasktrail:apiThrottleRate",
        ),
        Limit(
            "DynamoDB task partition",
            math.inf,
            "one partition per task, 2-5 items in its whole life: never hot",
            "-",
            "-",
        ),
        Limit(
            "reconciler (sweeper)",
            reconciler_capacity(workload.examination_rate, interval),
            f"{workload.examination_rate:,.0f} entries/s x {reconciler_run_seconds(interval):.0f} s a run "
            f"(timeout {sweeper_timeout(interval)} s), one run every {interval} s",
            f"a tasktrail:sweepSchedule of rate({RECONCILER_BEST_INTERVAL // 60} minutes) (runs then examine for "
            f"{reconciler_run_seconds(RECONCILER_BEST_INTERVAL) / RECONCILER_BEST_INTERVAL:.0%} of the time: "
            f"{reconciler_capacity(workload.examination_rate, RECONCILER_BEST_INTERVAL):,.0f} tasks/s); beyond, "
            "more STATUS_SHARDS (each shard is swept by its own thread): a code change",
            "tasktrail:sweepSchedule",
            lift_to=lambda rate: _schedule_lift(workload.examination_rate, rate),
        ),
    ]


def _throttle_lift(settings: PipelineSettings, rate: float) -> dict[str, Any] | None:
    wanted = math.ceil(rate)
    if wanted > API_ACCOUNT_RPS:
        return None
    # The burst at twice the rate, as the defaults have it, within the account's burst.
    return {
        "api_throttle_rate": wanted,
        "api_throttle_burst": min(API_ACCOUNT_BURST, max(settings.api_throttle_burst, 2 * wanted)),
    }


def _concurrency_lift(batches_needed: float) -> dict[str, Any] | None:
    # Each batch at once drains 1 / (attempts x record) tasks a second: as many batches at once as the rate needs.
    wanted = max(2, math.ceil(batches_needed))
    return {"max_concurrency": wanted} if wanted <= SQS_MAPPING_MAX_BATCHES else None


def _schedule_lift(examination_rate: float, rate: float) -> dict[str, Any] | None:
    # The shortest interval (the shortest wait for a stranded task) whose runs keep up; longer ones examine for a larger
    # share of their time, up to Lambda's longest timeout.
    for minutes in range(1, RECONCILER_BEST_INTERVAL // 60 + 1):
        if reconciler_capacity(examination_rate, minutes * 60) >= rate:
            return {"sweep_schedule": "rate(1 minute)" if minutes == 1 else f"rate({minutes} minutes)"}
    return None


def first_to_saturate(settings: PipelineSettings, workload: Workload) -> Limit:
    """The component with the lowest capacity."""
    return min(limits(settings, workload), key=lambda limit: limit.capacity)


def problems(settings: PipelineSettings, workload: Workload | None = None) -> tuple[list[str], list[str]]:
    """(refusals, warnings): each component that saturates below the stage's throttle (apiThrottleRate, the rate
    the configuration itself admits), naming the keys and what lifts it."""
    refusals: list[str] = []
    warnings: list[str] = []
    rate = settings.api_throttle_rate
    for limit in limits(settings, workload or Workload()):
        if limit.component == "API Gateway stage throttle" or limit.capacity >= rate:
            continue
        message = (
            f"tasktrail:apiThrottleRate ({rate}/s) is more than the {limit.component} can take "
            f"({limit.capacity:,.0f} tasks/s: {limit.basis}); {limit.keys} or the throttle must change: "
            f"{limit.lift} (bench/scale.py --rate {rate})"
        )
        (refusals if limit.refused else warnings).append(message)
    return refusals, warnings
