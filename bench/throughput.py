"""Throughput benchmark: N tasks through the local cloud, against the emulator's own ceiling in the same run.

The ceiling is the same emulator answering the minimal AWS calls one task needs (PutItem RECEIVED, SendMessage,
ReceiveMessage, PutItem SUCCEEDED, DeleteMessage) from M threads straight at it, with no API, function or poller
in between: what the local cloud could reach if its own parts cost nothing.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import threading
import time
import uuid
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

import boto3
import requests
from botocore.config import Config
from localcloud import Cloud, percentile, start_cloud

GOAL_SHARE = 0.5
BENCH_CONFIG = ("processingTimeout=20", "visibilityTimeout=30", "gatewayTimeout=20", "dlqTimeout=20")


def submit_all(cloud: Cloud, tasks: int, clients: int, run_id: str) -> tuple[list[float], float, float]:
    """POST `tasks` tasks from `clients` threads (one keep-alive session each): latencies (s), start, end."""
    latencies: list[float] = []
    lock = threading.Lock()
    local = threading.local()

    def post(i: int) -> None:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        body: dict[str, Any] = {"taskId": f"{run_id}-{i}", "payload": {"n": i, "note": "throughput bench"}}
        started = time.perf_counter()
        response = session.post(f"{cloud.api_url}/tasks", json=body, headers=cloud.headers, timeout=60)
        elapsed = time.perf_counter() - started
        if response.status_code not in (200, 202):
            raise RuntimeError(f"POST answered {response.status_code}: {response.text[:200]}")
        with lock:
            latencies.append(elapsed)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(post, range(tasks)))
    return latencies, started, time.perf_counter()


def wait_drained(cloud: Cloud, timeout: float = 300) -> float:
    """Time at which the processing queue holds nothing, visible or in flight: every task was processed."""
    sqs = cloud.client("sqs")
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        attributes = sqs.get_queue_attributes(QueueUrl=cloud.outputs["processingQueueUrl"], AttributeNames=names)
        if all(int(attributes["Attributes"][name]) == 0 for name in names):
            return time.perf_counter()
        time.sleep(0.05)
    raise RuntimeError("the processing queue did not drain")


def _ceiling_worker(
    endpoint: str, credentials: tuple[str, str], table: str, queue_url: str, first: int, tasks: int, threads: int
) -> None:
    """One client process of the ceiling: `tasks` tasks' minimal calls from `threads` threads (with the local
    stack's administrator, so that they pay the same IAM checks as the functions' calls)."""
    key, secret = credentials
    session = boto3.session.Session(aws_access_key_id=key, aws_secret_access_key=secret, region_name="us-east-1")
    config = Config(max_pool_connections=threads, retries={"mode": "standard", "max_attempts": 3})
    dynamodb = session.client("dynamodb", endpoint_url=endpoint, config=config)
    sqs = session.client("sqs", endpoint_url=endpoint, config=config)

    def one(i: int) -> None:
        task_id = f"ceiling-{i}"
        item: dict[str, Any] = {"taskId": {"S": task_id}, "type": {"S": "RECEIVED"}, "payload": {"S": '{"n":1}'}}
        condition: dict[str, Any] = {
            "ConditionExpression": "attribute_not_exists(#sk)",
            "ExpressionAttributeNames": {"#sk": "sk"},
        }
        dynamodb.put_item(TableName=table, Item={**item, "sk": {"S": "0#0#0"}}, **condition)
        sqs.send_message(QueueUrl=queue_url, MessageBody=f'{{"taskId":"{task_id}","payload":{{"n":1}},"life":0}}')
        messages: list[Any] = []
        while not messages:
            reply = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=1)
            messages = reply.get("Messages", [])
        dynamodb.put_item(TableName=table, Item={**item, "sk": {"S": "0#1#0"}, "type": {"S": "SUCCEEDED"}}, **condition)
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=messages[0]["ReceiptHandle"])

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(one, range(first, first + tasks)))


def emulator_ceiling(cloud: Cloud, tasks: int, threads: int, processes: int) -> float:
    """Tasks per second when M threads (over P client processes, so that the clients' own GIL is not the limit)
    make each task's minimal calls straight at the emulator."""
    dynamodb = cloud.client("dynamodb")
    sqs = cloud.client("sqs")
    table = f"bench-ceiling-{uuid.uuid4().hex[:8]}"
    keys = [("taskId", "HASH"), ("sk", "RANGE")]
    dynamodb.create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name, _ in keys],
        KeySchema=[{"AttributeName": name, "KeyType": kind} for name, kind in keys],
        BillingMode="PAY_PER_REQUEST",
    )
    queue_url = sqs.create_queue(QueueName=table, Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    endpoint = cloud.outputs["awsEndpoint"]
    credentials = (cloud.outputs.get("awsAccessKeyId", "testing"), cloud.outputs.get("awsSecretAccessKey", "testing"))
    share = tasks // processes
    per_process = max(1, threads // processes)
    with ProcessPoolExecutor(max_workers=processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        # Warm each process's interpreter and connection pool first; then time the run proper.
        warm = [
            pool.submit(_ceiling_worker, endpoint, credentials, table, queue_url, -1000 * (p + 1), 5, 1)
            for p in range(processes)
        ]
        for future in warm:
            future.result()
        started = time.perf_counter()
        runs = [
            pool.submit(_ceiling_worker, endpoint, credentials, table, queue_url, p * share, share, per_process)
            for p in range(processes)
        ]
        for future in runs:
            future.result()
        elapsed = time.perf_counter() - started
    sqs.delete_queue(QueueUrl=queue_url)
    dynamodb.delete_table(TableName=table)
    return share * processes / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=400, help="tasks through the local cloud (N)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients posting them")
    parser.add_argument("--threads", type=int, default=8, help="threads driving the emulator ceiling (M)")
    parser.add_argument("--processes", type=int, default=2, help="client processes the ceiling's threads run in")
    parser.add_argument("--no-iam", action="store_true", help="run the local cloud without IAM enforcement")
    args = parser.parse_args()

    # Timeouts with room for a shared, loaded machine: at the local stack's 2 s a batch whose environment is cold
    # (its first call imports the lazy half of the handler) can overrun and be retried, which measures the machine's
    # load, not the pipeline. The visibility stays above the timeout, as the deployed stack requires.
    cloud = start_cloud(*BENCH_CONFIG, iam=not args.no_iam)
    try:
        # Warm every environment the run will use, so that cold starts are not counted as throughput.
        submit_all(cloud, max(args.clients * 2, 20), args.clients, f"warm-{uuid.uuid4().hex[:6]}")
        wait_drained(cloud)
        cloud.stats(reset=True)
        latencies, started, submitted = submit_all(cloud, args.tasks, args.clients, f"tp-{uuid.uuid4().hex[:6]}")
        drained = wait_drained(cloud)
        # Every request the emulator answered meanwhile (functions, pollers, the drain check): its load.
        requests_answered = sum(row["count"] for row in cloud.stats()["requests"].values())
        ceiling = emulator_ceiling(cloud, args.tasks, args.threads, args.processes)
    finally:
        cloud.stop()

    submit_rate = args.tasks / (submitted - started)
    completion_rate = args.tasks / (drained - started)
    share = completion_rate / ceiling
    request_rate = requests_answered / (drained - started)
    calls_per_task = requests_answered / args.tasks
    print(
        f"throughput: {args.tasks} tasks, {args.clients} clients; "
        f"ceiling from {args.threads} threads in {args.processes} processes"
    )
    print(f"Python {sys.version.split()[0]}; IAM {'not ' if args.no_iam else ''}enforced")
    print(f"{'figure':<44}{'value':>12}  goal")
    print(f"{'submit rate (POST answered), tasks/s':<44}{submit_rate:>12.1f}")
    print(f"{'completion rate (queue drained), tasks/s':<44}{completion_rate:>12.1f}")
    print(f"{'POST latency p50, ms':<44}{statistics.median(latencies) * 1000:>12.1f}")
    print(f"{'POST latency p99, ms':<44}{percentile(latencies, 99) * 1000:>12.1f}")
    print(f"{'emulator ceiling (5 calls/task), tasks/s':<44}{ceiling:>12.1f}")
    print(f"{'emulator requests per task, local cloud':<44}{calls_per_task:>12.2f}  (ceiling: 5, unbatched)")
    print(f"{'emulator requests/s: local cloud / ceiling':<44}{request_rate / (ceiling * 5):>12.2f}")
    verdict = "met" if share >= GOAL_SHARE else "NOT met"
    print(f"{'completion rate / ceiling':<44}{share:>12.2f}  >= {GOAL_SHARE} ({verdict})")


if __name__ == "__main__":
    main()
