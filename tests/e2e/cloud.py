"""Starts `python -m local up` as a subprocess on free ports and talks to it over HTTP and boto3."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import requests

PROJECT_DIR = Path(__file__).resolve().parents[2]
# Generous: the suite must pass on a loaded 2-core machine, where `up` alone can take several seconds.
READY_TIMEOUT_SECONDS = 120
STOP_TIMEOUT_SECONDS = 30


def _end_with_the_tests() -> None:
    # A test session killed midway must not leave a local cloud behind (Linux; elsewhere the fixture stops it).
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningCloud:
    """One local cloud process, its outputs and clients bound to it."""

    process: subprocess.Popen[bytes]
    state_dir: Path
    log_path: Path
    outputs: dict[str, Any]
    http: requests.Session = field(default_factory=requests.Session)

    @property
    def api_url(self) -> str:
        return str(self.outputs["apiUrl"])

    @property
    def headers(self) -> dict[str, str]:
        key = self.outputs.get("apiKey")
        return {"x-api-key": key} if key else {}

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.outputs["awsEndpoint"],
            region_name=self.outputs["region"],
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

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

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> int:
        """Ctrl-C, as a user would; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.http.close()
        return int(self.process.returncode)


def _settled(history: dict[str, Any]) -> bool:
    # A dead-lettered task is complete once the DLQ function has also recorded CLEANED_UP, in this life: a
    # redriven task's first life already ends in CLEANED_UP, so the last event is what tells.
    events = history["events"]
    return history["status"] != "DEAD_LETTERED" or (bool(events) and events[-1]["type"] == "CLEANED_UP")


def start_cloud(tmp: Path, *extra: str) -> RunningCloud:
    state_dir = tmp / "state"
    log_path = tmp / "local-up.log"
    command = [
        sys.executable,
        "-m",
        "local",
        "up",
        "--port",
        str(free_port()),
        "--aws-port",
        str(free_port()),
        "--state-dir",
        str(state_dir),
        *extra,
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own CLI
            command,
            cwd=PROJECT_DIR,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            preexec_fn=_end_with_the_tests,  # noqa: PLW1509 - no threads in play at this point
        )
    outputs_file = state_dir / "outputs.json"
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while not outputs_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise RuntimeError(f"local cloud did not start:\n{log_path.read_text(errors='replace')[-4000:]}")
        time.sleep(0.2)
    cloud = RunningCloud(process, state_dir, log_path, json.loads(outputs_file.read_text()))
    # Outputs are written once the API serves; one request proves it before any test relies on it.
    cloud.http.get(f"{cloud.api_url}/tasks/readiness-probe", headers=cloud.headers, timeout=30)
    return cloud
