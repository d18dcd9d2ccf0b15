"""Cold-start benchmark: each function's first request, end to end, against a hand-written boto3 handler.

A fresh process, started as the local Lambda runtime starts an execution environment (`python3.13 -S -P`, Lambda's
environment variables, the unpacked deployment package, the layer, the runtime's boto3 and AWS's runtime interface
client on PYTHONPATH in Lambda's order, PYTHONDONTWRITEBYTECODE=1 since /var/task and /opt are read-only), imports
the handler and serves a real event against an embedded emulator; the clock runs from just before the import to the
answer (bench/coldstart_driver.py). The same process then serves a few more events (--warm, 5 by default): the warm
request is the median of those, the second request included, so that one slow call to the emulator does not make
the figure. The package and the layer are the artefacts that ship (infra.artifacts), the layer built for this
machine's CPU.

Beside each function, two references: bench/baseline/ makes the same AWS calls with plain boto3 (clients at init, no
Powertools, no pydantic), and bench/floor/ runs that same work behind the tools the project's standard requires
(Powertools' Logger, Metrics, Tracer, REST resolver with validation or batch utility, a pydantic model), with none
of tasktrail's own code: how close any handler keeping those tools can come to the baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the benches run as scripts, `python bench/NAME.py`, from any directory

import boto3  # noqa: E402

from handlers.dal import schema  # noqa: E402
from handlers.dal.audit_store import AuditStore  # noqa: E402
from handlers.models.contract import MAX_BODY_BYTES, STAGE_NAME  # noqa: E402
from handlers.models.events import AuditEvent, EventType  # noqa: E402
from handlers.models.settings import (  # noqa: E402
    DeadLetterSettings,
    FunctionSettings,
    GatewaySettings,
    ProcessingSettings,
    SweeperSettings,
)
from infra.artifacts import BUILD_DIR, build_layer, function_code  # noqa: E402
from local.deploy.lambda_host import host_architecture, host_runtime, python_version_of  # noqa: E402
from local.deploy.packaging import extract_package, zip_archive  # noqa: E402
from local.deploy.topology import ApiSpec, FunctionSpec, RouteSpec, ScheduleSpec  # noqa: E402
from local.emulator.account import ACCOUNT_ID, REGION  # noqa: E402
from local.emulator.server import Emulator  # noqa: E402
from local.services.apigateway import proxy_event  # noqa: E402
from local.services.events import scheduled_event  # noqa: E402
from local.services.lambda_.event_source_mapping.sqs_poller import sqs_record  # noqa: E402
from local.services.lambda_.runtime import FunctionSetup, function_environment  # noqa: E402
from local.services.lambda_.runtime_api import trace_id  # noqa: E402

RUNTIME = "python3.13"
FUNCTIONS = ("gateway", "processing", "dlq", "sweeper")
DRIVER = ROOT / "bench" / "coldstart_driver.py"
GOAL_COLD, GOAL_WARM = 1.3, 1.1
MEMORY_MB = 256
# As the default stack sets them (infra/pipeline.py, Pulumi.yaml): the gateway's timeout, the queue's visibility.
GATEWAY_TIMEOUT, BASE_VISIBILITY, MAX_RECEIVE_COUNT = 10, 180, 2
# Messages the functions receive stay in flight for the whole bench, so that a queue holds only what a run put.
IN_FLIGHT_SECONDS = 43_200


@dataclass(frozen=True)
class Variant:
    """One way of running a function: which handler (the project's `handlers`, bench/`baseline` or bench/`floor`),
    with tracing on or off, from the package with or without bytecode."""

    label: str
    package: str
    traced: bool = True
    bytecode: bool = True


@dataclass
class Stack:
    """One function's own table and queues in the emulator, so that no function's runs change another's work."""

    function: str
    table: str
    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str

    def settings(self) -> dict[str, str]:
        common: dict[str, Any] = {
            "audit_table_name": self.table,
            "service_name": f"tasktrail-{self.function}",
            "metrics_namespace": "tasktrail",
            "log_level": "INFO",
            "log_payloads": False,
        }
        model: type[FunctionSettings]
        if self.function == "gateway":
            model, extra = (
                GatewaySettings,
                {
                    "processing_queue_url": self.queue_url,
                    "max_body_bytes": MAX_BODY_BYTES,
                    "reenqueue_after_seconds": GATEWAY_TIMEOUT,
                    "stranded_after_seconds": 900,
                    "api_auth": "apiKey",
                },
            )
        elif self.function == "processing":
            model, extra = (
                ProcessingSettings,
                {
                    "processing_queue_url": self.queue_url,
                    "base_visibility_timeout": BASE_VISIBILITY,
                    "max_receive_count": MAX_RECEIVE_COUNT,
                    "fault_injection": False,
                    "task_worker": "handlers.logic.work:run_task",
                    "dead_letter_queue_url": self.dlq_url,
                },
            )
        elif self.function == "dlq":
            model, extra = DeadLetterSettings, {"max_receive_count": MAX_RECEIVE_COUNT}
        else:
            model, extra = (
                SweeperSettings,
                {
                    "processing_queue_url": self.queue_url,
                    "reenqueue_after_seconds": GATEWAY_TIMEOUT,
                    "stranded_after_seconds": 900,
                    "sweep_lookback_seconds": 86_400,
                },
            )
        return {name: str(value) for name, value in model.environment(**common, **extra).items()}


@dataclass
class Samples:
    """Each run's milliseconds, by the clock (`ms`) and in the process's CPU time (`cpu_ms`): the import (init),
    the first invocation, then each warm one."""

    runs: list[dict[str, list[float]]] = field(default_factory=list)

    def median(self, part: Callable[[list[float]], float], clock: str = "ms") -> float:
        return statistics.median(part(run[clock]) for run in self.runs)

    @property
    def cold(self) -> float:
        return self.median(lambda run: run[0] + run[1])

    @property
    def cold_cpu(self) -> float:
        return self.median(lambda run: run[0] + run[1], "cpu_ms")

    @property
    def init(self) -> float:
        return self.median(lambda run: run[0])

    @property
    def warm(self) -> float:
        return self.median(lambda run: statistics.median(run[2:]))

    @property
    def warm_cpu(self) -> float:
        return self.median(lambda run: statistics.median(run[2:]), "cpu_ms")


class Bench:
    def __init__(
        self, work: Path, layer: Path, task_root: Path, source_only: tuple[Path, Path] | None, warm: int = 5
    ) -> None:
        self.work = work
        self.warm = warm
        self.emulator = Emulator(0)
        self.emulator.start()
        self.endpoint = self.emulator.endpoint
        session = boto3.Session(aws_access_key_id="bench", aws_secret_access_key="bench", region_name=REGION)
        self.dynamodb: Any = session.client("dynamodb", endpoint_url=self.endpoint)
        self.sqs: Any = session.client("sqs", endpoint_url=self.endpoint)
        self.runtime = host_runtime(RUNTIME, ROOT)
        self.runtime_sdk = runtime_sdk()
        self.layer, self.task_root, self.source_only = layer, task_root, source_only
        self.stacks = {function: self._stack(function) for function in FUNCTIONS}

    def close(self) -> None:
        self.emulator.stop()

    def _stack(self, function: str) -> Stack:
        table = f"bench-{function}-audit"
        self.dynamodb.create_table(  # as infra declares it, from the same schema constants
            TableName=table,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": name, "AttributeType": kind} for name, kind in schema.KEY_ATTRIBUTE_TYPES.items()
            ],
            KeySchema=[
                {"AttributeName": schema.TABLE_PARTITION_KEY, "KeyType": "HASH"},
                {"AttributeName": schema.TABLE_SORT_KEY, "KeyType": "RANGE"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": schema.STATUS_INDEX_NAME,
                    "KeySchema": [
                        {"AttributeName": schema.STATUS_INDEX_PK, "KeyType": "HASH"},
                        {"AttributeName": schema.STATUS_INDEX_SK, "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        )
        urls = []
        for suffix in ("processing", "dlq"):
            url = self.sqs.create_queue(
                QueueName=f"bench-{function}-{suffix}", Attributes={"VisibilityTimeout": str(IN_FLIGHT_SECONDS)}
            )["QueueUrl"]
            urls.append(url)
        arns = [f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:bench-{function}-{suffix}" for suffix in ("processing", "dlq")]
        return Stack(function, table, urls[0], arns[0], urls[1], arns[1])

    # Events: real ones, built by the local cloud's own builders, on fresh task ids each run.

    def events(self, function: str, tag: str) -> list[dict[str, Any]]:
        stack = self.stacks[function]
        task_ids = [f"{tag}-{n}-{uuid.uuid4().hex[:8]}" for n in range(1 + self.warm)]
        if function == "gateway":
            return [self._post(task_id) for task_id in task_ids]
        if function == "processing":
            return [{"Records": [record]} for record in self._records(stack.queue_url, stack.queue_arn, task_ids)]
        if function == "dlq":
            store = AuditStore(self.dynamodb, stack.table)
            for task_id in task_ids:  # a task that failed twice: what the dead-letter function reads
                store.append(AuditEvent(task_id, EventType.RECEIVED, life=0, slot=0, fields={"payload": "{}"}))
                for attempt in (1, 2):
                    fields: dict[str, str | int] = {"visibilityTimeout": attempt * BASE_VISIBILITY, "error": "boom"}
                    store.append(
                        AuditEvent(task_id, EventType.RETRY_SCHEDULED, 0, attempt, attempt=attempt, fields=fields)
                    )
            return [{"Records": [record]} for record in self._records(stack.dlq_url, stack.dlq_arn, task_ids)]
        schedule = ScheduleSpec(
            rule_name="bench-sweeper-schedule",
            rule_arn=f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/bench-sweeper-schedule",
            expression="rate(5 minutes)",
            function_name="bench-sweeper",
            enabled=True,
        )
        return [scheduled_event(schedule) for _ in task_ids]

    def _post(self, task_id: str) -> dict[str, Any]:
        api = ApiSpec(id="bench", stage=STAGE_NAME, routes=[], api_keys=[])
        route = RouteSpec("/api/v1/tasks", "tasks", "POST", "bench-gateway", True, "NONE")
        headers = [
            ("Host", f"bench.execute-api.{REGION}.amazonaws.com"),
            ("User-Agent", "curl/8.5.0"),
            ("Accept", "*/*"),
            ("Content-Type", "application/json"),
            ("x-api-key", "bench-key"),
        ]
        body = json.dumps({"taskId": task_id, "payload": {"sku": "A-1", "qty": 2}}).encode()
        return proxy_event(api, route, "POST", "/api/v1/tasks", "", headers, body, {}, "127.0.0.1", "bench-key-id")

    def _records(self, url: str, arn: str, task_ids: list[str]) -> list[dict[str, Any]]:
        for task_id in task_ids:
            self.sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"taskId": task_id, "payload": {}, "life": 0}))
        received: list[dict[str, Any]] = []
        while len(received) < len(task_ids):
            received += self.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
            ).get("Messages", [])
        order = {task_id: n for n, task_id in enumerate(task_ids)}
        received.sort(key=lambda message: order[json.loads(message["Body"])["taskId"]])
        return [sqs_record(message, arn) for message in received]

    # One measured process.

    def run(self, function: str, variant: Variant, tag: str) -> dict[str, list[float]]:
        stack = self.stacks[function]
        package, layer = (self.task_root, self.layer) if variant.bytecode else (self.source_only or (None, None))
        assert package is not None and layer is not None
        task_root = package if variant.package == "handlers" else ROOT / "bench"
        handler = f"{variant.package}.{function}.handler"
        spec = FunctionSpec(
            name=f"bench-{function}",
            arn=f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:bench-{function}",
            handler=handler,
            runtime=RUNTIME,
            timeout=30,
            memory=MEMORY_MB,
            environment=stack.settings(),
            log_group=f"/aws/lambda/bench-{function}",
        )
        search_path = (task_root, layer, self.runtime_sdk, self.runtime.interface)
        setup = FunctionSetup(spec, self.runtime.python, search_path, self.endpoint)
        env = function_environment(setup) | {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_SESSION_TOKEN": "bench",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"2026/01/01/[$LATEST]{uuid.uuid4().hex}",
            "PYTHONPATH": os.pathsep.join(str(path) for path in setup.search_path),
            # /var/task and /opt are read-only on Lambda: what a cold start compiles is never kept.
            "PYTHONDONTWRITEBYTECODE": "1",
            # Lambda sets both under active tracing. The SDK sends its segments over UDP, so a port with no daemon
            # behind it costs the same sends.
            "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        }
        if variant.traced:
            env.pop("POWERTOOLS_TRACE_DISABLED", None)  # as deployed: active tracing, Powertools' Tracer on
        else:
            env["POWERTOOLS_TRACE_DISABLED"] = "true"
        events = self.events(function, tag)
        invocations = [
            {"event": event, "traceId": trace_id().replace("Sampled=0", "Sampled=1"), "requestId": str(uuid.uuid4())}
            for event in events
        ]
        events_path, result_path = self.work / f"{tag}.events.json", self.work / f"{tag}.result.json"
        events_path.write_text(json.dumps(invocations), encoding="utf-8")
        done = subprocess.run(  # noqa: S603 - the runtime's interpreter, argv built here
            [str(self.runtime.python), "-S", "-P", str(DRIVER), handler, str(events_path), str(result_path)],
            env=env,
            cwd=task_root,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{function} ({variant.label}) failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        result = json.loads(result_path.read_text(encoding="utf-8"))
        for answer in result["answers"]:
            _check(function, variant, answer, done.stdout)
        return {clock: result[clock] for clock in ("ms", "cpu_ms")}


def _check(function: str, variant: Variant, answer: Any, output: str) -> None:
    # A function that fails fast would be measured fast: each answer must be the success it is meant to be.
    if function == "gateway":
        ok = answer.get("statusCode") == 202
    elif function in ("processing", "dlq"):
        ok = answer == {"batchItemFailures": []}
    else:
        ok = answer.get("complete") is True
    if not ok:
        raise RuntimeError(f"{function} ({variant.label}) answered {answer!r}:\n{output[-3000:]}")


def shipped_artifacts(work: Path) -> tuple[Path, Path, bool]:
    """The layer as it ships, built for this machine's CPU (reused from .tasktrail-build/), and the deployment
    package unpacked as Lambda's /var/task; and whether they carry bytecode for the runtime's Python."""
    version = python_version_of(RUNTIME)
    layer = build_layer(ROOT / "handlers/requirements.lock", host_architecture(), version, ROOT / BUILD_DIR)
    task_root = work / "task"
    previous = Path.cwd()
    os.chdir(ROOT)  # function_code names the package's files relative to the project, as `pulumi up` runs it
    try:
        extract_package(zip_archive(function_code(python_version=version), ROOT), task_root)
    finally:
        os.chdir(previous)
    return layer.tree, task_root, layer.bytecode and any(task_root.rglob("*.pyc"))


def runtime_sdk() -> Path:
    """boto3 as Lambda's runtime carries it in /var/runtime, after the layer on the path
    (bench/baseline/requirements.in): the hand-written handlers import it; tasktrail's, built on botocore, do not."""
    lock = ROOT / "bench" / "baseline" / "requirements.lock"
    return build_layer(lock, host_architecture(), python_version_of(RUNTIME), ROOT / BUILD_DIR).tree


def source_only(work: Path, layer: Path, task_root: Path) -> tuple[Path, Path]:
    """Copies of the package and the layer without any bytecode: what every cold start compiles afresh."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(task_root, work / "task-source", ignore=ignore)
    shutil.copytree(layer, work / "layer-source", ignore=ignore)
    return work / "task-source", work / "layer-source"


def report(
    samples: dict[tuple[str, str], Samples], functions: list[str], variants: list[Variant], runs: int, warm: int
) -> bool:
    print(
        f"cold request: median of {runs} fresh processes per row, interleaved; warm: the median of the {warm} "
        f"requests after it in each; Python {RUNTIME.removeprefix('python')} (-S -P, PYTHONDONTWRITEBYTECODE=1), "
        f"{os.cpu_count()} CPUs; ms by the clock (the goal's), and the function process's own CPU ms (steadier on a "
        "busy machine)"
    )
    header = (
        f"{'function':<11}{'variant':<34}{'init':>7}{'cold':>8}{'x base':>8}{'warm':>7}{'x base':>8}"
        f"{'cold CPU':>10}{'x base':>8}{'warm CPU':>10}{'x base':>8}"
    )
    print(header)
    print("-" * len(header))
    met = True
    for function in functions:
        for variant in variants:
            base_label = next(v.label for v in variants if v.package == "baseline" and v.bytecode == variant.bytecode)
            row, base = samples[(function, variant.label)], samples[(function, base_label)]
            cold_ratio, warm_ratio = row.cold / base.cold, row.warm / base.warm
            print(
                f"{function:<11}{variant.label:<34}{row.init:>7.0f}{row.cold:>8.0f}{cold_ratio:>8.2f}"
                f"{row.warm:>7.1f}{warm_ratio:>8.2f}{row.cold_cpu:>10.0f}{row.cold_cpu / base.cold_cpu:>8.2f}"
                f"{row.warm_cpu:>10.1f}{row.warm_cpu / base.warm_cpu:>8.2f}"
            )
            if variant.package == "handlers" and variant.bytecode:
                met = met and cold_ratio <= GOAL_COLD and warm_ratio <= GOAL_WARM
        print()
    verdict = "met" if met else "NOT met"
    print(f"goal: every function's cold request <= {GOAL_COLD} x its baseline, warm <= {GOAL_WARM} x: {verdict}")
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=11, help="fresh processes per row (the median is quoted)")
    parser.add_argument("--warm", type=int, default=5, help="warm requests after the cold one, in each process")
    parser.add_argument("--functions", nargs="+", choices=FUNCTIONS, default=list(FUNCTIONS))
    parser.add_argument(
        "--without-bytecode", action="store_true", help="also run on copies of the package and layer with no .pyc"
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tasktrail-coldstart-"))
    layer, task_root, compiled = shipped_artifacts(work)
    shipped = "with" if compiled else "WITHOUT"
    print(f"layer: {layer.relative_to(ROOT)}; package and layer {shipped} bytecode for {RUNTIME}")
    variants = [
        Variant("baseline (plain boto3)", "baseline"),
        Variant("Powertools floor, tracing on", "floor"),
        Variant("tasktrail, tracing on (deployed)", "handlers", traced=True),
        Variant("tasktrail, tracing off (local)", "handlers", traced=False),
    ]
    if args.without_bytecode:
        variants += [
            Variant("baseline, no bytecode", "baseline", bytecode=False),
            Variant("tasktrail, tracing on, no bytecode", "handlers", bytecode=False),
        ]
    copies = source_only(work, layer, task_root) if args.without_bytecode else None
    bench = Bench(work, layer, task_root, copies, max(1, args.warm))
    samples = {(function, variant.label): Samples() for function in args.functions for variant in variants}
    started = time.monotonic()
    try:
        for run in range(args.runs):
            for function in args.functions:
                # Interleaved, and rotated each run, so that the machine's noise and any drift hit every row alike.
                shift = run % len(variants)
                for n, variant in enumerate(variants[shift:] + variants[:shift]):
                    tag = f"r{run}-{function}-{n}"
                    samples[(function, variant.label)].runs.append(bench.run(function, variant, tag))
    finally:
        bench.close()
        shutil.rmtree(work, ignore_errors=True)
    print(f"({time.monotonic() - started:.0f} s)")
    report(samples, args.functions, variants, args.runs, bench.warm)


if __name__ == "__main__":
    main()
