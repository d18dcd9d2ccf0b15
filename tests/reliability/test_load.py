"""Load: concurrent clients submit a few hundred tasks (2,000 in `make soak`); every task ends in exactly one
terminal state, nothing is written twice, every history is in order, and both queues end empty."""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from tests.e2e.cloud import RunningCloud
from tests.reliability import trail
from tests.reliability.conftest import load_size, report

CLIENTS = 16
# A 503 asks the client to retry (Retry-After: 1); a client that gives up after this many tries has lost nothing
# either, but the test would not know whether the task was accepted.
MAX_TRIES = 5


class Clients:
    """Concurrent HTTP clients that retry a 503, as the API asks, and keep what they saw."""

    def __init__(self, cloud: RunningCloud) -> None:
        self.cloud = cloud
        self.local = threading.local()
        self.lock = threading.Lock()
        self.statuses: Counter[int] = Counter()
        self.latencies: list[float] = []

    def _session(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
        session: requests.Session = self.local.session
        return session

    def submit(self, task_id: str, payload: dict[str, Any]) -> int:
        body: dict[str, Any] = {"taskId": task_id, "payload": payload}
        status = 0
        for _ in range(MAX_TRIES):
            started = time.monotonic()
            response = self._session().post(
                f"{self.cloud.api_url}/tasks", json=body, headers=self.cloud.headers, timeout=60
            )
            status = response.status_code
            with self.lock:
                self.statuses[status] += 1
                self.latencies.append(time.monotonic() - started)
            if status != 503:
                return status
            time.sleep(float(response.headers.get("Retry-After", "1")))
        return status


@pytest.mark.slow
@pytest.mark.timeout(300 + load_size() * 0.6)
def test_every_task_ends_once_in_order_and_the_queues_drain(stack: RunningCloud) -> None:
    size = load_size()
    run = uuid.uuid4().hex[:8]
    plan = {f"load-{run}-{i}": trail.plan_payload(i) for i in range(size)}
    clients = Clients(stack)
    dynamodb, sqs = stack.client("dynamodb"), stack.client("sqs")
    table = stack.outputs["auditTableName"]

    started = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        finals = dict(zip(plan, pool.map(lambda item: clients.submit(*item), plan.items()), strict=True))
    submitted = time.monotonic() - started

    # Bad answers first: a 5xx other than a retried 503 is a failure of the API, whatever happens next.
    assert {status for status in clients.statuses if status >= 500} <= {503}, clients.statuses
    assert set(finals.values()) == {202}, Counter(finals.values())

    stored: dict[str, list[trail.Item]] = {}

    def all_settled() -> bool:
        stored.clear()
        stored.update(trail.scan(dynamodb, table, prefix=f"load-{run}-"))
        return len(stored) == size and all(trail.settled(items) for items in stored.values())

    def pending() -> str:
        unsettled = sorted(set(plan) - {t for t, items in stored.items() if trail.settled(items)})
        sample = [(t, [item.type for item in stored.get(t, [])]) for t in unsettled[:5]]
        return f"{len(unsettled)} tasks not settled, e.g. {sample}"

    # Wait on the queues first: two cheap calls, where a scan holds the emulator's DynamoDB for seconds at soak size
    # (~3 s per 1 MB page) and, polled every second, starved the pipeline it was waiting for. Both queues empty,
    # nothing visible or in flight, means every task has left the pipeline; the scan then checks what it wrote.
    queues = [stack.outputs["processingQueueUrl"], stack.outputs["deadLetterQueueUrl"]]
    trail.wait_queues_empty(sqs, queues, timeout=120 + size * 0.15)
    trail.wait_until(all_settled, timeout=60, what=pending, every=2.0)
    settled_after = time.monotonic() - started
    trail.wait_queues_empty(sqs, queues)

    stored = trail.scan(dynamodb, table, prefix=f"load-{run}-")
    problems = [problem for task_id, items in stored.items() for problem in trail.violations(task_id, items)]
    assert not problems, "\n".join(problems[:30])
    ends = {task_id: trail.terminal(items) for task_id, items in stored.items()}
    wrong = {t: (plan[t].get("simulate"), ends[t]) for t in plan if ends[t] != trail.expected_end(plan[t])}
    assert not wrong, f"{len(wrong)} tasks ended otherwise than their payload asks: {list(wrong.items())[:10]}"

    # The API tells the same story as the table, for every task.
    with ThreadPoolExecutor(CLIENTS) as pool:
        histories = dict(zip(plan, pool.map(lambda t: stack.get_task(t).json(), plan), strict=True))
    problems = [p for task_id in plan for p in trail.check_api_history(task_id, histories[task_id], stored[task_id])]
    assert not problems, "\n".join(problems[:30])

    # And the trail proves it: once their periods are sealed, every task verifies against the signed digests.
    verified = stack.wait_for_verify(lambda r: r["pending"] == 0 or bool(r["findings"]), timeout=120)
    assert verified["findings"] == [], verified["findings"][:20]
    assert verified["verified"] == verified["tasks"] >= size

    latencies = sorted(clients.latencies)
    outcome = Counter(ends.values())
    report(
        f"load: {size} tasks from {CLIENTS} clients: submitted in {submitted:.1f}s ({size / submitted:.0f} POST/s, "
        f"p50 {statistics.median(latencies) * 1000:.0f} ms, p95 {latencies[int(len(latencies) * 0.95)] * 1000:.0f} ms, "
        f"answers {dict(clients.statuses)}); all settled after {settled_after:.1f}s "
        f"({size / settled_after:.1f} tasks/s end to end); {dict(outcome)}; "
        f"{sum(len(items) for items in stored.values())} events, none doubled; `tasktrail verify`: "
        f"{verified['verified']} tasks ({verified['events']} events) verified against {verified['digests']} digests "
        f"in {verified['seconds']:.1f}s"
    )
