"""`tasktrail up` (as `python -m local up`) in a child process on free ports, for programs that drive a local cloud:
the end-to-end and reliability tests, the benchmarks, or a user's own test suite; and `tasktrail emulator` alone, for
those that drive the AWS emulator themselves (bench/reconciler.py).

    cloud = start(Path("/tmp/my-cloud"))
    requests.post(f"{cloud.api_url}/tasks", json={...}, headers=cloud.headers)
    cloud.client("dynamodb").scan(TableName=cloud.outputs["auditTableName"])
    cloud.stop()
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from local.cloud.state import OUTPUTS_FILE, PROJECT_DIR
from local.emulator import stats

# Generous: `up` alone can take several seconds on a loaded 2-core machine.
READY_TIMEOUT_SECONDS = 120
STOP_TIMEOUT_SECONDS = 30
STATS_PATH = stats.PATH
IAM_PATH = "/_local/iam"
# The IAM decisions of each cloud this process stopped (its emulator's, read just before): a test run's figures.
STOPPED_DECISIONS: list[dict[str, Any]] = []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class CloudProcess:
    """One running `tasktrail up` (a child process): its process, state and log, outputs, and clients bound to it."""

    process: subprocess.Popen[bytes]
    state_dir: Path
    log_path: Path
    outputs: dict[str, Any]

    @property
    def api_url(self) -> str:
        return str(self.outputs["apiUrl"])

    @property
    def headers(self) -> dict[str, str]:
        key = self.outputs.get("apiKey")
        return {"x-api-key": key} if key else {}

    def client(self, service: str, pool: int = 10) -> Any:
        """A boto3 client of its own session (safe to use from one thread each) at the cloud's emulator."""
        # The local stack's administrator, when it enforces IAM; any key otherwise.
        key = (self.outputs.get("awsAccessKeyId", "testing"), self.outputs.get("awsSecretAccessKey", "testing"))
        return _client(service, self.outputs["awsEndpoint"], self.outputs["region"], key, pool)

    def stats(self, reset: bool = False) -> dict[str, Any]:
        """The emulator's request counters and the functions' invocations (started with TASKTRAIL_LOCAL_STATS=1);
        `reset` zeroes them after reading."""
        return _stats(self.outputs["awsEndpoint"], reset)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def iam_decisions(self) -> dict[str, Any]:
        """Whether the cloud's emulator enforces IAM, and the calls it has authorised and denied so far."""
        import requests

        response = requests.get(self.outputs["awsEndpoint"] + IAM_PATH, timeout=10)
        response.raise_for_status()
        return dict(response.json())

    def stop(self) -> int:
        """Ctrl-C, as a user would (a kill if it has not exited within STOP_TIMEOUT_SECONDS); the exit code."""
        if self.process.poll() is None:
            try:
                STOPPED_DECISIONS.append(self.iam_decisions())
            except Exception:  # noqa: BLE001 - a figure, never a reason to keep a cloud running
                pass
        return _interrupt(self.process)


Cloud = TypeVar("Cloud", bound=CloudProcess)


def _client(service: str, endpoint: str, region: str, key: tuple[str, str], pool: int) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(  # type: ignore[call-overload]
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=key[0],
        aws_secret_access_key=key[1],
        config=Config(max_pool_connections=pool, retries={"mode": "standard", "max_attempts": 3}),
    )


def _stats(endpoint: str, reset: bool) -> dict[str, Any]:
    import requests

    url = endpoint + STATS_PATH
    response = requests.delete(url, timeout=30) if reset else requests.get(url, timeout=30)
    response.raise_for_status()
    return dict(response.json())


def _interrupt(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return int(process.returncode)


def _end_with_parent() -> None:
    # A driver killed midway must not leave a local cloud behind (Linux; elsewhere stop() ends it).
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def start(
    directory: Path,
    *argv: str,
    env: Mapping[str, str] | None = None,
    kind: type[Cloud] = CloudProcess,  # type: ignore[assignment]
    new_session: bool = False,
) -> Cloud:
    """Start `tasktrail up` on free ports with its state and log in `directory` (extra `up` arguments in
    `argv`, extra environment in `env`) and return once its API answers. It dies with the calling process."""
    state_dir, log_path = directory / "state", directory / "local-up.log"
    directory.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "local", "up", "--port", str(free_port()), "--aws-port", str(free_port())]
    command += ["--state-dir", str(state_dir), *argv]
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own CLI
            command,
            cwd=PROJECT_DIR,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            preexec_fn=_end_with_parent,  # noqa: PLW1509 - it only calls prctl
            # A process group of its own, as a terminal gives a command: a test can then Ctrl-C the whole group.
            start_new_session=new_session,
        )
    outputs_file = state_dir / OUTPUTS_FILE
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while not outputs_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise RuntimeError(f"local cloud did not start:\n{log_path.read_text(errors='replace')[-4000:]}")
        time.sleep(0.2)
    cloud = kind(process, state_dir, log_path, json.loads(outputs_file.read_text()))
    # The outputs are written once the API serves; one request proves it before anyone relies on it.
    import requests

    requests.get(f"{cloud.api_url}/tasks/readiness-probe", headers=cloud.headers, timeout=30)
    return cloud


@dataclass
class EmulatorProcess:
    """One running `tasktrail emulator` (a child process, IAM not enforced): its endpoint, and ways to stop it."""

    process: subprocess.Popen[bytes]
    endpoint: str

    def client(self, service: str, pool: int = 10) -> Any:
        """A boto3 client at the emulator (any key: IAM is not enforced)."""
        return _client(service, self.endpoint, "us-east-1", ("testing", "testing"), pool)

    def stats(self, reset: bool = False) -> dict[str, Any]:
        """The emulator's request counters (TASKTRAIL_LOCAL_STATS=1 in its environment); `reset` zeroes them."""
        return _stats(self.endpoint, reset)

    def stop(self) -> int:
        """Ctrl-C (a kill if it has not exited within STOP_TIMEOUT_SECONDS); the exit code."""
        return _interrupt(self.process)


def start_emulator(env: Mapping[str, str] | None = None) -> EmulatorProcess:
    """Start `tasktrail emulator --no-iam` on a free port (extra environment in `env`) and return once it answers.
    It dies with the calling process."""
    import requests

    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "local", "emulator", "--aws-port", str(port), "--no-iam"],
        cwd=PROJECT_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
        preexec_fn=_end_with_parent,  # noqa: PLW1509 - it only calls prctl
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while True:
        try:
            requests.get(endpoint, timeout=5)
            return EmulatorProcess(process, endpoint)
        except requests.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                process.wait()
                raise RuntimeError("the AWS emulator did not start") from None
            time.sleep(0.2)
