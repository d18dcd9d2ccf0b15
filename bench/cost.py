"""Cost model: AWS requests per succeeded, retried and dead-lettered task, counted by the emulator during a run on
the local cloud, priced in dollars per million tasks, next to the seed design computed from the same counts.

Each kind of task runs in its own phase; the emulator's counters (TASKTRAIL_LOCAL_STATS) are zeroed before a
phase and read once its functions have gone quiet, so a phase's counts are that kind's alone. Empty long polls
(ReceiveMessage answering no message) are the pollers' fixed cost, reported apart from what a task costs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import requests
from localcloud import Cloud, start_cloud

from handlers.models.digests import DIGEST_BUCKETS, SEAL_INTERVAL_SECONDS
from infra.pipeline import DIGEST_BATCH_SIZE, DIGEST_BATCHING_WINDOW, DIGEST_MEMORY

# Public us-east-1 prices (per request unless stated), from each service's pricing page:
# https://aws.amazon.com/api-gateway/pricing/ (REST APIs, first 333 M requests a month)
API_REST_PER_REQUEST = 3.50 / 1e6
# https://aws.amazon.com/lambda/pricing/ (Arm, first 7.5 B GB-seconds a month)
LAMBDA_PER_REQUEST = 0.20 / 1e6
LAMBDA_ARM_PER_GB_SECOND = 0.0000133334
# https://aws.amazon.com/sqs/pricing/ (standard queues beyond the free tier; each 64 KB chunk of a payload is a request)
SQS_PER_REQUEST = 0.40 / 1e6
# https://aws.amazon.com/dynamodb/pricing/on-demand/ (1 WRU per 1 KB written; 1 RRU per 4 KB read strongly
# consistent, 0.5 RRU eventually consistent)
DYNAMODB_PER_WRU = 0.625 / 1e6
DYNAMODB_PER_RRU = 0.125 / 1e6
# https://aws.amazon.com/s3/pricing/ (S3 Standard: PUT, COPY, POST, LIST $0.005 per 1,000; GET $0.0004 per 1,000)
S3_PER_PUT_OR_LIST = 0.005 / 1000
S3_PER_GET = 0.0004 / 1000
# https://aws.amazon.com/kms/pricing/ ($0.03 per 10,000 requests; asymmetric requests other than RSA 2048, such as
# an ECC Sign, $0.15 per 10,000; $1 a month per key, the stack has two)
KMS_PER_REQUEST = 0.03 / 10_000
KMS_PER_ASYMMETRIC_REQUEST = 0.15 / 10_000
KMS_KEYS_PER_MONTH = 2 * 1.00
# Reading a DynamoDB stream is free when a Lambda trigger reads it
# (https://aws.amazon.com/dynamodb/pricing/on-demand/, "DynamoDB Streams").
# Left out: CloudWatch Logs ingestion and EMF metrics, X-Ray traces, data transfer, and the free tiers.

DYNAMODB_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
DYNAMODB_READS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}
SQS_SENDS = {"SendMessage", "SendMessageBatch"}
GOAL = {"dynamodb writes": 2.0, "dynamodb reads": 0.0, "sqs sends": 1.0}
KINDS = {"succeeded": None, "retried (fail-once)": "fail-once", "dead-lettered (fail)": "fail"}
# Pinned here, so that the figures do not move with the local stack's demo settings: a 5 s base visibility (the
# backoff is 5 s, then 10 s, then the move to the DLQ at the next receive) and two warm environments at most.
VISIBILITY_SECONDS = 5
BENCH_CONFIG = (
    f"visibilityTimeout={VISIBILITY_SECONDS}",
    f"processingTimeout={VISIBILITY_SECONDS}",
    "dlqTimeout=5",
    "maxConcurrency=2",
    # The reconciler's reads and checkpoints do not depend on the tasks in a phase (bench/scale.py prices them per
    # million tasks at a rate): kept out of the phases' counts, where a run would land in whichever phase it fell.
    "sweepSchedule=rate(12 hours)",
)
# Longer than the longest gap between a task's invocations: once nothing is invoked for this long, a phase is over.
QUIET_SECONDS = 2 * VISIBILITY_SECONDS + 2.0


@dataclass
class Phase:
    name: str
    tasks: int
    seconds: float
    stats: dict[str, Any]
    # Items of the phase's tasks that carry the byStatus key: each of those puts also wrote the index (1 WRU more).
    index_writes: int = 0

    def requests(self, key: str) -> float:
        row = self.stats["requests"].get(key)
        return row["count"] / self.tasks if row else 0.0

    def units(self, key: str, unit: str) -> float:
        row = self.stats["requests"].get(key)
        return row[unit] / self.tasks if row else 0.0

    def ops(self, service: str, names: set[str] | None = None) -> float:
        return (
            sum(
                row["count"]
                for key, row in self.stats["requests"].items()
                if key.startswith(f"{service}.") and (names is None or key.split(".", 1)[1] in names)
            )
            / self.tasks
        )

    def invocations(self, function: str) -> float:
        row = self.stats["invocations"].get(function)
        return row["count"] / self.tasks if row else 0.0

    def gb_seconds(self, function: str) -> float:
        row = self.stats["invocations"].get(function)
        return row["billedMs"] / 1000 * row["memoryMb"] / 1024 / self.tasks if row else 0.0


def invocation_count(stats: dict[str, Any]) -> int:
    return sum(row["count"] for row in stats["invocations"].values())


def run_phase(cloud: Cloud, name: str, simulate: str | None, tasks: int) -> Phase:
    cloud.stats(reset=True)
    run_id = f"cost-{uuid.uuid4().hex[:6]}"
    started = time.monotonic()

    def post(i: int) -> None:
        payload: dict[str, Any] = {"n": i} | ({"simulate": simulate} if simulate else {})
        response = requests.post(
            f"{cloud.api_url}/tasks",
            json={"taskId": f"{run_id}-{i}", "payload": payload},
            headers=cloud.headers,
            timeout=60,
        )
        if response.status_code not in (200, 202):
            raise RuntimeError(f"POST answered {response.status_code}: {response.text[:200]}")

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(post, range(tasks)))
    last_count, last_change = -1, time.monotonic()
    while time.monotonic() - last_change < QUIET_SECONDS:
        count = invocation_count(cloud.stats())
        if count != last_count:
            last_count, last_change = count, time.monotonic()
        time.sleep(0.25)
    stats = cloud.stats()
    seconds = last_change - started
    # Checked after the counters are read (and zeroed before the next phase), so that these reads are not counted.
    index_writes = indexed_items(cloud, run_id)
    expected = {"succeeded": "SUCCEEDED", "retried (fail-once)": "SUCCEEDED", "dead-lettered (fail)": "DEAD_LETTERED"}
    for i in range(tasks):
        status = requests.get(f"{cloud.api_url}/tasks/{run_id}-{i}", headers=cloud.headers, timeout=30).json()["status"]
        if status != expected[name]:
            raise RuntimeError(f"{name}: task {i} ended {status}, not {expected[name]}")
    return Phase(name, tasks, seconds, stats, index_writes)


def indexed_items(cloud: Cloud, run_id: str) -> int:
    """Audit items of this phase's tasks that the sparse byStatus index holds (projection ALL: a WRU each)."""
    dynamodb = cloud.client("dynamodb")
    count = 0
    for page in dynamodb.get_paginator("scan").paginate(
        TableName=cloud.outputs["auditTableName"],
        FilterExpression="begins_with(taskId, :run) AND attribute_exists(statusShard)",
        ExpressionAttributeValues={":run": {"S": run_id}},
        Select="COUNT",
    ):
        count += page["Count"]
    return count


