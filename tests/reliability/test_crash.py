"""A crashed worker: the emulator runs apart (`tasktrail emulator`), `tasktrail up --endpoint-url` runs
the functions. SIGKILL the processing environments mid-batch, then the whole `up` with them; start `up` again on the
same emulator: in-flight messages come back after their visibility timeout, nothing is lost, nothing doubled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.e2e.cloud import PROJECT_DIR, RunningCloud, free_port, start_cloud
from tests.reliability import trail
from tests.reliability.conftest import load_size, report

# Room for the kills: a message may be in a killed batch twice and still succeed; "fail" tasks still dead-letter.
MAX_RECEIVES = "4"


def _children(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of the direct children of `pid`, read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append((int(entry.name), cmdline))
    return found


def _function_pids(up: RunningCloud, handler: str) -> list[int]:
    return [pid for pid, cmdline in _children(up.process.pid) if handler in cmdline]


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log = (tmp_path / "emulator.log").open("wb")
    process = subprocess.Popen(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "local", "emulator", "--aws-port", str(port)], cwd=PROJECT_DIR, stdout=log, stderr=log
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(endpoint, timeout=2)
            break
        except requests.ConnectionError:
            assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "emulator.log").read_text()
            time.sleep(0.2)
    yield endpoint
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()


def _submit(up: RunningCloud, plan: dict[str, dict[str, object]]) -> None:
    def post(item: tuple[str, dict[str, object]]) -> int:
        return up.post_task(*item).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(post, plan.items()))
    assert set(statuses) == {202}, statuses


@pytest.mark.slow
@pytest.mark.timeout(600 + load_size())
def test_killed_workers_and_a_killed_up_lose_nothing_and_double_nothing(emulator: str, tmp_path: Path) -> None:
    size = max(60, load_size() // 2)
    run = uuid.uuid4().hex[:8]
    # No always-failing tasks here (the load scenario has them): their slow road to the DLQ says nothing about crashes.
    plan = {f"crash-{run}-{i}": trail.plan_payload(i if i % 10 else i + 1) for i in range(size)}
    first_wave = dict(list(plan.items())[: size // 2])
    second_wave = dict(list(plan.items())[size // 2 :])
    config = ("--endpoint-url", emulator, "--config", f"maxReceiveCount={MAX_RECEIVES}")
    for name in ("up-1", "up-2"):
        (tmp_path / name).mkdir()
    up = start_cloud(tmp_path / "up-1", *config)
    sqs, dynamodb = up.client("sqs"), up.client("dynamodb")
    queue, dead, table = (up.outputs[k] for k in ("processingQueueUrl", "deadLetterQueueUrl", "auditTableName"))

    # 1. SIGKILL the processing environments while they work through a backlog; `up` lives on and starts new ones.
    _submit(up, first_wave)
    kills = 0
    for _ in range(20):
        if "Runtime.ExitError" in up.log():
            break
        pids = _function_pids(up, "handlers.processing.handler")
        if pids and trail.queue_counts(sqs, queue)[1]:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                    kills += 1
                except ProcessLookupError:
                    pass  # already replaced
        time.sleep(0.2)
    assert "Runtime.ExitError" in up.log(), "no processing environment died inside an invocation"

    # 2. SIGKILL `up` itself (its environments die with it) while messages are in flight.
    _submit(up, second_wave)
    in_flight = 0
    deadline = time.monotonic() + 30
    while not in_flight and time.monotonic() < deadline:
        in_flight = trail.queue_counts(sqs, queue)[1]
    assert in_flight, "nothing was in flight to lose"
    up.process.send_signal(signal.SIGKILL)
    up.process.wait(timeout=10)
    killed_at = time.monotonic()
    orphans = [pid for pid, _ in _children(up.process.pid)]
    assert not orphans, f"environments outlived their `up`: {orphans}"
    stored = trail.scan(dynamodb, table, prefix=f"crash-{run}-")
    unsettled_at_kill = size - sum(trail.settled(items) for items in stored.values())

    # 3. `up` again on the same emulator: the in-flight messages come back after their visibility timeout.
    again = start_cloud(tmp_path / "up-2", *config)
    try:

        def all_settled() -> bool:
            stored.clear()
            stored.update(trail.scan(dynamodb, table, prefix=f"crash-{run}-"))
            return len(stored) == size and all(trail.settled(items) for items in stored.values())

        trail.wait_until(
            all_settled,
            timeout=120 + size * 0.2,
            what=lambda: f"{sum(not trail.settled(i) for i in stored.values())} of {len(stored)} tasks not settled",
        )
        recovered_after = time.monotonic() - killed_at
        trail.wait_queues_empty(sqs, [queue, dead])
    finally:
        again.stop()

    stored = trail.scan(dynamodb, table, prefix=f"crash-{run}-")
    problems = [problem for task_id, items in stored.items() for problem in trail.violations(task_id, items)]
    assert not problems, "\n".join(problems[:30])
    ends = {task_id: trail.terminal(items) for task_id, items in stored.items()}
    wrong = {t: ends[t] for t in plan if ends[t] != trail.expected_end(plan[t])}
    assert not wrong, wrong
    redelivered = sum(
        1
        for items in stored.values()
        for item in items
        if item.type == "SUCCEEDED" and (item.attempt or 0) > (2 if "RETRY_SCHEDULED" in {i.type for i in items} else 1)
    )
    report(
        f"crash: {size} tasks; {kills} processing environments SIGKILLed mid-batch, then `up` SIGKILLed with "
        f"{in_flight} messages in flight and {unsettled_at_kill} tasks unsettled; the second `up` settled all "
        f"{recovered_after:.1f}s after the kill; {redelivered} successes came on a receive after a killed one; "
        f"{sum(len(i) for i in stored.values())} events, none doubled"
    )
