"""The local cloud for the tests: `tasktrail up` started by local.cloud.launch, with an HTTP session and the
calls the tests make."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from local.cloud.launch import CloudProcess, free_port, start
from local.cloud.state import PROJECT_DIR

__all__ = ["PROJECT_DIR", "TASKTRAIL", "RunningCloud", "free_port", "start_cloud"]

# The `tasktrail` console script the README's set-up installs beside this interpreter.
TASKTRAIL = str(Path(sys.executable).with_name("tasktrail"))


@dataclass
class RunningCloud(CloudProcess):
    """One local cloud process, its outputs, and one keep-alive HTTP session to its API."""

    http: requests.Session = field(default_factory=requests.Session)

    def post_task(self, task_id: Any, payload: Any, **kwargs: Any) -> requests.Response:
        return self.http.post(
            f"{self.api_url}/tasks",
            json={"taskId": task_id, "payload": payload},
            headers=self.headers,
            timeout=30,
            **kwargs,
        )

    def get_task(self, task_id: str) -> requests.Response:
        return self.http.get(f"{self.api_url}/tasks/{task_id}", headers=self.headers, timeout=30)

    def wait_for_status(self, task_id: str, statuses: set[str], timeout: float = 60) -> dict[str, Any]:
        """Poll the history until the task reaches one of `statuses` (and its last event is written)."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            response = self.get_task(task_id)
            if response.status_code == 200:
                last = response.json()
                if last["status"] in statuses and _settled(last):
                    return dict(last)
            time.sleep(0.25)
        raise AssertionError(f"task {task_id} did not reach {statuses} in {timeout}s; last seen: {last}")

    def verify(self, *args: str) -> tuple[int, dict[str, Any]]:
        """`tasktrail verify --json` against this cloud, as a user runs it: its exit status and report."""
        done = subprocess.run(  # noqa: S603 - our own CLI
            [TASKTRAIL, "verify", "--json", "--state-dir", str(self.state_dir), *args],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode in {0, 1}, done.stderr
        return done.returncode, dict(json.loads(done.stdout))

    def wait_for_verify(
        self, condition: Callable[[dict[str, Any]], bool], timeout: float, *args: str
    ) -> dict[str, Any]:
        """Run `verify` until its report meets `condition` (digests are sealed a period and a grace after)."""
        deadline = time.monotonic() + timeout
        while True:
            _, report = self.verify(*args)
            if condition(report):
                return report
            assert time.monotonic() < deadline, json.dumps(report, indent=1)[-4000:]
            time.sleep(2)

    def stop(self) -> int:
        """Ctrl-C, as a user would; returns the exit code."""
        code = super().stop()
        self.http.close()
        return code


def _settled(history: dict[str, Any]) -> bool:
    # A dead-lettered task is complete once the DLQ function has also recorded CLEANED_UP, in this life: a
    # redriven task's first life already ends in CLEANED_UP, so the last event is what tells.
    events = history["events"]
    return history["status"] != "DEAD_LETTERED" or (bool(events) and events[-1]["type"] == "CLEANED_UP")


def start_cloud(tmp: Path, *extra: str) -> RunningCloud:
    """A local cloud with its state and log under `tmp`; `extra` are more `up` arguments (e.g. --config k=v)."""
    return start(tmp, *extra, kind=RunningCloud)
