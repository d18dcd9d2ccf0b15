"""Seeded simulation of the outbox reconciler (handlers/logic/sweep.py) against the local AWS emulator.

The audit table is seeded with what a steady `--rate` of tasks leaves in it over `--minutes`: each task's RECEIVED (its
QUEUED index entry) and its processing events (most succeed at once, some after a retry), except `--stranded` tasks
placed at random whose send was lost (RECEIVED only). Then the reconciler runs as its schedule would run it, one run
per `--interval`, each with the sweeper's own time budget (its timeout, infra.capacity.sweeper_timeout, less the
reserve and one worst-case call), through the functions' own time-budgeted clients, while the processing queue is
busy (only the guaranteed pass runs).

Time is simulated: the entries' times, each run's `now`, and the clock the handlers stamp events with during a run
(handlers.models.timestamps), which runs from the run's `now` at the real pace; the waiting between two runs is
skipped, but each run's work is real and timed. A re-sent task is processed before the next run, as the pipeline
would process it, and its re-send counts as made at its run's simulated start plus the run's real duration. Each
stranded task's re-send is checked against the README's bound (infra.capacity.stranded_wait_bound): entry +
strandedAfterSeconds + one interval + the sweeper's timeout.

Scaled down, honestly: a literal day at 100 tasks/s is 8.64 M tasks (17 M items), beyond an in-memory moto on this
machine; the default is 30 minutes (180,000 tasks). The work of one run does not grow with the day in DynamoDB (a
Query starts at the checkpoint, a BatchGetItem reads by key), so what a run of `rate x interval` entries costs here is
what it costs on day's end; bench/scale.py extrapolates with the examination rate measured here. The emulator still
slows somewhat as its table grows (1,185 entries/s at 36,000 items against 657 at 363,000 on this machine), and
serves one DynamoDB request at a time: the rate measured here is a floor for DynamoDB's.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script, from any directory

from handlers.dal import clients, schema  # noqa: E402
from handlers.dal.audit_store import AuditStore  # noqa: E402
from handlers.dal.queue import TaskQueue  # noqa: E402
from handlers.logic.sweep import sweep_stranded  # noqa: E402
from handlers.models import timestamps  # noqa: E402
from handlers.models.contract import SQS_MAX_VISIBILITY_TIMEOUT  # noqa: E402
from handlers.models.events import AuditEvent, EventType  # noqa: E402
from handlers.models.settings import SweeperSettings  # noqa: E402
from handlers.models.timestamps import format_at  # noqa: E402
from infra.capacity import (  # noqa: E402
    reconciler_capacity,
    reconciler_run_seconds,
    stranded_wait_bound,
    sweeper_timeout,
)
from infra.pipeline import SWEEP_LOOKBACK_SECONDS  # noqa: E402
from local.cloud.launch import EmulatorProcess, start_emulator  # noqa: E402
from local.emulator.stats import ENV as STATS_ENV  # noqa: E402

TABLE = "tasktrail-sim-audit"
QUEUE = "tasktrail-sim-processing"
BATCH_WRITE_ITEMS = 25  # BatchWriteItem's limit
SEED_THREADS = 4
GATEWAY_TIMEOUT = 10  # the stack's default; with a busy queue the early pass never runs
RETRIED_SHARE = 0.02  # of the tasks that are processed, those whose first attempt failed (a RETRY_SCHEDULED first)
PAYLOAD_BYTES = 200


class _Context:
    """What invocation_deadline reads of Lambda's context: a run of `seconds` from now."""

    def __init__(self, seconds: float) -> None:
        self.ends = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return int((self.ends - time.monotonic()) * 1000)


@dataclass
class Run:
    at: datetime  # simulated
    seconds: float  # real
    examined: int
    histories: int
    resent: list[str]
    complete: bool
    lag: float


@dataclass
class Simulation:
    rate: float
    minutes: float
    interval: int
    stranded_after: int
    start: datetime
    stranded: dict[str, datetime] = field(default_factory=dict)  # task -> its RECEIVED time
    tasks: int = 0
    items: int = 0