def dollars_per_million(phase: Phase, fn: dict[str, str]) -> dict[str, float]:
    """Dollars per million tasks of this kind, by service."""
    # The digest path is priced apart (digest_path_dollars): its cost follows time and batches, not each task.
    fn = {name: function for name, function in fn.items() if name != "digest"}
    lambda_requests = sum(phase.invocations(f) for f in fn.values())
    gb_seconds = sum(phase.gb_seconds(f) for f in fn.values())
    sqs_units = sum(
        row["units64KB"]
        for key, row in phase.stats["requests"].items()
        if key.startswith("sqs.") and key != "sqs.ReceiveMessage(empty)"
    )
    wru = sum(phase.units(f"dynamodb.{op}", "units1KB") for op in DYNAMODB_WRITES) + phase.index_writes / phase.tasks
    rru = sum(phase.units(f"dynamodb.{op}", "responseUnits4KB") for op in DYNAMODB_READS)
    return {
        "API Gateway": phase.invocations(fn["gateway"]) * API_REST_PER_REQUEST * 1e6,
        "Lambda requests": lambda_requests * LAMBDA_PER_REQUEST * 1e6,
        "Lambda GB-s": gb_seconds * LAMBDA_ARM_PER_GB_SECOND * 1e6,
        "SQS": sqs_units / phase.tasks * SQS_PER_REQUEST * 1e6,
        "DynamoDB": (wru * DYNAMODB_PER_WRU + rru * DYNAMODB_PER_RRU) * 1e6,
    }


