"""For the benches: a `python -m local up` subprocess on free ports, with the emulator's request counters on."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import requests
from botocore.config import Config

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_SECONDS = 120
STATS_PATH = "/_local/stats"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0-100) of a non-empty list."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


@dataclass
class Cloud:
    process: subprocess.Popen[bytes]
    outputs: dict[str, Any]
    log_path: Path

    @property
    def api_url(self) -> str:
        return str(self.outputs["apiUrl"])

    @property
    def headers(self) -> dict[str, str]:
        key = self.outputs.get("apiKey")
        return {"x-api-key": key} if key else {}

    def client(self, service: str, pool: int = 10) -> Any:
        return boto3.session.Session().client(  # type: ignore[call-overload]
            service,
            endpoint_url=self.outputs["awsEndpoint"],
            region_name=self.outputs["region"],
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(max_pool_connections=pool, retries={"mode": "standard", "max_attempts": 3}),
        )

    def stats(self, reset: bool = False) -> dict[str, Any]:
        """The emulator's request counters and the functions' invocations; `reset` zeroes them after reading."""
        url = self.outputs["awsEndpoint"] + STATS_PATH
        response = requests.delete(url, timeout=10) if reset else requests.get(url, timeout=10)
        response.raise_for_status()
        return dict(response.json())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_cloud(*config: str) -> Cloud:
    """Start the local cloud (extra `--config key=value` pairs in `config`) and wait until its API answers."""
    tmp = Path(tempfile.mkdtemp(prefix="tasktrail-bench-"))
    state_dir = tmp / "state"
    log_path = tmp / "local-up.log"
    command = [sys.executable, "-m", "local", "up", "--port", str(free_port()), "--aws-port", str(free_port())]
    command += ["--state-dir", str(state_dir)]
    for pair in config:
        command += ["--config", pair]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TASKTRAIL_LOCAL_STATS": "1"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)  # noqa: S603
    outputs_file = state_dir / "outputs.json"
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while not outputs_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise RuntimeError(f"local cloud did not start:\n{log_path.read_text(errors='replace')[-4000:]}")
        time.sleep(0.2)
    cloud = Cloud(process, json.loads(outputs_file.read_text()), log_path)
    requests.get(f"{cloud.api_url}/tasks/readiness-probe", headers=cloud.headers, timeout=30)
    return cloud