def seed_table(emulator: EmulatorProcess, sim: Simulation, stranded: int, rng: random.Random) -> None:
    sim.tasks = int(sim.rate * sim.minutes * 60)
    lost = set(rng.sample(range(sim.tasks), stranded))
    writer = AuditStore(emulator.client("dynamodb"), TABLE)  # no MAC keys: the reconciler does not check them
    payload = json.dumps({"pad": "x" * PAYLOAD_BYTES})

    def events_of(n: int) -> list[AuditEvent]:
        task_id, received = f"sim-{n:07d}", sim.start + timedelta(seconds=n / sim.rate)
        events = [
            AuditEvent(
                task_id,
                EventType.RECEIVED,
                life=0,
                slot=schema.GATEWAY_SLOT,
                at=format_at(received),
                fields={"payload": payload, "payloadHash": "h"},
            )
        ]
        if n in lost:
            sim.stranded[task_id] = received
            return events
        if rng.random() < RETRIED_SHARE:
            retried = format_at(received + timedelta(seconds=1))
            events.append(AuditEvent(task_id, EventType.RETRY_SCHEDULED, life=0, slot=1, at=retried))
        done = format_at(received + timedelta(seconds=2))
        events.append(AuditEvent(task_id, EventType.SUCCEEDED, life=0, slot=schema.TERMINAL_SLOT, attempt=1, at=done))
        return events

    items = [writer.item(event) for n in range(sim.tasks) for event in events_of(n)]
    sim.items = len(items)
    batches = [items[i : i + BATCH_WRITE_ITEMS] for i in range(0, len(items), BATCH_WRITE_ITEMS)]

    local = threading.local()

    def write(chunk: list[dict[str, Any]]) -> None:
        if not hasattr(local, "client"):
            local.client = emulator.client("dynamodb")  # one per thread: a client costs ~0.1 s of CPU to build
        client = local.client
        request: dict[str, Any] = {TABLE: [{"PutRequest": {"Item": item}} for item in chunk]}
        while request:
            request = client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}

    started = time.monotonic()
    with ThreadPoolExecutor(SEED_THREADS) as pool:
        list(pool.map(write, batches))
    print(f"seeded {sim.tasks:,} tasks ({sim.items:,} items) in {time.monotonic() - started:.0f} s", flush=True)