def seed_dollars_per_million(phases: dict[str, Phase], fn: dict[str, str], kind: str) -> tuple[dict[str, float], str]:
    """The seed design, priced from the succeeded phase's measured counts: no audit table; the processing function
    deletes each record by hand (DeleteMessage) once its whole batch succeeded, and throws when any record fails,
    so a failure brings the whole batch back: the other f-1 records are received and run again."""
    ok = phases["succeeded"]
    fill = 1 / ok.invocations(fn["processing"])  # records per processing invocation, as measured
    receive_share = ok.requests("sqs.ReceiveMessage")  # non-empty receives per delivered record
    gb_per_delivery = ok.gb_seconds(fn["processing"])  # taken as ours: an upper bound for a function without audit
    failed_attempts = {"succeeded": 0, "retried (fail-once)": 1, "dead-lettered (fail)": 2}[kind]
    deliveries = 1 + failed_attempts * fill if kind != "dead-lettered (fail)" else failed_attempts * fill
    # A dead-lettered record is never deleted by processing; its DLQ batch is deleted by the mapping (as ours).
    deletes = 1 if kind != "dead-lettered (fail)" else 0
    dlq = phases["dead-lettered (fail)"]
    dlq_invocations = dlq.invocations(fn["dlq"]) if kind == "dead-lettered (fail)" else 0
    dlq_gb = dlq.gb_seconds(fn["dlq"]) if kind == "dead-lettered (fail)" else 0
    dlq_sqs = dlq.invocations(fn["dlq"]) if kind == "dead-lettered (fail)" else 0  # one DeleteMessageBatch each
    # The DLQ's own receives: one per DLQ batch, as the mapping's invocations.
    sqs_requests = 1 + deliveries * receive_share + deletes + dlq_sqs + dlq_invocations
    lambda_requests = 1 + deliveries / fill + dlq_invocations
    gb = ok.gb_seconds(fn["gateway"]) + deliveries * gb_per_delivery + dlq_gb
    note = f"f={fill:.1f} records/batch, {deliveries:.1f} deliveries/task"
    return {
        "API Gateway": API_REST_PER_REQUEST * 1e6,
        "Lambda requests": lambda_requests * LAMBDA_PER_REQUEST * 1e6,
        "Lambda GB-s": gb * LAMBDA_ARM_PER_GB_SECOND * 1e6,
        "SQS": sqs_requests * SQS_PER_REQUEST * 1e6,
        "DynamoDB": 0.0,
    }, note


def digest_path_dollars(records_per_task: float, tasks_per_second: float, digest_ms: float) -> dict[str, float]:
    """The digest path, per million tasks at a steady `tasks_per_second`, from the program's constants: the stream
    hands the function a batch when DIGEST_BATCH_SIZE records are in or the batching window ends (so at least one
    batch a window while records come), each batch one chunk PUT; each period (`digestPeriodSeconds`, 300 s by
    default) one LIST and a GET per chunk, a PUT per events bucket used, one KMS Sign and one digest PUT; and the
    sealer's schedule, one invocation and one LIST a minute. Stream reads are free."""
    period = 300
    seconds = 1e6 / tasks_per_second
    records = records_per_task * 1e6
    batches = max(records / DIGEST_BATCH_SIZE, seconds / DIGEST_BATCHING_WINDOW)
    batches = min(batches, records)  # never more batches than records
    periods = seconds / period
    chunks_per_period = batches / periods
    buckets_per_period = min(DIGEST_BUCKETS, records / periods)
    schedule_runs = seconds / SEAL_INTERVAL_SECONDS
    invocations = batches + schedule_runs
    return {
        "Lambda requests": invocations * LAMBDA_PER_REQUEST,
        "Lambda GB-s": invocations * digest_ms / 1000 * DIGEST_MEMORY / 1024 * LAMBDA_ARM_PER_GB_SECOND,
        "S3": batches * S3_PER_PUT_OR_LIST
        + periods * ((2 + buckets_per_period) * S3_PER_PUT_OR_LIST + chunks_per_period * S3_PER_GET)
        + schedule_runs * S3_PER_PUT_OR_LIST,
        "KMS": periods * KMS_PER_ASYMMETRIC_REQUEST,
    }


def print_digest_path(phases: dict[str, Phase], fn: dict[str, str]) -> None:
    ok = phases["succeeded"]
    records = ok.ops("dynamodb", DYNAMODB_WRITES)  # each append is one INSERT record on the stream
    durations = [
        ms
        for phase in phases.values()
        for ms in phase.stats["invocations"].get(fn["digest"], {}).get("durationsMs") or []
    ]
    digest_ms = statistics.median(durations) if durations else 100.0
    print(
        f"\ndigest path (off the hot path), $ per million succeeded tasks at a steady rate: {records:.2f} stream "
        f"records per task, a batch of up to {DIGEST_BATCH_SIZE} records or {DIGEST_BATCHING_WINDOW} s, 5-minute "
        f"periods, digest function median {digest_ms:.0f} ms at {DIGEST_MEMORY} MB (measured here)"
    )
    print(
        f"{'tasks/s':>8}"
        + "".join(f"{name:>18}" for name in ("Lambda requests", "Lambda GB-s", "S3", "KMS"))
        + f"{'total':>10}"
    )
    for rate in (1, 10, 100, 1000):
        cost = digest_path_dollars(records, rate, digest_ms)
        print(f"{rate:>8}" + "".join(f"{value:>18.2f}" for value in cost.values()) + f"{sum(cost.values()):>10.2f}")
    print(
        f"plus ${KMS_KEYS_PER_MONTH:.2f} a month for the two KMS keys, and the GenerateMac calls: one per function "
        "environment and UTC day ($0.03 per 10,000), nothing per task. The hot path's counts above include the MAC: "
        "it is an attribute of the write already made."
    )


def _counted_as(key: str) -> str:
    """An S3 request is logged by its path: counted by its method and the bucket's top folder (chunks/, digests/...)."""
    if not key.startswith("s3."):
        return key
    method, _, path = key.partition(" ")
    folder = path.strip("/").split("/")[1:2]
    return f"{method} {folder[0]}/" if folder else f"{method} (bucket)"