@contextmanager
def _clock_at(now: datetime) -> Iterator[None]:
    """The handlers' clock (handlers.models.timestamps) reads `now` at the start, and runs at the real pace: a
    re-send's REENQUEUED is stamped in the run's simulated time, as the sweeper would stamp it."""
    offset = now - datetime.now(UTC)

    class Simulated(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> Simulated:
            return cls.fromtimestamp((datetime.now(UTC) + offset).timestamp(), tz)

    real = timestamps.datetime
    timestamps.datetime = Simulated  # type: ignore[misc]
    try:
        yield
    finally:
        timestamps.datetime = real  # type: ignore[misc]


def process_resent(emulator: EmulatorProcess, at: datetime) -> Counter[str]:
    """The processing function's turn: each re-sent message runs and succeeds (its SUCCEEDED at `at`)."""
    sqs, url = emulator.client("sqs"), emulator.client("sqs").get_queue_url(QueueName=QUEUE)["QueueUrl"]
    writer = AuditStore(emulator.client("dynamodb"), TABLE)
    sent: Counter[str] = Counter()
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            task_id = json.loads(message["Body"])["taskId"]
            sent[task_id] += 1
            done = AuditEvent(task_id, EventType.SUCCEEDED, life=0, slot=schema.TERMINAL_SLOT, at=format_at(at))
            writer.append(done)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return sent


def simulate(emulator: EmulatorProcess, sim: Simulation, queue_url: str) -> tuple[list[Run], Counter[str]]:
    environment = SweeperSettings.environment(
        audit_table_name=TABLE,
        processing_queue_url=queue_url,
        reenqueue_after_seconds=GATEWAY_TIMEOUT,
        stranded_after_seconds=sim.stranded_after,
        sweep_lookback_seconds=SWEEP_LOOKBACK_SECONDS,
        function_timeout=sweeper_timeout(sim.interval),
    )
    # The functions' own clients (handlers.dal.clients) read the endpoint, Region and keys from the environment; it is
    # given back as it was (and the cached clients forgotten) when the runs are done, for a test process that goes on.
    saved = dict(os.environ)
    try:
        return _runs(emulator, sim, queue_url, environment)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        clients.dynamodb.cache_clear()
        clients.sqs.cache_clear()


def _runs(
    emulator: EmulatorProcess, sim: Simulation, queue_url: str, environment: dict[str, str]
) -> tuple[list[Run], Counter[str]]:
    os.environ.update(
        {
            **environment,
            "AWS_ENDPOINT_URL": emulator.endpoint,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }
    )
    settings = SweeperSettings.from_environment()
    store = AuditStore(clients.dynamodb(), TABLE)
    queue = TaskQueue(clients.sqs(), queue_url)
    end = sim.start + timedelta(minutes=sim.minutes)
    now = sim.start + timedelta(seconds=sim.stranded_after + sim.interval)
    runs: list[Run] = []
    sent: Counter[str] = Counter()
    while True:
        started = time.monotonic()
        with clients.invocation_deadline(_Context(sweeper_timeout(sim.interval))), _clock_at(now):
            budget = clients.time_for_new_work(settings.call_budget.worst_case_call)
            result = sweep_stranded(settings, store, queue, budget_seconds=budget, now=now)
        seconds = time.monotonic() - started
        run = Run(
            now, seconds, result.examined, result.historiesRead, result.resent, result.complete, result.lagSeconds
        )
        runs.append(run)
        sent += process_resent(emulator, now + timedelta(seconds=seconds))
        print(
            f"run {len(runs):>3} at +{(now - sim.start).total_seconds():>6.0f} s: examined {run.examined:>6,} "
            f"({run.histories} histories) in {seconds:5.1f} s, re-sent {len(run.resent)}, "
            f"{'complete' if run.complete else f'lag {run.lag:.0f} s'}",
            flush=True,
        )
        past_end = now - timedelta(seconds=sim.stranded_after + sim.interval) - end
        # Done once a run has reached past the last entry; a reconciler that falls behind for good (as many runs
        # again as the seeded window took) ends the simulation too, and its checks then fail.
        if past_end >= timedelta(0) and (run.complete or past_end > end - sim.start):
            return runs, sent
        now += timedelta(seconds=sim.interval)


@dataclass
class Outcome:
    """A simulation's runs, what was sent, and the checks of the issue: each entry examined once, every stranded task
    re-sent within its bound, none twice, nothing else re-sent."""

    sim: Simulation
    runs: list[Run]
    sent: Counter[str]
    stats: dict[str, Any]

    @property
    def examined(self) -> int:
        return sum(run.examined for run in self.runs)

    @property
    def entries_due(self) -> int:
        """The entries the runs had to examine: the seeded ones, and each re-send's own REENQUEUED entry (stamped
        during its run) that was due by the last run's cut-off."""
        cutoff = self.runs[-1].at - timedelta(seconds=self.sim.stranded_after)
        resends = [run.at + timedelta(seconds=run.seconds) for run in self.runs for _ in run.resent]
        return self.sim.tasks + sum(1 for at in resends if at <= cutoff)

    @property
    def each_entry_once(self) -> bool:
        return self.examined == self.entries_due

    @property
    def bound(self) -> int:
        return stranded_wait_bound(self.sim.stranded_after, self.sim.interval)

    def waited(self) -> dict[str, float]:
        """Each stranded task's wait from its RECEIVED to its re-send (inf: never re-sent)."""
        resent_at = {task: run.at + timedelta(seconds=run.seconds) for run in self.runs for task in run.resent}
        return {
            task: (resent_at[task] - entry).total_seconds() if task in resent_at else math.inf
            for task, entry in self.sim.stranded.items()
        }

    @property
    def within_bound(self) -> bool:
        return all(wait <= self.bound for wait in self.waited().values())

    @property
    def none_twice(self) -> bool:
        return all(self.sent[task] == 1 for task in self.sim.stranded)

    @property
    def not_stranded_resent(self) -> list[str]:
        return sorted(task for task in self.sent if task not in self.sim.stranded)

    def examination_rate(self) -> float:
        """Entries examined per second of run: the median of the full runs (those that found about a whole
        interval's entries) when there are any, else over all runs."""
        full = [run for run in self.runs if run.examined >= self.sim.rate * self.sim.interval * 0.9]
        if full:
            return statistics.median(run.examined / run.seconds for run in full)
        return self.examined / sum(run.seconds for run in self.runs)


def simulation(rate: float, minutes: float, stranded: int, interval: int, stranded_after: int, seed: int) -> Outcome:
    """Seed an emulator of its own and run the reconciler over it until every entry is examined."""
    emulator = start_emulator({STATS_ENV: "1"})
    try:
        emulator.client("dynamodb").create_table(**schema.create_table_request(TABLE))
        sqs = emulator.client("sqs")
        queue_url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
        # A message held in flight for 12 hours keeps the queue busy, as at this rate it always is: SQS counts it, and
        # nothing else receives it.
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"taskId": "busy"}))
        sqs.receive_message(QueueUrl=queue_url, VisibilityTimeout=SQS_MAX_VISIBILITY_TIMEOUT)
        start = datetime.now(UTC).replace(microsecond=0)
        sim = Simulation(rate, minutes, interval, stranded_after, start)
        seed_table(emulator, sim, stranded, random.Random(seed))
        emulator.stats(reset=True)
        runs, sent = simulate(emulator, sim, queue_url)
        return Outcome(sim, runs, sent, emulator.stats())
    finally:
        emulator.stop()