def print_counts(phases: dict[str, Phase]) -> None:
    keys = {k for p in phases.values() for k in p.stats["requests"] if k != "sqs.ReceiveMessage(empty)"}
    labels = {label: [k for k in keys if _counted_as(k) == label] for label in {_counted_as(k) for k in keys}}
    print("\nAWS requests per task (emulator request log), by service.operation, and Lambda invocations per task")
    print(f"{'':<34}" + "".join(f"{name:>22}" for name in phases))
    for label, counted in sorted(labels.items()):
        print(f"{label:<34}" + "".join(f"{sum(p.requests(k) for k in counted):>22.2f}" for p in phases.values()))
    for function in sorted({f for p in phases.values() for f in p.stats["invocations"]}):
        label = f"lambda {function.removeprefix('tasktrail-local-')} invokes"
        print(f"{label:<34}" + "".join(f"{p.invocations(function):>22.2f}" for p in phases.values()))
    for function in sorted({f for p in phases.values() for f in p.stats["invocations"]}):
        label = f"lambda {function.removeprefix('tasktrail-local-')} median ms"
        cells = []
        for p in phases.values():
            durations = p.stats["invocations"].get(function, {}).get("durationsMs") or []
            cells.append(f"{statistics.median(durations):>22.1f}" if durations else f"{'-':>22}")
        print(f"{label:<34}" + "".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=30, help="tasks of each kind")
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of idle polling measured")
    args = parser.parse_args()

    cloud = start_cloud(*BENCH_CONFIG)
    try:
        fn = {
            "gateway": cloud.outputs["gatewayFunctionName"],
            "processing": cloud.outputs["processingFunctionName"],
            "dlq": cloud.outputs["dlqFunctionName"],
            "digest": cloud.outputs["digestFunctionName"],
        }
        # Warm: the first invocation of each environment imports the lazy half of its handler; not a task's cost.
        run_phase(cloud, "succeeded", None, 8)
        run_phase(cloud, "dead-lettered (fail)", "fail", 2)
        cloud.stats(reset=True)
        time.sleep(args.idle)
        idle = cloud.stats()
        phases = {name: run_phase(cloud, name, simulate, args.tasks) for name, simulate in KINDS.items()}
    finally:
        cloud.stop()

    print(f"cost model: {args.tasks} tasks of each kind on the local cloud, Python {sys.version.split()[0]}")
    print_counts(phases)

    ok = phases["succeeded"]
    print(
        "\nDynamoDB index writes per task (byStatus, sparse): "
        + ", ".join(f"{p.name} {p.index_writes / p.tasks:.2f}" for p in phases.values())
    )
    print("\nhot path, per succeeded task            measured   goal")
    measured = {
        "dynamodb writes": ok.ops("dynamodb", DYNAMODB_WRITES),
        "dynamodb reads": ok.ops("dynamodb", DYNAMODB_READS),
        "sqs sends": ok.ops("sqs", SQS_SENDS),
    }
    for name, value in measured.items():
        verdict = "met" if value <= GOAL[name] + 1e-9 else "NOT met"
        print(f"{name:<40}{value:>8.2f}   <= {GOAL[name]:g} ({verdict})")

    print("\n$ per million tasks (us-east-1; CloudWatch Logs/metrics and X-Ray left out)")
    print(f"{'':<24}{'service':<18}{'tasktrail':>12}{'seed':>12}")
    for name, phase in phases.items():
        ours = dollars_per_million(phase, fn)
        seed, note = seed_dollars_per_million(phases, fn, name)
        for service in ours:
            print(f"{name:<24}{service:<18}{ours[service]:>12.2f}{seed[service]:>12.2f}")
        total_ours, total_seed = sum(ours.values()), sum(seed.values())
        ratio = total_ours / total_seed
        print(f"{name:<24}{'total':<18}{total_ours:>12.2f}{total_seed:>12.2f}   ({ratio:.2f} x seed; {note})")

    print_digest_path(phases, fn)

    empty = idle["requests"].get("sqs.ReceiveMessage(empty)", {"count": 0})["count"]
    per_hour = empty / args.idle * 3600
    print(
        f"\nfixed polling cost: {empty} empty long polls in {args.idle:.0f} s idle = {per_hour:.0f} ReceiveMessage/h "
        f"= ${per_hour * 24 * 30 * SQS_PER_REQUEST:.2f} a month for the local pollers (one per mapping). On AWS an "
        "idle mapping keeps about 5 pollers long-polling 20 s (estimate: ~900 requests/h, ~$0.26 a month per "
        "mapping; two mappings here)"
    )
    print(
        f"phases took {', '.join(f'{p.name} {p.seconds:.1f} s' for p in phases.values())}; "
        f"processing batch fill f = {1 / ok.invocations(fn['processing']):.1f} records/invocation"
    )


if __name__ == "__main__":
    main()