def report(outcome: Outcome) -> float:
    """Print the simulation's figures and checks; return the examination rate it measured."""
    sim, runs, sent = outcome.sim, outcome.runs, outcome.sent
    print(
        f"\nreconciler simulation: {sim.rate:g} tasks/s for {sim.minutes:g} minutes, interval {sim.interval} s, "
        f"strandedAfterSeconds {sim.stranded_after}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
    )
    examined, seconds = outcome.examined, sum(run.seconds for run in runs)
    print(f"tasks seeded {sim.tasks:,} ({sim.items:,} items), stranded {len(sim.stranded)}; runs {len(runs)}")
    print(
        f"entries examined {examined:,} (seeded QUEUED entries {sim.tasks:,} + the re-sends' own due by the last "
        f"run: {outcome.entries_due - sim.tasks:,}): each once: {outcome.each_entry_once}"
    )
    print(f"histories read {sum(run.histories for run in runs):,}; real time in runs {seconds:.1f} s")
    rate = outcome.examination_rate()
    print(
        f"examination rate {examined / seconds:,.0f} entries/s over all runs; {rate:,.0f}/s "
        f"(median of the runs that found a whole interval's {sim.rate * sim.interval:,.0f} entries, if any)"
    )
    budget = reconciler_run_seconds(sim.interval)
    print(
        f"longest run {max(run.seconds for run in runs):.1f} s of a {budget:.1f} s budget; "
        f"every run complete: {all(run.complete for run in runs)}, largest lag {max(run.lag for run in runs):.0f} s"
    )
    requests = {key: row["count"] for key, row in outcome.stats["requests"].items()}
    print(
        "emulator requests per entry examined: "
        + ", ".join(
            f"{key} {count / examined:.4f}"
            for key, count in sorted(requests.items())
            if key.startswith(("dynamodb", "sqs"))
        )
    )
    waited = outcome.waited()
    print("\nstranded task   entry at (+s)   waited s   bound s   within   sends")
    for task, entry in sorted(sim.stranded.items(), key=lambda pair: pair[1]):
        print(
            f"{task:<15} {(entry - sim.start).total_seconds():>13.1f}   {waited[task]:>8.1f}   {outcome.bound:>7}   "
            f"{'yes' if waited[task] <= outcome.bound else 'NO':>6}   {sent[task]:>5}"
        )
    print(
        f"every stranded task re-sent within its bound: {outcome.within_bound}; none twice: {outcome.none_twice}; "
        f"tasks re-sent that were not stranded: {len(outcome.not_stranded_resent)}"
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=100.0, help="tasks per second seeded (default 100)")
    parser.add_argument("--minutes", type=float, default=30.0, help="minutes of tasks seeded (default 30)")
    parser.add_argument("--stranded", type=int, default=10, help="tasks whose send was lost, placed at random")
    parser.add_argument("--interval", type=int, default=300, help="seconds between runs (sweepSchedule; 300)")
    parser.add_argument("--stranded-after", type=int, default=900, help="strandedAfterSeconds (default 900)")
    parser.add_argument("--seed", type=int, default=14, help="random seed of the stranded tasks' places")
    args = parser.parse_args()

    outcome = simulation(args.rate, args.minutes, args.stranded, args.interval, args.stranded_after, args.seed)
    rate = report(outcome)
    capacity = reconciler_capacity(rate, args.interval)
    print(
        f"\nfed to the model (infra/capacity.py EXAMINATION_RATE, bench/scale.py --examination-rate): at {rate:,.0f} "
        f"entries/s and a {args.interval} s interval the reconciler keeps up with {capacity:,.0f} tasks/s; a literal "
        f"day at {args.rate:g}/s is {args.rate * 86_400 / 1e6:.2f} M entries, {86_400 // args.interval} runs of "
        f"{args.rate * args.interval:,.0f} each, every one the same work as the full runs above (on DynamoDB; the "
        "emulator still slows somewhat as its table grows)"
    )
    if not (outcome.each_entry_once and outcome.within_bound and outcome.none_twice):
        sys.exit(1)


if __name__ == "__main__":
    main()
